"""The quantizers in src/quant against an independent numpy reference, exactly.

Each case writes a float32 input, runs tests/tools/quant_tool on it and compares every output
with numpy: codes equal, scales, zero points and dequantized values equal bit for bit, row sums
equal; the error metrics agree within 1e-9 relative.

The reference follows each spec's own arithmetic. Where the spec is float32 (absmean ternary as
transformers' WeightQuant, int8 activations as ActQuant) every step is mirrored in float32:
    gamma = float32(mean of float64 |w|), clamped to float32(1e-5)
    inv   = float32(1) / gamma,  q = clip(round(float32(w * inv)), -1, 1)
    s     = float32(127) / max(max|x|, float32(1e-5)),  q = clip(round(float32(x * s)), -128, 127)
Where the spec is mathematical (TWN, k-bit) it is float64, with scales rounded to float32 once.
np.round rounds half to even, like torch.round. Means use math.fsum, the correctly rounded sum,
which the C float64 accumulator matches after rounding to float32 (see src/quant/ternary.h).

Inputs are random normals of awkward shapes plus crafted tensors: rows whose mean |w| is a power
of two, so that w * inv lands exactly on 0.5, 1.5 and 2.5; zero rows; all-equal rows; a row with a
single nonzero; a pair where multiplying by the reciprocal and dividing round differently.

usage: test_quant_reference.py QUANT_TOOL WORKDIR
"""
import json
import math
import os
import subprocess
import sys

import numpy as np

F32 = np.float32
F64 = np.float64


# ---- reference quantizers --------------------------------------------------------------------

def mean_abs(g):
    return math.fsum(np.abs(g.astype(F64)).tolist()) / g.size if g.size else 0.0


def ref_ternary(w, method, gran, group):
    rows, cols = w.shape
    if gran == "tensor":
        groups = w.reshape(1, -1)
    elif gran == "channel":
        groups = w.reshape(rows, cols)
    else:
        groups = w.reshape(-1, group) if w.size else np.zeros((0, group), F32)
    q = np.zeros(groups.shape, np.int64)
    scales = np.zeros(groups.shape[0], F32)
    for i, g in enumerate(groups):
        if method == "absmean":
            gamma = max(F32(mean_abs(g)), F32(1e-5))
            inv = F32(1) / gamma
            v = (g * inv).astype(F32)
            assert v.dtype == F32
            q[i] = np.clip(np.round(v), -1, 1)
            scales[i] = gamma
        else:
            a = np.abs(g.astype(F64))
            delta = 0.7 * mean_abs(g)
            keep = a > delta
            q[i] = np.where(keep, np.sign(g), 0)
            scales[i] = F32(math.fsum(a[keep].tolist()) / keep.sum()) if keep.any() else F32(1e-5)
    deq = (q.astype(F32) * scales[:, None]).astype(F32)
    return q.reshape(-1).astype(np.int8), scales, deq.reshape(-1)


def ref_act(x):
    rows, cols = x.shape
    q = np.zeros((rows, cols), np.int64)
    scales = np.zeros(rows, F32)
    for r in range(rows):
        amax = np.max(np.abs(x[r])) if cols else F32(0)
        s = F32(127) / np.maximum(F32(amax), F32(1e-5))
        v = (x[r] * s).astype(F32)
        assert s.dtype == F32 and v.dtype == F32
        q[r] = np.clip(np.round(v), -128, 127)
        scales[r] = s
    return q.reshape(-1).astype(np.int8), scales, q.sum(axis=1).astype(np.int32)


def ref_kbit(x, bits, asym, group):
    groups = x.reshape(-1, group).astype(F64)
    codes = np.zeros(groups.shape, np.int64)
    scales = np.zeros(groups.shape[0], F32)
    zeros = np.zeros(groups.shape[0], F32)
    for i, g in enumerate(groups):
        if not asym:
            qmax = 2 ** (bits - 1) - 1
            s = F32(np.max(np.abs(g)) / qmax)
            if s != 0:
                codes[i] = np.clip(np.round(g / F64(s)), -qmax - 1, qmax)
        else:
            levels = 2 ** bits - 1
            lo, hi = min(np.min(g), 0.0), max(np.max(g), 0.0)
            s = F32((hi - lo) / levels)
            if s != 0:
                z = np.clip(np.round(-lo / F64(s)), 0, levels)
                codes[i] = np.clip(np.round(g / F64(s)) + z, 0, levels)
                zeros[i] = F32(z)
        scales[i] = s
    if asym:
        deq = ((codes.astype(F32) - zeros[:, None]) * scales[:, None]).astype(F32)
        stored = codes.astype(np.uint8)
    else:
        deq = (codes.astype(F32) * scales[:, None]).astype(F32)
        stored = codes.astype(np.int8).view(np.uint8)
    return stored.reshape(-1), scales, zeros, deq.reshape(-1)


def ref_metrics(ref, approx, bpw):
    r, a = ref.astype(F64), approx.astype(F64)
    e = r - a
    n = r.size
    se, sr, sa = float(np.sum(e * e)), float(np.sum(r * r)), float(np.sum(a * a))
    if se == 0:
        sqnr = math.inf
    elif sr == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(sr / se)
    if sr == 0 and sa == 0:
        cos = 1.0
    elif sr == 0 or sa == 0:
        cos = 0.0
    else:
        cos = float(np.sum(r * a)) / (math.sqrt(sr) * math.sqrt(sa))
    mse = se / n if n else 0.0
    return {"n": n, "mse": mse, "rmse": math.sqrt(mse), "sqnr_db": sqnr, "cosine": cos,
            "max_abs_err": float(np.max(np.abs(e))) if n else 0.0,
            "frac_zero": float(np.sum(a == 0)) / n if n else 0.0,
            "n_neg": int(np.sum(a < 0)), "n_zero": int(np.sum(a == 0)), "n_pos": int(np.sum(a > 0)),
            "bits_per_weight": bpw}


# ---- inputs -----------------------------------------------------------------------------------

# Eight values with mean |v| = 1 exactly: scaled by 2^k, w * (1 / gamma) hits 0.5, 1.5 and 2.5.
TIE_UNIT = np.array([0.5, -1.5, 2.5, 0.0, -0.5, 1.5, 0.0, 1.5], F32)


def tie_row(rng, cols, factor):
    """cols values (a multiple of 32), every 32-block a shuffle of TIE_UNIT x 4, times factor."""
    blocks = [rng.permutation(np.tile(TIE_UNIT, 4)) for _ in range(cols // 32)]
    return (np.concatenate(blocks) * F32(factor)).astype(F32)


def crafted_weights(rng):
    """Rows of ties at several power-of-two scales, zeros, all-equal and single-nonzero rows."""
    cols = 256
    rows = [tie_row(rng, cols, f) for f in (1.0, 0.5, 0.25, 2.0, 4.0, 0.0078125)]
    rows.append(np.zeros(cols, F32))
    rows.append(np.full(cols, F32(0.3)))
    rows.append(np.full(cols, F32(-7.0)))
    single = np.zeros(cols, F32)
    single[77] = F32(-5.0)
    rows.append(single)
    return np.stack(rows)


def crafted_activations(cols):
    """Rows where x * s is exactly a tie, the clamp floor applies, or the row is degenerate."""
    ties = np.zeros(cols, F32)
    ties[:10] = [127, 0.5, 1.5, 2.5, -0.5, -2.5, -127, 3.5, -3.5, 126.5]  # s = 1
    half = np.zeros(cols, F32)
    half[:4] = [-2, 1, 0.5, -1]  # s = 63.5: 1 -> 63.5 -> 64, 0.5 -> 31.75
    tiny = np.zeros(cols, F32)
    tiny[:3] = [1e-6, -3e-6, 9.99e-6]  # below the 1e-5 clamp
    single = np.zeros(cols, F32)
    single[cols // 2] = F32(-0.125)
    return np.stack([ties, half, tiny, single, np.zeros(cols, F32), np.full(cols, F32(-0.3))])


def crafted_kbit(group):
    """Groups with exact ties (s = 1), one-signed groups, an all-zero and an all-equal group."""
    def pad(vals):
        g = np.zeros(group, F32)
        g[:len(vals)] = vals
        return g
    return np.concatenate([
        pad([7, 0.5, 1.5, -2.5, 3.5, -6.5]),    # 4-bit sym: s = 1
        pad([127, -63.5, 0.5, 1.5, 2.5]),       # 8-bit sym: s = 1
        pad([-1.5, 1.5, 0.5, -0.5]),            # 2-bit asym: s = 1, z = 2
        pad([-3, -1.5, -0.5]),                  # all <= 0
        np.linspace(10, 12, group).astype(F32),  # all > 0
        np.zeros(group, F32),
        np.full(group, F32(5.0)),
    ])


# ---- running the tool ------------------------------------------------------------------------

class Runner:
    def __init__(self, tool, work):
        self.tool, self.work, self.count = tool, work, 0

    def path(self, stem):
        self.count += 1
        return os.path.join(self.work, f"{self.count:03d}_{stem}")

    def run(self, args):
        out = subprocess.run([self.tool] + [str(a) for a in args], capture_output=True, text=True)
        return out.returncode, out.stdout, out.stderr

    def quantize(self, kind, args, x):
        inp, outp = self.path("in.f32"), self.path("out.bin")
        x.astype("<f4").tofile(inp)
        rc, _, err = self.run([kind] + args + [inp, outp])
        if rc != 0:
            raise RuntimeError(f"quant_tool {kind} {' '.join(map(str, args))} failed: {err.strip()}")
        return open(outp, "rb").read()


def split(blob, layout):
    """Cut blob into arrays of (dtype, count); the whole blob must be used."""
    parts, off = [], 0
    for dt, count in layout:
        size = np.dtype(dt).itemsize * count
        parts.append(np.frombuffer(blob[off:off + size], dtype=dt))
        off += size
    if off != len(blob):
        raise RuntimeError(f"output is {len(blob)} bytes, expected {off}")
    return parts


def diff(name, got, want):
    """'' if equal bit for bit, else a description of the first mismatch."""
    if got.dtype.kind == "f":
        g, w = got.view(np.uint32), want.astype(F32).view(np.uint32)
    else:
        g, w = got, want
    if g.shape != w.shape:
        return f"{name}: shape {g.shape} want {w.shape}"
    bad = np.nonzero(g != w)[0]
    if bad.size == 0:
        return ""
    i = bad[0]
    return f"{name}: {bad.size} differ, first [{i}] got {got[i]!r} want {want[i]!r}"


def check_ternary(runner, w, method, gran):
    rows, cols = w.shape
    group = int(gran.split(":")[1]) if gran.startswith("group:") else 0
    q, s, d = ref_ternary(w, method, gran.split(":")[0], group)
    blob = runner.quantize("ternary", [method, gran, rows, cols], w)
    gq, gs, gd = split(blob, [(np.int8, q.size), ("<f4", s.size), ("<f4", d.size)])
    return [e for e in (diff("codes", gq, q), diff("scales", gs, s), diff("dequantized", gd, d)) if e]


def check_act(runner, x):
    q, s, sums = ref_act(x)
    blob = runner.quantize("act", list(x.shape), x)
    gq, gs, gsum = split(blob, [(np.int8, q.size), ("<f4", s.size), ("<i4", sums.size)])
    return [e for e in (diff("codes", gq, q), diff("scales", gs, s), diff("row sums", gsum, sums))
            if e]


def check_kbit(runner, x, bits, asym, group):
    c, s, z, d = ref_kbit(x, bits, asym, group)
    blob = runner.quantize("kbit", [bits, "asym" if asym else "sym", group, x.size], x)
    layout = [(np.uint8, c.size), ("<f4", s.size)] + ([("<f4", z.size)] if asym else []) + \
             [("<f4", d.size)]
    parts = split(blob, layout)
    errs = [diff("codes", parts[0], c), diff("scales", parts[1], s), diff("dequantized", parts[-1], d)]
    if asym:
        errs.append(diff("zeros", parts[2], z))
    return [e for e in errs if e]


def check_metrics(runner, ref, approx, bpw):
    a, b = runner.path("ref.f32"), runner.path("approx.f32")
    ref.astype("<f4").tofile(a)
    approx.astype("<f4").tofile(b)
    rc, out, err = runner.run(["metrics", ref.size, a, b, repr(bpw)])
    if rc != 0:
        return [f"quant_tool metrics failed: {err.strip()}"]
    got, want = json.loads(out), ref_metrics(ref, approx, bpw)
    errs = []
    for k, w in want.items():
        g = got.get(k)
        if isinstance(w, int):
            ok = g == w
        elif math.isinf(w) or math.isnan(w):
            ok = g == w or (math.isnan(w) and math.isnan(g))
        else:
            # float64 sums in a different order: agreement to 1e-9 relative (absolute near 0).
            ok = g is not None and abs(g - w) <= 1e-9 * max(abs(w), 1e-300) + 1e-300
        if not ok:
            errs.append(f"{k}: got {g!r} want {w!r}")
    return errs


def check_error(runner, args, x, want_in_message):
    inp, outp = runner.path("in.f32"), runner.path("out.bin")
    x.astype("<f4").tofile(inp)
    rc, _, err = runner.run(args + [inp, outp])
    if rc != 1 or want_in_message not in err:
        return [f"rc {rc}, stderr {err.strip()!r}; want rc 1 and {want_in_message!r}"]
    return []


# ---- the cases --------------------------------------------------------------------------------

def cases(rng, runner):
    """Yields (name, thunk) pairs; each thunk returns a list of error strings."""
    weights = {
        "normal 7x33": rng.standard_normal((7, 33)).astype(F32),
        "normal*0.02 5x256": (rng.standard_normal((5, 256)) * 0.02).astype(F32),
        "crafted 10x256": crafted_weights(rng),
        "ties only 4x256 (per-tensor ties)": np.stack([tie_row(rng, 256, 0.25) for _ in range(4)]),
        "zeros 3x64": np.zeros((3, 64), F32),
        "reciprocal tie 1x2": np.array([[float.fromhex("0x1.a47bdp-3"),
                                         float.fromhex("0x1.3b5cdap-1")]], F32),
        "1x1": np.array([[-0.7]], F32),
        "empty 3x0": np.zeros((3, 0), F32),
    }
    for wname, w in weights.items():
        grans = ["tensor", "channel"] + [f"group:{g}" for g in (32, 64, 128, 256)
                                         if w.shape[1] % g == 0]
        for method in ("absmean", "twn"):
            for gran in grans:
                yield (f"ternary {method} {gran} {wname}",
                       lambda w=w, m=method, g=gran: check_ternary(runner, w, m, g))

    acts = {
        "normal 7x33": rng.standard_normal((7, 33)).astype(F32),
        "normal*40 5x256": (rng.standard_normal((5, 256)) * 40).astype(F32),
        "crafted 6x40": crafted_activations(40),
        "empty 2x0": np.zeros((2, 0), F32),
    }
    for aname, x in acts.items():
        yield f"act {aname}", lambda x=x: check_act(runner, x)

    xs = {
        "normal n=1024": rng.standard_normal(1024).astype(F32),
        "uniform+3 n=768": (rng.uniform(-1, 1, 768) + 3).astype(F32),
    }
    for bits in (2, 4, 8):
        for asym in (False, True):
            mode = "asym" if asym else "sym"
            for xname, x in xs.items():
                for group in (1, 32, 64, 256):
                    if x.size % group == 0:
                        yield (f"kbit {bits} {mode} G{group} {xname}",
                               lambda x=x, b=bits, a=asym, g=group: check_kbit(runner, x, b, a, g))
            for group in (8, 32):
                x = crafted_kbit(group)
                yield (f"kbit {bits} {mode} G{group} crafted",
                       lambda x=x, b=bits, a=asym, g=group: check_kbit(runner, x, b, a, g))

    w = (rng.standard_normal(4096) * 0.02).astype(F32)
    _, s, d = ref_ternary(w.reshape(16, 256), "absmean", "channel", 0)
    metric_pairs = {
        "ternary deq vs normal": (w, d, 1.58),
        "identical": (w, w.copy(), 32.0),
        "noisy": (w, (w + rng.standard_normal(4096).astype(F32) * 1e-3).astype(F32), 8.0),
        "zero signal": (np.zeros(5, F32), np.array([0, 1, 0, -2, 0], F32), 2.0),
        "both zero": (np.zeros(5, F32), np.zeros(5, F32), 2.0),
        "empty": (np.zeros(0, F32), np.zeros(0, F32), 4.5),
    }
    for mname, (r, a, bpw) in metric_pairs.items():
        yield f"metrics {mname}", lambda r=r, a=a, b=bpw: check_metrics(runner, r, a, b)

    nan = np.zeros((2, 64), F32)
    nan[1, 3] = np.nan
    yield ("error: NaN weight",
           lambda: check_error(runner, ["ternary", "absmean", "tensor", 2, 64], nan, "w[67]"))
    yield ("error: group does not divide cols",
           lambda: check_error(runner, ["ternary", "twn", "group:64", 2, 96],
                               np.zeros((2, 96), F32), "group_size 64"))
    yield ("error: bits 3",
           lambda: check_error(runner, ["kbit", 3, "sym", 32, 64], np.zeros(64, F32), "bits 3"))
    yield ("error: Inf in kbit input",
           lambda: check_error(runner, ["kbit", 4, "asym", 32, 64],
                               np.where(np.arange(64) == 9, np.inf, 0).astype(F32), "x[9]"))


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    runner = Runner(tool, work)
    rng = np.random.default_rng(1234)
    passed = failed = 0
    for name, thunk in cases(rng, runner):
        try:
            errs = thunk()
        except RuntimeError as e:
            errs = [str(e)]
        if errs:
            failed += 1
            print("FAIL " + name)
            for e in errs:
                print("     " + e)
        else:
            passed += 1
            print("ok   " + name)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
