"""The Python package against the library and the CLI: identical logits, batches, generation,
OpenAI-shaped completions, perplexity, files, and errors that name the problem."""

import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import bitnet

PROMPT = "It was a fine morning, and"


def run_cli(cli, *args) -> bytes:
    return subprocess.run([cli, *map(str, args)], check=True, capture_output=True).stdout


# -- logits ----------------------------------------------------------------------------------

def test_logits_bit_identical_to_cli_and_c_example(model, model_path, cli, examples, tmp_path):
    ours = model.logits("Hello world, once more")
    run_cli(cli, "logits", "-m", model_path, "-p", "Hello world, once more", "--all",
            "--out", tmp_path / "cli.npy")
    subprocess.run([examples / "logits_npy", model_path, "Hello world, once more",
                    tmp_path / "c.npy"], check=True, capture_output=True)
    cli_l, c_l = np.load(tmp_path / "cli.npy"), np.load(tmp_path / "c.npy")
    assert ours.dtype == np.float32 and ours.shape == cli_l.shape == (8, 4096)
    assert ours.tobytes() == cli_l.tobytes() == c_l.tobytes()
    last = model.logits(model.tokenize("Hello world, once more"), all=False)
    assert last.tobytes() == ours[-1].tobytes()


def test_weight_layouts_give_the_same_logits(model, model_path):
    layouts = {}
    for layout in ("i2", "t5"):
        try:
            m = bitnet.Model(model_path, weight_layout=layout)
        except bitnet.BitNetError as e:  # t5 has kernels on avx512 and scalar only
            assert e.status == "unsupported" and "t5" in str(e)
            m = bitnet.Model(model_path, weight_layout=layout, cpu_kernels="scalar")
        with m:
            assert m.info["weight_layout"].startswith("t5v64" if layout == "t5" else "i2v")
            layouts[layout] = m.logits("Hello world, once more")
    assert layouts["i2"].tobytes() == layouts["t5"].tobytes()
    with pytest.raises(bitnet.BitNetError, match="t9"):
        bitnet.Model(model_path, weight_layout="t9")


def test_devices(model_path):
    with bitnet.Model(model_path, device="auto") as m:  # a GPU if usable, else the CPU
        assert m.info["device"] in ("cpu", "cuda")
        if m.info["device"] == "cpu":
            with pytest.raises(bitnet.BitNetError, match="cuda"):
                bitnet.Model(model_path, device="cuda:0")
    with pytest.raises(ValueError, match="device"):
        bitnet.Model(model_path, device="gpu")


def test_batch_of_sequences_equals_each_alone(model):
    prompts = [model.tokenize(t) for t in (PROMPT, "The history of the city",
                                           "She said that the river was high " * 8)]
    alone = [model.logits(p) for p in prompts]
    ctx = model.context(n_seq_max=3, kv_type="f32", float_head=True)
    tokens, seq, pos = [], [], []
    for i in range(max(map(len, prompts))):  # interleaved, over several 64-row chunks
        for s, p in enumerate(prompts):
            if i < len(p):
                tokens.append(p[i]), seq.append(s), pos.append(i)
    out = ctx.decode(tokens, seq=seq, pos=pos, logits=[1] * len(tokens))
    assert len(tokens) > 64
    seen = [0, 0, 0]
    for row, s in enumerate(seq):
        assert out[row].tobytes() == alone[s][seen[s]].tobytes(), (row, s)
        seen[s] += 1
    assert [ctx.seq_len(s) for s in range(3)] == [len(p) for p in prompts]
    ctx.truncate(1, 2)
    assert ctx.seq_len(1) == 2 and ctx.seq_len(0) == len(prompts[0])
    again = ctx.decode(prompts[1][2:], seq=[1] * (len(prompts[1]) - 2),
                       pos=list(range(2, len(prompts[1]))))
    assert again[0].tobytes() == alone[1][-1].tobytes()


# -- vocabulary ------------------------------------------------------------------------------

def test_tokenize_round_trip(model):
    text = "Ünïcödé, tabs\tand 'quotes' — 12345."
    ids = model.tokenize(text)
    assert ids[0] == model.info["bos"]
    assert model.tokenize(text, add_special=False) == ids[1:]
    assert model.detokenize(ids, skip_special=True) == text
    assert model.detokenize_bytes(ids[1:]) == text.encode()
    assert b"".join(model.token_piece(t) for t in ids[1:]) == text.encode()
    marker = "<|eot_id|>"
    assert model.info["eot"] in model.tokenize(marker, parse_special=True)
    assert model.info["eot"] not in model.tokenize(marker)


# -- generation ------------------------------------------------------------------------------

def test_greedy_generation_equals_cli(model, model_path, cli):
    text = model.generate(PROMPT, max_tokens=24, temperature=0)
    want = run_cli(cli, "run", "-m", model_path, "-p", PROMPT, "-n", 24, "--temp", 0,
                   "--head-type", "file").decode()
    assert len(text) > 40 and want.startswith(text) and want[len(text):] == "\n"
    assert model.last_result["completion_tokens"] == 24
    assert model.last_result["finish_reason"] == "length"


def test_stream_stop_and_seed(model):
    whole = model.generate(PROMPT, max_tokens=40, temperature=0, ignore_eos=True)
    pieces = list(model.generate(PROMPT, max_tokens=40, temperature=0, ignore_eos=True,
                                 stream=True))
    assert len(pieces) > 10 and "".join(pieces) == whole
    stop = whole[len(whole) // 2:][:5]
    cut = model.generate(PROMPT, max_tokens=40, temperature=0, stop=[stop, "never seen"])
    assert cut == whole[:whole.index(stop)] and model.last_result["finish_reason"] == "stop"
    a = model.generate(PROMPT, max_tokens=30, temperature=1.0, seed=7)
    b = model.generate(PROMPT, max_tokens=30, temperature=1.0, seed=7)
    c = model.generate(PROMPT, max_tokens=30, temperature=1.0, seed=8)
    assert a == b and a != c


def test_prefix_reuse_gives_the_same_text(model_path):
    m = bitnet.Model(model_path, threads=2)
    first = m.generate(PROMPT, max_tokens=8, temperature=0)
    longer = PROMPT + first + " and then"
    reused = m.generate(longer, max_tokens=16, temperature=0)
    assert m.last_result["cached_tokens"] > 5
    fresh = bitnet.Model(model_path, threads=2)
    assert fresh.generate(longer, max_tokens=16, temperature=0) == reused
    fresh.close(), m.close()


def test_padded_vocabulary_never_samples_padding(cli, tmp_path):
    make_model = Path(cli).parent / "make_model"
    subprocess.run([make_model, tmp_path / "padded.gguf", "--vocab", "512", "--pad", "64"],
                   check=True, capture_output=True)
    with bitnet.Model(tmp_path / "padded.gguf", threads=2) as m:
        assert m.info["n_vocab"] == m.info["n_tokens"] + 64
        # Hot and unfiltered: without the mask, padding rows are drawn within a few tokens.
        for _ in m.generate("hello", max_tokens=300, temperature=50, top_k=0, top_p=1,
                            min_p=0, ignore_eos=True, seed=3, stream=True):
            pass
        assert m.last_result["completion_tokens"] == 300
        ids = m._held[len(m.tokenize("hello")):]
        assert ids and max(ids) < m.info["n_tokens"]


def test_streams_release_their_generators(model_path):
    m = bitnet.Model(model_path, threads=2)
    never = m.generate(PROMPT, max_tokens=5, stream=True)  # never iterated: freed when collected
    del never
    it = m.generate(PROMPT, max_tokens=20, stream=True)
    next(it)
    m.close()  # frees the stream's generator before the context
    with pytest.raises(RuntimeError, match="closed"):
        next(it)


def test_superseded_stream(model):
    old = model.generate(PROMPT, max_tokens=20, stream=True)
    next(old)
    model.generate("Another", max_tokens=3)
    with pytest.raises(RuntimeError, match="superseded"):
        list(old)


def test_chat_completion_shapes(model):
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say <|eot_id|> twice"}]
    r = model.create_chat_completion(msgs, max_tokens=12, temperature=0, chat_format="llama3")
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    msg = r["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    assert r["choices"][0]["finish_reason"] in ("stop", "length")
    ids = model.tokenize_chat(msgs, chat_format="llama3")
    assert r["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 12,
                          "total_tokens": len(ids) + 12} or r["choices"][0]["finish_reason"] == "stop"
    assert ids.count(model.info["eot"]) == len(msgs)  # the template's own markers only
    chunks = list(model.create_chat_completion(msgs, max_tokens=12, temperature=0,
                                               chat_format="llama3", stream=True))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == \
        msg["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == r["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == r["usage"]
    comp = model.create_completion(PROMPT, max_tokens=8, temperature=0)
    assert comp["object"] == "text_completion"
    assert comp["choices"][0]["text"] == model.generate(PROMPT, max_tokens=8, temperature=0)


# -- perplexity and files --------------------------------------------------------------------

def test_perplexity_equals_cli(model, model_path, cli):
    root = model_path.parent
    text = (root / "heldout.txt").read_text()
    seen = []
    r = model.perplexity(text, window=256, max_windows=3, progress=seen.append)
    want = json.loads(run_cli(cli, "perplexity", "-m", model_path, "-f", root / "heldout.txt",
                              "-c", 256, "--chunks", 3, "--json"))
    assert r["ppl"] == want["ppl"] and r["mean_nll"] == want["mean_nll"]
    assert r["n_scored"] == want["scored_tokens"] and r["n_windows"] == 3
    assert [s["n_windows"] for s in seen] == [1, 2, 3]
    stopped = model.perplexity(text, window=256, max_windows=3, progress=lambda s: False)
    assert stopped["n_windows"] == 1

    def boom(_):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        model.perplexity(text, window=256, max_windows=2, progress=boom)


def test_quantize_and_convert(model_path, tmp_path):
    out = tmp_path / "q8embed.gguf"
    names = []
    bitnet.quantize(model_path, out, "i2_s", embed_type="q8_0",
                    progress=lambda d, t, n: names.append(n))
    assert "blk.0.attn_q.weight" in names and "token_embd.weight" in names
    with bitnet.Model(out, threads=2) as q, bitnet.Model(model_path, threads=2) as m:
        assert q.info["embed_type"] == "q8_0" and q.info["linear_type"] == "i2_s"
        a, b = q.logits(PROMPT), m.logits(PROMPT)
        assert np.abs(a - b).max() < 0.05 * np.abs(b).max() and a.tobytes() != b.tobytes()
    with pytest.raises(bitnet.BitNetError, match="tq2_0.*i2_s"):  # 384 is no multiple of 256
        bitnet.quantize(model_path, tmp_path / "tq2.gguf", "tq2_0")
    hf = model_path.parents[1] / "tests" / "fixtures" / "tiny-bitnet-hf"
    bitnet.convert(hf, tmp_path / "tiny.gguf", type="i2_s")
    with bitnet.Model(tmp_path / "tiny.gguf") as t:
        assert t.info["linear_type"] == "i2_s"
    with pytest.raises(bitnet.BitNetError, match="q3_z") as e:
        bitnet.quantize(model_path, tmp_path / "x.gguf", "q3_z")
    assert not (tmp_path / "x.gguf").exists() and e.value.status in ("dtype", "invalid_arg")


# -- misuse ----------------------------------------------------------------------------------

def test_errors_name_the_problem(model, model_path, tmp_path):
    with pytest.raises(bitnet.BitNetError, match="nowhere.gguf") as e:
        bitnet.Model(tmp_path / "nowhere.gguf")
    assert e.value.status == "io"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(model_path.read_bytes()[:5000])
    with pytest.raises(bitnet.BitNetError, match="bad.gguf"):
        bitnet.Model(bad)
    with pytest.raises(bitnet.BitNetError, match="4096") as e:
        model.logits([1, 4096])
    assert e.value.status == "range"
    with pytest.raises(bitnet.BitNetError, match="do not fit"):
        model.logits([5] * (model.info["n_ctx_train"] + 1))
    with pytest.raises(bitnet.BitNetError, match="top_p"):
        model.generate(PROMPT, top_p=1.5)
    with pytest.raises(ValueError, match="kv_type"):
        model.context(kv_type="f8")
    with pytest.raises(ValueError, match="role"):
        model.create_chat_completion([{"content": "no role"}], chat_format="llama3")
    with pytest.raises(bitnet.BitNetError, match="klingon"):
        model.apply_chat_template([{"role": "user", "content": "x"}], chat_format="klingon")
    ctx = model.context(n_seq_max=2)
    with pytest.raises(bitnet.BitNetError, match="sequence 2"):
        ctx.decode([1, 2], seq=[0, 2], pos=[0, 0])
    with pytest.raises(ValueError, match="sequences 0..1"):
        ctx.seq_len(5)
    with pytest.raises(ValueError, match="entries"):
        ctx.decode([1, 2], seq=[0])
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        ctx.decode([1])
    with pytest.raises(ValueError, match="outside"):
        model.token_piece(-1)


def test_context_outlives_closed_model(model_path):
    m = bitnet.Model(model_path, threads=2)
    ids = m.tokenize(PROMPT)
    want = m.logits(ids, all=False)
    ctx = m.context(kv_type="f32", float_head=True)
    m.close()  # the context keeps the weights alive (the library counts references)
    with pytest.raises(ValueError, match="closed"):
        m.tokenize("x")
    assert ctx.eval(ids).tobytes() == want.tobytes()
    ctx.close()


def test_two_threads_on_one_context_are_refused(model):
    ctx = model.context(n_seq_max=2, threads=1)
    errors, refused = [], []

    def hammer(seq):
        for _ in range(40):
            try:
                if ctx.seq_len(seq) + 48 > ctx.n_ctx:
                    ctx.truncate(seq, 0)
                n = ctx.seq_len(seq)
                ctx.decode(list(range(100, 148)), seq=[seq] * 48, pos=list(range(n, n + 48)))
            except bitnet.BitNetError as e:
                (refused if "another thread" in str(e) else errors).append(e)

    t = threading.Thread(target=hammer, args=(1,))
    t.start()
    hammer(0)
    t.join()
    assert not errors and refused  # overlapping calls refused with the message, nothing else
    ctx.close()
