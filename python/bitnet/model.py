"""Model: a loaded BitNet model with tokenization, generation, logits and perplexity.

Generation runs in sequence 0 of the model's own context and keeps what that sequence holds
between calls, so a prompt that extends the previous one (a growing conversation) is evaluated
only from where it differs.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ._lib import (BN_ERR_RANGE, PERPLEXITY_FN, STOP_REASONS, ChatMessage, Closable,
                   GenerateParams, GenerateResult, ModelInfo, ModelParams, PerplexityResult,
                   SamplerParams, check, cstr, lib)
from .context import Context, _i32, _ptr

TOKENIZE_ADD_SPECIAL, TOKENIZE_PARSE_SPECIAL = 1, 2
DETOKENIZE_SKIP_SPECIAL = 1


def _token_ids(call: Callable, cap: int) -> list[int]:
    """The size protocol of bn_tokenize and bn_chat_tokenize: call(ids, cap, n) with a first
    guess of cap, and once more with the count the library asked for when that was short."""
    n = ctypes.c_int32()
    while True:
        ids = (ctypes.c_int32 * max(1, cap))()
        st = call(ids, cap, ctypes.byref(n))
        if st == BN_ERR_RANGE and n.value > cap:
            cap = n.value
            continue
        check(st)
        return list(ids[:n.value])


def _device(name: str) -> tuple[int, int]:
    """bn_device and the GPU index of "cpu", "cuda", "cuda:N" or "auto"."""
    if name in ("cpu", "auto"):
        return (0 if name == "cpu" else 2), 0
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        return 1, int(name[5:] or 0) if name != "cuda" else 0
    raise ValueError(f"device {name!r}: want 'cpu', 'cuda', 'cuda:N' or 'auto'")


class Model(Closable):
    """A BitNet b1.58 model: a GGUF file or a Hugging Face BitNet folder.

    threads: worker threads (0: one per CPU this process may use). n_ctx: positions of the
    generation context (0: the model's, at most 4096). head_type: None runs the head as the file
    stores it (exact: logits bit-identical to `bitnet logits`); "q6_k" (what `bitnet run` uses),
    "q8_0" or "q4_k" re-encode a float head for the int8 kernels once at load: for a 2B-class
    model 1.4-2x the generation speed of an f16 head, at +0.05% perplexity (q6_k). kv_type: "f16" (default) or "f32" for the
    generation context. cpu_kernels: None for the best the CPU runs, or "scalar", "avx2",
    "avx512", "neon". chat_format: the template for chat ("bitnet", "llama3", "chatml"; None:
    the model's own). weight_layout: None picks the ternary layers' faster runtime layout for
    the kernels ("t5", 1.6 bits a weight, on AVX-512; "i2" elsewhere), or "i2" / "t5" to choose;
    the logits are the same either way. device: "cpu" (default), "cuda" or "cuda:N" (the whole
    forward pass on that GPU), or "auto" (a usable GPU, else the CPU).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 0, n_ctx: int = 0,
                 head_type: str | None = None, kv_type: str = "f16",
                 cpu_kernels: str | None = None, chat_format: str | None = None,
                 weight_layout: str | None = None, device: str = "cpu"):
        self._h = None
        self._serial = 0  # generations started: an older stream stops when a newer one starts
        p = lib.bn_model_default_params()
        p.n_threads = threads
        p.cpu_kernels = cstr(cpu_kernels)
        p.head_type = cstr(head_type)
        p.weight_layout = cstr(weight_layout)
        p.device, p.device_index = _device(device)
        h = ctypes.c_void_p()
        check(lib.bn_model_load(ctypes.byref(h), os.fsencode(path), ctypes.byref(p)))
        self._h = h
        self.path = os.fspath(path)
        self.threads = threads
        self.chat_format = chat_format
        i = ModelInfo()
        check(lib.bn_model_get_info(h, ctypes.byref(i)))
        self.info: dict[str, Any] = {
            name: (v.decode() if isinstance(v, bytes) else v)
            for name, v in ((f, getattr(i, f)) for f, _ in ModelInfo._fields_)}
        self._ctx = Context(self, n_ctx=n_ctx, threads=threads, kv_type=kv_type)
        self._held: list[int] = []  # the tokens sequence 0 of self._ctx holds
        self._streams: weakref.WeakSet[_Stream] = weakref.WeakSet()
        self._exact: Context | None = None

    # -- lifetime -------------------------------------------------------------------------

    def _handle(self) -> ctypes.c_void_p:
        if self._h is None:
            raise ValueError("the model is closed")
        return self._h

    def close(self) -> None:
        """Free the model's contexts and weights now. Contexts made with context() stay usable
        (each holds the weights until it is freed). Idempotent."""
        self._serial += 1  # a live stream refuses to go on (its context is about to go)
        for stream in list(getattr(self, "_streams", ())):
            stream.close(abandoned="the model was closed")  # freed before its context
        for c in (getattr(self, "_ctx", None), getattr(self, "_exact", None)):
            if c is not None:
                c.close()
        if getattr(self, "_h", None) is not None:
            lib.bn_model_free(self._h)
            self._h = None

    def __repr__(self) -> str:
        i = self.info
        return (f"<bitnet.Model {i['name']!r}: {i['n_layers']} layers, dim {i['dim']}, "
                f"{i['linear_type']}, {i['n_params'] / 1e6:.0f}M parameters>")

    def context(self, n_ctx: int = 0, n_seq_max: int = 1, threads: int | None = None,
                kv_type: str = "f16", float_head: bool = False) -> Context:
        """A new context (KV cache) of this model: several sequences, batches of them."""
        return Context(self, n_ctx=n_ctx, n_seq_max=n_seq_max,
                       threads=self.threads if threads is None else threads,
                       kv_type=kv_type, float_head=float_head)

    @property
    def n_ctx(self) -> int:
        return self._ctx.n_ctx

    # -- vocabulary -----------------------------------------------------------------------

    def tokenize(self, text: str | bytes, add_special: bool = True,
                 parse_special: bool = False) -> list[int]:
        """Token ids of text; add_special puts the tokenizer's BOS first; parse_special makes
        "<|eot_id|>" in the text that token instead of characters."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        flags = (TOKENIZE_ADD_SPECIAL if add_special else 0) | \
                (TOKENIZE_PARSE_SPECIAL if parse_special else 0)
        return _token_ids(lambda ids, cap, n: lib.bn_tokenize(self._handle(), b, len(b), flags,
                                                              ids, cap, n), len(b) + 8)

    def detokenize_bytes(self, ids: Sequence[int], skip_special: bool = False) -> bytes:
        """The bytes of ids (may end inside a UTF-8 character)."""
        t = _i32(ids, "ids")
        flags = DETOKENIZE_SKIP_SPECIAL if skip_special else 0
        n = ctypes.c_size_t()
        st = lib.bn_detokenize(self._handle(), _ptr(t, ctypes.c_int32), t.size, flags, None, 0,
                               ctypes.byref(n))
        if st != BN_ERR_RANGE or n.value == 0:  # the length to allocate, or an error to raise
            check(st)
            return b""
        buf = ctypes.create_string_buffer(n.value + 1)
        check(lib.bn_detokenize(self._handle(), _ptr(t, ctypes.c_int32), t.size, flags, buf,
                                n.value + 1, ctypes.byref(n)))
        return buf.raw[:n.value]

    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """The text of ids (a cut UTF-8 character becomes U+FFFD)."""
        return self.detokenize_bytes(ids, skip_special).decode("utf-8", "replace")

    def token_piece(self, token: int) -> bytes:
        """The bytes one token stands for."""
        n = ctypes.c_size_t()
        p = lib.bn_token_piece(self._handle(), token, ctypes.byref(n))
        if p is None:
            raise ValueError(f"token {token} is outside the vocabulary of {self.info['n_vocab']}")
        return ctypes.string_at(p, n.value)

    def is_eog(self, token: int) -> bool:
        return bool(lib.bn_token_is_eog(self._handle(), token))

    # -- chat template --------------------------------------------------------------------

    def _messages(self, messages: Sequence[dict]) -> tuple[ctypes.Array, list[bytes]]:
        keep = []
        arr = (ChatMessage * max(1, len(messages)))()
        for i, m in enumerate(messages):
            try:
                role, content = m["role"], m["content"]
            except (KeyError, TypeError):
                raise ValueError(f"message {i}: a dict with 'role' and 'content'") from None
            if not isinstance(role, str) or not isinstance(content, str):
                raise ValueError(f"message {i}: role and content must be strings")
            keep += [role.encode(), content.encode()]
            arr[i] = ChatMessage(keep[-2], keep[-1])
        return arr, keep

    def apply_chat_template(self, messages: Sequence[dict], add_assistant: bool = True,
                            chat_format: str | None = None) -> str:
        """The prompt text of a conversation in the chat template."""
        arr, _keep = self._messages(messages)
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.bn_chat_apply(self._handle(), cstr(chat_format or self.chat_format), arr,
                                len(messages), add_assistant, ctypes.byref(out), ctypes.byref(n)))
        try:
            return ctypes.string_at(out, n.value).decode("utf-8", "replace")
        finally:
            lib.bn_free(out)

    def tokenize_chat(self, messages: Sequence[dict], add_assistant: bool = True,
                      chat_format: str | None = None) -> list[int]:
        """The conversation's token ids; what the messages contain is text, never markers."""
        arr, _keep = self._messages(messages)
        fmt = cstr(chat_format or self.chat_format)
        guess = sum(len(m["content"]) for m in messages) + 64  # a byte a token, plus markers
        return _token_ids(lambda ids, cap, n: lib.bn_chat_tokenize(
            self._handle(), fmt, arr, len(messages), add_assistant, 0, ids, cap, n), guess)

    # -- generation -----------------------------------------------------------------------

    def generate(self, prompt: str | Sequence[int], max_tokens: int = 128,
                 temperature: float = 0.8, top_p: float = 0.95, top_k: int = 40,
                 min_p: float = 0.05, repeat_penalty: float = 1.0, repeat_last_n: int = 64,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                 stop: str | Sequence[str] | None = None, seed: int | None = None,
                 ignore_eos: bool = False, stream: bool = False) -> str | Iterator[str]:
        """Continue prompt (text, tokenized with BOS and special tokens parsed as `bitnet run`
        does; or token ids used as given). Returns the text, or with stream=True an iterator of
        text pieces as they are made (each whole UTF-8; a possible stop string is held back
        until decided). temperature 0 is greedy; seed None picks a fixed default.
        `last_result` holds the counts and the finish reason afterwards."""
        ids = self.tokenize(prompt, parse_special=True) if isinstance(prompt, str) \
            else list(prompt)
        pieces = self._generate_ids(ids, max_tokens, stop, ignore_eos, dict(
            temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
            repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n,
            frequency_penalty=frequency_penalty, presence_penalty=presence_penalty, seed=seed))
        return pieces if stream else "".join(pieces)

    def _sampler(self, options: dict) -> ctypes.c_void_p:
        sp = lib.bn_sampler_default_params()
        for k, v in options.items():
            if v is not None:
                setattr(sp, k, v)
        h = ctypes.c_void_p()
        check(lib.bn_sampler_create(ctypes.byref(h), self.info["n_vocab"], ctypes.byref(sp)))
        return h

    def _generate_ids(self, ids: list[int], max_tokens: int, stop, ignore_eos: bool,
                      sampling: dict) -> Iterator[str]:
        """Set up eagerly (so bad arguments raise at the call), then the lazy token loop."""
        if not ids:
            raise ValueError("the prompt has no tokens")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        ctx = self._ctx
        # Reuse what sequence 0 holds: keep the common prefix, evaluate the rest (at least one
        # token, whose logits the first sample needs).
        keep = 0
        while keep < min(len(self._held), len(ids) - 1) and self._held[keep] == ids[keep]:
            keep += 1
        ctx.truncate(0, keep)
        self._held = self._held[:keep]
        sampler = self._sampler(sampling)
        stop_b = [s.encode() for s in stops]
        gp = GenerateParams(n_predict=max_tokens, stop=(ctypes.c_char_p * max(1, len(stops)))(
            *stop_b), n_stop=len(stops), ignore_eos=ignore_eos, seq=0)
        rest = np.ascontiguousarray(ids[keep:], dtype=np.int32)
        g = ctypes.c_void_p()
        try:
            check(lib.bn_generator_create(ctypes.byref(g), ctx._handle(), sampler,
                                          _ptr(rest, ctypes.c_int32), rest.size,
                                          ctypes.byref(gp)))
        except Exception:
            lib.bn_sampler_free(sampler)
            raise
        self._serial += 1
        self._held = list(ids)
        self.last_result = {"prompt_tokens": len(ids), "completion_tokens": 0,
                            "finish_reason": None}
        stream = _Stream(self, g, sampler, len(ids))
        self._streams.add(stream)
        return stream

    # -- OpenAI-shaped completions (as llama-cpp-python returns them) ----------------------

    def create_completion(self, prompt: str | Sequence[int], max_tokens: int = 128,
                          stream: bool = False, **options) -> dict | Iterator[dict]:
        """A text completion as OpenAI's API shapes it: {"id", "object": "text_completion",
        "created", "model", "choices": [{"text", "index", "logprobs", "finish_reason"}],
        "usage"}; with stream=True an iterator of such chunks, the last with the finish reason.
        Options are generate()'s (temperature, top_p, stop, seed, ...)."""
        from .openai import completion
        pieces = self.generate(prompt, max_tokens=max_tokens, stream=True, **options)
        return completion(self, pieces, "text_completion", stream)

    def create_chat_completion(self, messages: Sequence[dict], max_tokens: int = 128,
                               stream: bool = False, chat_format: str | None = None,
                               **options) -> dict | Iterator[dict]:
        """A chat completion as OpenAI's API shapes it: {"id", "object": "chat.completion",
        "created", "model", "choices": [{"index", "message": {"role": "assistant", "content"},
        "logprobs", "finish_reason"}], "usage"}; with stream=True an iterator of
        "chat.completion.chunk" dicts whose choices carry a "delta". The messages are rendered
        with the chat template; their contents are text (a typed "<|eot_id|>" is characters).
        A follow-up turn re-evaluates only what is new."""
        from .openai import completion
        ids = self.tokenize_chat(messages, chat_format=chat_format)
        pieces = self.generate(ids, max_tokens=max_tokens, stream=True, **options)
        return completion(self, pieces, "chat.completion", stream)

    # -- evaluation -----------------------------------------------------------------------

    def logits(self, ids: Sequence[int] | str, all: bool = True) -> np.ndarray:
        """float32 logits of ids (text is tokenized with BOS and special tokens parsed):
        [len(ids), n_vocab], or the last row [n_vocab] with all=False. Exact settings, as
        `bitnet logits` uses (a float32 cache, the head's rows dotted in float32), evaluated
        from an empty cache; the library writes straight into the returned array."""
        t = self.tokenize(ids, parse_special=True) if isinstance(ids, str) else ids
        if self._exact is None:
            self._exact = self.context(kv_type="f32", float_head=True)
        self._exact.reset()
        return self._exact.eval(t, all=all)

    def perplexity(self, text: str | bytes, window: int = 512, max_windows: int = 0,
                   progress: Callable[[dict], bool | None] | None = None) -> dict:
        """Perplexity of text as `bitnet perplexity -c window` (and llama.cpp's tool) computes
        it: non-overlapping windows with BOS first, the second half of each scored, an f16
        cache. progress(result) is called after each window; returning False stops early.
        Returns {"ppl", "ppl_err", "mean_nll", "nll_err", "n_tokens", "n_scored",
        "n_windows", "n_windows_total"}."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        fields = [f for f, _ in PerplexityResult._fields_]
        failure: list[BaseException] = []

        def on_window(_user, r) -> bool:
            try:
                return progress({f: getattr(r.contents, f) for f in fields}) is not False
            except BaseException as e:  # an exception cannot cross the C frames: stop, re-raise
                failure.append(e)
                return False

        cb = PERPLEXITY_FN(on_window) if progress is not None else PERPLEXITY_FN()
        r = PerplexityResult()
        with self.context(n_ctx=window) as ctx:
            check(lib.bn_perplexity(ctx._handle(), b, len(b), window, max_windows, cb, None,
                                    ctypes.byref(r)))
        if failure:
            raise failure[0]
        return {f: getattr(r, f) for f in fields}


class _Stream:
    """The pieces of one generation: owns the C generator and sampler, which are freed when it
    ends, is closed, or is collected (even if it was never iterated)."""

    def __init__(self, model: Model, g: ctypes.c_void_p, sampler: ctypes.c_void_p,
                 n_prompt: int):
        self._model, self._g, self._sampler = model, g, sampler
        self._serial, self._n_prompt = model._serial, n_prompt
        self._text, self._n = ctypes.c_void_p(), ctypes.c_size_t()
        self._tok, self._done = ctypes.c_int32(), ctypes.c_bool(False)
        self._abandoned: str | None = None

    def __iter__(self) -> "_Stream":
        return self

    def __next__(self) -> str:
        m = self._model
        if self._g is not None and self._serial != m._serial:
            self.close(abandoned="it was superseded by a later call on the same model")
        if self._abandoned:
            raise RuntimeError(f"this generation cannot go on: {self._abandoned}")
        while self._g is not None:
            if self._done.value:
                self.close()
                break
            try:
                check(lib.bn_generator_next(self._g, ctypes.byref(self._text),
                                            ctypes.byref(self._n), ctypes.byref(self._tok),
                                            ctypes.byref(self._done)))
            except Exception:
                self.close()
                raise
            if self._tok.value >= 0:
                m._held.append(self._tok.value)
            if self._n.value:
                return ctypes.string_at(self._text, self._n.value).decode("utf-8", "replace")
        raise StopIteration

    def close(self, abandoned: str | None = None) -> None:
        """Free the generator now; the model's last_result gets its counts. Idempotent."""
        if self._g is None:
            return
        self._abandoned = abandoned
        r = GenerateResult()
        lib.bn_generator_result(self._g, ctypes.byref(r))
        lib.bn_generator_free(self._g)
        lib.bn_sampler_free(self._sampler)
        self._g = self._sampler = None
        m = self._model
        if self._serial == m._serial:
            # The cache ends at the last token evaluated (a final EOG token is not).
            del m._held[m._ctx.seq_len(0):]
            m.last_result = {
                "prompt_tokens": self._n_prompt, "cached_tokens": self._n_prompt - r.n_prompt,
                "completion_tokens": r.n_generated,
                "finish_reason": STOP_REASONS.get(r.reason),
                "prompt_seconds": r.prompt_seconds, "generate_seconds": r.generate_seconds}

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass
