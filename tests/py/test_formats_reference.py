"""Our quantized and ternary layouts, bit for bit against their reference implementations.

1. Q8_0, TQ1_0, TQ2_0 row encoders (tests/tools/format_tool encode) give the bytes of
   gguf.quants.quantize on the same float32 inputs: random normal, ternary values times a scale,
   exact .5 ties after scaling (rounded half away from zero), all-zero blocks, and scales swept
   across the f16 range (subnormal d, overflow to Inf). Our decoders (format_tool decode) give
   the bits of gguf.quants.dequantize, on those encodings and on random block bytes.
2. f16 narrowing, which every block's d goes through, equals numpy's astype(float16) (RNE).
3. Ternary pack_ternary/unpack_ternary (format_tool pack/unpack):
   tq1_0/tq2_0  = gguf.quants.quantize(t * scale) for an f16 scale and blocks that are not all
                  zero, and unpack reads gguf's all-zero blocks (d = 0) too;
   i2_s         = a numpy port of bitnet.cpp's quantize_i2_s (below);
   hf2          = transformers' pack_weights: the fixtures in tests/fixtures/hf2 and, through
                  scripts/make_hf2_fixture.py's port, further random shapes.
4. llama.cpp's types (tensor/kquants.h): Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
   IQ4_NL. The table's ids and block sizes equal gguf-py's GGML_QUANT_SIZES. Every decoder gives
   the bits of gguf.quants.dequantize on random block bytes, with finite f16 scales and with
   scales of random bits (Inf, NaN). Where gguf-py has a quantizer (the legacy four), our
   encoder gives its bytes on awkward rows; where it has none (k-quants, IQ4_NL), gguf-py's
   dequantize of our bytes equals our decode and the error is within a bound per type. Every
   encoder gives llama-quantize's own bytes on tests/fixtures/llamacpp/oracle (made with
   --pure from oracle-f32.gguf; see that folder's README).

usage: test_formats_reference.py FORMAT_TOOL WORKDIR
Prints one line per case and "N passed, N failed" last; exits 1 if any failed.
"""
import glob
import importlib.util
import os
import subprocess
import sys
import warnings

import numpy as np
from harness import report
from gguf import GGMLQuantizationType, GGUFReader, quants
from gguf.constants import GGML_QUANT_SIZES

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
HF2_FIXTURES = os.path.join(REPO, "tests", "fixtures", "hf2")
LLAMACPP_ORACLE = os.path.join(REPO, "tests", "fixtures", "llamacpp", "oracle")

QTYPES = {"q8_0": GGMLQuantizationType.Q8_0, "tq1_0": GGMLQuantizationType.TQ1_0,
          "tq2_0": GGMLQuantizationType.TQ2_0}
BLOCK = {"q8_0": (32, 34), "tq1_0": (256, 54), "tq2_0": (256, 66)}


# llama.cpp's types: gguf-py type, and the byte offsets of each block's f16 scales.
KQ_TYPES = {
    "q4_0": (GGMLQuantizationType.Q4_0, (0,)),
    "q4_1": (GGMLQuantizationType.Q4_1, (0, 2)),
    "q5_0": (GGMLQuantizationType.Q5_0, (0,)),
    "q5_1": (GGMLQuantizationType.Q5_1, (0, 2)),
    "q2_k": (GGMLQuantizationType.Q2_K, (80, 82)),
    "q3_k": (GGMLQuantizationType.Q3_K, (108,)),
    "q4_k": (GGMLQuantizationType.Q4_K, (0, 2)),
    "q5_k": (GGMLQuantizationType.Q5_K, (0, 2)),
    "q6_k": (GGMLQuantizationType.Q6_K, (208,)),
    "iq4_nl": (GGMLQuantizationType.IQ4_NL, (0,)),
}

# decode(encode(x)) error bounds for the types gguf-py cannot encode: RMS error over the block's
# absmax, as tests/test_kquants.c holds them (1.5 x the worst it measured): a wrong fit or a
# wrong layout shows as errors far beyond these.
KQ_RMS_BOUND = {"q2_k": 0.31, "q3_k": 0.17, "q4_k": 0.05, "q5_k": 0.025, "q6_k": 0.013,
                "iq4_nl": 0.08}


class Tool:
    """format_tool through files in WORKDIR."""

    def __init__(self, exe, work):
        self.exe, self.work = exe, work
        self.count = 0

    def _path(self, what):
        self.count += 1
        return os.path.join(self.work, f"{self.count:04d}_{what}")

    def _run(self, *args):
        out = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"format_tool {' '.join(map(str, args))}: {out.stderr.strip()}")

    def encode(self, dtype, x):
        src, dst = self._path("in.f32"), self._path("out.bin")
        x.astype(np.float32).tofile(src)
        self._run("encode", dtype, x.size, src, dst)
        return np.fromfile(dst, dtype=np.uint8)

    def decode(self, dtype, n, data):
        src, dst = self._path("in.bin"), self._path("out.f32")
        data.tofile(src)
        self._run("decode", dtype, n, src, dst)
        return np.fromfile(dst, dtype=np.float32)

    def pack(self, dtype, t, scale):
        src, dst = self._path("in.i8"), self._path("out.bin")
        t.astype(np.int8).tofile(src)
        self._run("pack", dtype, t.shape[0], t.shape[1], float(np.float32(scale)).hex(), src, dst)
        return np.fromfile(dst, dtype=np.uint8)

    def types(self):
        out = subprocess.run([self.exe, "types"], capture_output=True, text=True, check=True)
        rows = {}
        for line in out.stdout.splitlines():
            name, gguf_id, block, size, enc, dec = line.split()
            rows[name] = (int(gguf_id), int(block), int(size), enc == "1", dec == "1")
        return rows

    def unpack(self, dtype, shape, data):
        src, dst = self._path("in.bin"), self._path("out.i8")
        data.tofile(src)
        self._run("unpack", dtype, shape[0], shape[1], src, dst)
        raw = np.fromfile(dst, dtype=np.uint8)
        n = shape[0] * shape[1]
        return raw[:n].view(np.int8).reshape(shape), raw[n:].view(np.float32)[0]


def quiet(fn, *args):
    """gguf-py divides by zero and overflows f16 on purpose; numpy would warn about it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


def first_diff(got, want, what):
    got, want = np.asarray(got).ravel(), np.asarray(want).ravel()
    if got.size != want.size:
        return [f"{what}: {got.size} elements, want {want.size}"]
    bad = np.flatnonzero(got != want)
    if bad.size == 0:
        return []
    i = bad[0]
    return [f"{what}: {bad.size} of {got.size} differ, first at {i}: got {got[i]} want {want[i]}"]


def same_floats(got, want, what):
    """Bit-equal, except that any NaN matches any NaN (0 * Inf makes them; payloads may vary)."""
    g, w = got.view(np.uint32), want.astype(np.float32).view(np.uint32)
    both_nan = np.isnan(got) & np.isnan(want)
    return first_diff(np.where(both_nan, 0, g), np.where(both_nan, 0, w), what)


# ---------------------------------------------------------------------------------------------
# Row encoders and decoders against gguf-py
# ---------------------------------------------------------------------------------------------

def encoder_inputs(dtype, rng):
    """Named float32 inputs, each a whole number of blocks."""
    qk = BLOCK[dtype][0]
    n = qk * 64
    cases = {"random normal": rng.standard_normal(n) * 3}

    t = rng.integers(-1, 2, n)
    for scale in (1.0, 0.1, 1 / 3, 2.5e-3, 700.0):
        cases[f"ternary x {scale:g}"] = t * np.float32(scale)

    # Ties: scaled values that land exactly on k + 0.5, where half-away and half-even differ.
    # Powers of two keep d, 1/d and x * (1/d) exact.
    ties = np.zeros((64, qk))
    for b in range(64):
        p = 2.0 ** int(rng.integers(-8, 8))
        if dtype == "q8_0":  # absmax 127p: d = p, id = 1/p, x * id = k + 0.5
            ties[b] = (rng.integers(-127, 127, qk) + 0.5) * p
            ties[b, 0] = 127 * p
        else:                # absmax 2p: id = 1/(2p), so +-p -> +-0.5 and +-2p -> +-1
            ties[b] = rng.choice([-2, -1, -0.5, 0, 0.5, 1, 2], qk) * p
            ties[b, 0] = 2 * p
    cases["exact .5 ties"] = ties.ravel()

    z = rng.standard_normal((64, qk))
    z[::3] = 0.0
    z[1::3, : qk // 2] = -0.0
    z[1::3, qk // 2:] = 0.0
    cases["all-zero blocks (+0 and -0)"] = z.ravel()

    sweep = rng.standard_normal((64, qk)) * np.exp2(np.arange(-40, 24)[:, None].astype(np.float64))
    cases["scales 2^-40..2^23 (f16 subnormal d, Inf d)"] = sweep.ravel()
    return {k: np.asarray(v, dtype=np.float32) for k, v in cases.items()}


def random_blocks(dtype, rng, n_blocks):
    """Random block bytes with a finite d (any sign, subnormals included)."""
    qk, size = BLOCK[dtype]
    raw = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    d = rng.standard_normal(n_blocks) * np.exp2(rng.integers(-24, 15, n_blocks).astype(float))
    d = quiet(lambda v: v.astype(np.float16), d)
    d[~np.isfinite(d)] = 1.0
    at = 0 if dtype == "q8_0" else size - 2
    raw[:, at:at + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    return raw.ravel(), n_blocks * qk


def gguf_can_quantize(qtype):
    try:
        quiet(quants.quantize, np.zeros((1, GGML_QUANT_SIZES[qtype][0]), np.float32), qtype)
        return True
    except NotImplementedError:
        return False


def kq_random_blocks(dtype, rng, n_blocks, finite):
    """Random block bytes; with finite, every f16 scale is finite (any sign, subnormals)."""
    qtype, scale_at = KQ_TYPES[dtype]
    qk, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    if finite:
        for at in scale_at:
            d = rng.standard_normal(n_blocks) * np.exp2(rng.integers(-24, 12, n_blocks).astype(float))
            d = quiet(lambda v: v.astype(np.float16), d)
            d[~np.isfinite(d)] = 1.0
            raw[:, at:at + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    else:  # make sure Inf and NaN scales occur, not just whatever the random bits give
        raw[::7, scale_at[0]:scale_at[0] + 2] = np.frombuffer(np.float16(np.inf).tobytes(), np.uint8)
        raw[3::7, scale_at[-1]:scale_at[-1] + 2] = np.frombuffer(np.float16(np.nan).tobytes(), np.uint8)
    return raw.ravel(), n_blocks * qk


def kq_encoder_inputs(dtype, rng):
    """Awkward float32 rows of 64 blocks. For q4_1/q5_1 the zero blocks hold one sign of zero
    only: numpy's vectorized min/max pick either zero of a block mixing +0.0 and -0.0, where
    ggml (and we) take the first."""
    qtype = KQ_TYPES[dtype][0]
    qk = GGML_QUANT_SIZES[qtype][0]
    n = qk * 64
    cases = {"random normal": rng.standard_normal(n) * 3,
             "uniform": rng.uniform(-1, 1, n),
             "all negative": -np.abs(rng.standard_normal(n)),
             "outliers": np.where(rng.random(n) < 0.02, 100.0, 1e-3) * rng.standard_normal(n)}
    t = rng.integers(-1, 2, n)
    for scale in (1.0, 1 / 3, 700.0):
        cases[f"ternary x {scale:g}"] = t * np.float32(scale)
    z = rng.standard_normal((64, qk))
    z[::3] = 0.0
    z[1::3] = -0.0
    if dtype in ("q4_0", "q5_0"):
        z[1::3, qk // 2:] = 0.0
    cases["all-zero blocks"] = z.ravel()
    sweep = rng.standard_normal((64, qk)) * np.exp2(np.arange(-40, 24)[:, None].astype(np.float64))
    cases["scales 2^-40..2^23"] = sweep.ravel()
    return {k: np.asarray(v, dtype=np.float32) for k, v in cases.items()}


def rms_over_absmax(x, y, qk):
    """Worst per-block RMS error over the block's absmax (blocks whose absmax is 0 skipped)."""
    xb, yb = x.reshape(-1, qk).astype(np.float64), y.reshape(-1, qk).astype(np.float64)
    amax = np.abs(xb).max(axis=1)
    rms = np.sqrt(((yb - xb) ** 2).mean(axis=1))
    keep = amax > 0
    return float((rms[keep] / amax[keep]).max()) if keep.any() else 0.0


def check_kq_table(tool):
    errs = []
    ours = tool.types()
    for name, (gguf_id, block, size, enc, dec) in ours.items():
        if gguf_id in (36, 37, 38):  # bitnet.cpp's fork ids, unknown to gguf-py
            continue
        try:
            qtype = GGMLQuantizationType(gguf_id)
        except ValueError:
            errs.append(f"{name}: GGUF id {gguf_id} is not a gguf-py type")
            continue
        if GGML_QUANT_SIZES[qtype] != (block, size):
            errs.append(f"{name}: block {block} x {size} bytes, gguf-py {qtype.name} has "
                        f"{GGML_QUANT_SIZES[qtype]}")
        if qtype.name.lower() != name:
            errs.append(f"{name}: GGUF id {gguf_id} is gguf-py's {qtype.name}")
    for name in KQ_TYPES:
        if name not in ours or not (ours[name][3] and ours[name][4]):
            errs.append(f"{name}: not in the table with an encoder and a decoder")
    return [("dtype table = gguf-py GGML_QUANT_SIZES (ids, block sizes and bytes)", errs)]


def check_kq_formats(tool, rng):
    results = []
    for dtype, (qtype, _) in KQ_TYPES.items():
        qk = GGML_QUANT_SIZES[qtype][0]
        for finite in (True, False):
            data, n = kq_random_blocks(dtype, rng, 256, finite)
            ref = quiet(quants.dequantize, data.reshape(1, -1), qtype).ravel()
            what = "finite f16 scales" if finite else "scales of random bits, Inf, NaN"
            results.append((f"{dtype} decode: random block bytes, {what}",
                            same_floats(tool.decode(dtype, n, data), ref, "dequantized")))
        oracle = gguf_can_quantize(qtype)
        for name, x in kq_encoder_inputs(dtype, rng).items():
            got = tool.encode(dtype, x)
            dec = tool.decode(dtype, x.size, got)
            errs = same_floats(dec, quiet(quants.dequantize, got.reshape(1, -1), qtype).ravel(),
                               "our decode vs gguf-py's of our bytes")
            if oracle:
                want = quiet(quants.quantize, x.reshape(-1, qk * 4), qtype).view(np.uint8).ravel()
                errs += first_diff(got, want, "bytes vs gguf-py quantize")
                results.append((f"{dtype} encode = gguf-py quantize: {name}", errs))
            else:
                if name != "scales 2^-40..2^23":  # f16 over- and underflow: no error bound
                    worst = rms_over_absmax(x, dec, qk)
                    if not worst <= KQ_RMS_BOUND[dtype]:
                        errs.append(f"RMS error {worst:.4g} of the block absmax > "
                                    f"{KQ_RMS_BOUND[dtype]}")
                results.append((f"{dtype} encode (no gguf-py encoder): {name}: decode = gguf-py, "
                                f"error bound", errs))
    return results


def check_llamacpp_oracle(tool, rng):
    """Our encoders against llama-quantize's bytes for the same float32 tensors."""
    del rng
    src_path = os.path.join(LLAMACPP_ORACLE, "oracle-f32.gguf")
    if not os.path.exists(src_path):
        return [("llama.cpp encoder oracle", [f"{src_path} is missing"])]
    inputs = {t.name: np.array(t.data, dtype=np.float32) for t in GGUFReader(src_path).tensors}
    results = []
    for dtype, (qtype, _) in KQ_TYPES.items():
        path = os.path.join(LLAMACPP_ORACLE, f"oracle-{dtype}.gguf")
        if not os.path.exists(path):
            results.append((f"{dtype} = llama-quantize", [f"{path} is missing"]))
            continue
        size = GGML_QUANT_SIZES[qtype][1]
        for t in GGUFReader(path).tensors:
            errs = []
            if t.tensor_type != qtype:
                errs.append(f"{t.name} is {t.tensor_type.name}, want {qtype.name}")
            want = np.array(t.data).view(np.uint8).ravel()
            got = tool.encode(dtype, inputs[t.name].ravel())
            if got.size != want.size:
                errs.append(f"{got.size} bytes, llama-quantize wrote {want.size}")
            else:
                bad = np.flatnonzero(np.any(got.reshape(-1, size) != want.reshape(-1, size), axis=1))
                if bad.size:
                    errs.append(f"{bad.size} of {want.size // size} blocks differ, first {bad[0]}")
            results.append((f"{dtype} encode = llama-quantize --pure: {t.name} "
                            f"{list(inputs[t.name].shape)}", errs))
    return results


def check_encoders(tool, rng):
    results = []
    for dtype, qtype in QTYPES.items():
        for name, x in encoder_inputs(dtype, rng).items():
            want = quiet(quants.quantize, x.reshape(-1, BLOCK[dtype][0] * 4), qtype)
            want = want.view(np.uint8).ravel()
            errs = first_diff(tool.encode(dtype, x), want, "bytes")
            ref = quiet(quants.dequantize, want.reshape(1, -1), qtype).ravel()
            errs += same_floats(tool.decode(dtype, x.size, want), ref, "dequantized")
            results.append((f"{dtype} encode/decode: {name}", errs))
        data, n = random_blocks(dtype, rng, 64)
        ref = quiet(quants.dequantize, data.reshape(1, -1), qtype).ravel()
        results.append((f"{dtype} decode: random block bytes",
                        same_floats(tool.decode(dtype, n, data), ref, "dequantized")))
    return results


def check_f16(tool, rng):
    """Random float32 bit patterns (every exponent, subnormals, overflow), NaN excluded."""
    bits = rng.integers(0, 2**32, 1 << 16, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    x = np.concatenate([x, np.float32([65504, 65519.996, 65520, 2.0**-25, 2.0**-24 * 1.5,
                                       2.0**-14 - 2.0**-25, -0.0])]).astype(np.float32)
    got = tool.encode("f16", x).view(np.uint16)
    want = quiet(lambda v: v.astype(np.float16), x).view(np.uint16)
    return [("f16 narrowing = numpy astype(float16)", first_diff(got, want, "f16 bits"))]


# ---------------------------------------------------------------------------------------------
# Ternary packings
# ---------------------------------------------------------------------------------------------

def quantize_i2_s(src):
    """numpy port of bitnet.cpp's quantize_i2_s (src/ggml-bitnet-mad.cpp, first version): the
    absmax in double is the scale; codes 1 for |x| < 1e-6, else 2 if x * scale > 0, else 0;
    value j of each group of 128 goes to byte j % 32 at bits 6 - 2 * (j // 32); the scale as
    float32 at byte n/4; 32 bytes after the codes (the rest left as allocated: zeros)."""
    x = src.astype(np.float32).ravel().astype(np.float64)
    n = x.size
    i2_scale = np.max(np.abs(x), initial=0.0)
    q8 = np.where(np.abs(x) < 1e-6, 1, np.where(x * i2_scale > 0, 2, 0)).astype(np.uint8)
    groups = q8.reshape(-1, 4, 32)
    packed = (groups[:, 0] << 6) | (groups[:, 1] << 4) | (groups[:, 2] << 2) | groups[:, 3]
    out = np.zeros(n // 4 + 32, dtype=np.uint8)
    out[: n // 4] = packed.ravel()
    out[n // 4: n // 4 + 4] = np.frombuffer(np.float32(i2_scale).tobytes(), dtype=np.uint8)
    return out


def load_pack_weights():
    spec = importlib.util.spec_from_file_location(
        "make_hf2_fixture", os.path.join(REPO, "scripts", "make_hf2_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pack_weights


def ternary_with_nonzero_blocks(rng, shape, p_zero=0.4):
    t = np.where(rng.random(shape) < p_zero, 0, rng.choice([-1, 1], shape)).astype(np.int8)
    t.reshape(-1, 128)[:, 5] = 1  # every 128 values (so every tq block) hold a nonzero
    return t


def check_unpack(tool, dtype, data, t, scale, what):
    got_t, got_scale = tool.unpack(dtype, t.shape, data)
    errs = first_diff(got_t, t, f"{what}: unpacked t")
    ok = np.isnan(got_scale) if np.isnan(scale) else got_scale == np.float32(scale)
    if not ok:
        errs.append(f"{what}: unpacked scale {got_scale!r}, want {scale!r}")
    return errs


def check_tq_pack(tool, rng):
    results = []
    for dtype in ("tq1_0", "tq2_0"):
        for shape in ((8, 512), (12, 768), (4, 256)):
            t = ternary_with_nonzero_blocks(rng, shape)
            scale = np.float32(np.float16(rng.uniform(1e-3, 10)))  # f16-exact
            want = quiet(quants.quantize, t.astype(np.float32) * scale, QTYPES[dtype])
            want = want.view(np.uint8).ravel()
            got = tool.pack(dtype, t, scale)
            errs = first_diff(got, want, "bytes")
            errs += check_unpack(tool, dtype, want, t, scale, "gguf's bytes")
            results.append((f"{dtype} pack {list(shape)} = gguf quantize(t * scale)", errs))
        # gguf gives all-zero blocks d = 0; they do not count as a different scale
        t = ternary_with_nonzero_blocks(rng, (8, 512))
        t[2] = 0
        t[5, :256] = 0
        want = quiet(quants.quantize, t.astype(np.float32) * np.float32(0.5), QTYPES[dtype])
        errs = check_unpack(tool, dtype, want.view(np.uint8).ravel(), t, 0.5, "gguf's bytes")
        results.append((f"{dtype} unpack of gguf bytes with all-zero blocks (d = 0)", errs))
    return results


def check_i2_s_pack(tool, rng):
    results = []
    for shape in ((8, 256), (3, 128), (2, 64), (100, 384), (1, 1152)):
        t = ternary_with_nonzero_blocks(rng, shape, p_zero=0.3)
        scale = np.float32(rng.uniform(1e-3, 10))  # any float32: i2_s keeps it exactly
        want = quantize_i2_s(t.astype(np.float32) * scale)
        errs = first_diff(tool.pack("i2_s", t, scale), want, "bytes")
        errs += check_unpack(tool, "i2_s", want, t, scale, "reference bytes")
        results.append((f"i2_s pack {list(shape)} = quantize_i2_s(t * scale)", errs))
    t = np.zeros((4, 64), dtype=np.int8)
    want = quantize_i2_s(t.astype(np.float32))  # scale 0: the absmax of nothing
    errs = first_diff(tool.pack("i2_s", t, 0.0), want, "bytes")
    results.append(("i2_s pack of zeros, scale 0 = quantize_i2_s", errs))
    return results


def check_hf2_pack(tool, rng):
    results = []
    weights = sorted(glob.glob(os.path.join(HF2_FIXTURES, "*_weight.npy")))
    if not weights:
        return [("hf2 fixtures", [f"no *_weight.npy in {HF2_FIXTURES}"])]
    for path in weights:
        name = os.path.basename(path)[: -len("_weight.npy")]
        t = np.load(path)
        want = np.load(os.path.join(HF2_FIXTURES, f"{name}_packed.npy"))
        errs = first_diff(tool.pack("hf2", t, 1.0), want, "bytes")
        errs += check_unpack(tool, "hf2", want, t, np.nan, "fixture")
        results.append((f"hf2 pack = fixture {name} {list(t.shape)}", errs))
    pack_weights = load_pack_weights()
    for shape in ((4, 1), (100, 3), (64, 33), (640, 16)):
        t = rng.integers(-1, 2, shape).astype(np.int8)
        want = pack_weights(t)
        errs = first_diff(tool.pack("hf2", t, 1.0), want, "bytes")
        errs += check_unpack(tool, "hf2", want.ravel(), t, np.nan, "pack_weights bytes")
        results.append((f"hf2 pack {list(shape)} = pack_weights port", errs))
    return results


def main():
    tool_path, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tool = Tool(tool_path, work)
    rng = np.random.default_rng(1234)
    results = []
    results += check_kq_table(tool)
    for check in (check_encoders, check_f16, check_tq_pack, check_i2_s_pack, check_hf2_pack,
                  check_kq_formats, check_llamacpp_oracle):
        try:
            results += check(tool, rng)
        except RuntimeError as e:  # the tool refused: report it as this check's failure
            results.append((check.__name__, [str(e)]))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
