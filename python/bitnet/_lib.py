"""ctypes declarations of include/bitnet.h and the library's loading.

Every structure here mirrors the header field for field (the header only ever appends fields,
so a newer library keeps working with these). Library calls that return a bn_status go through
`check`, which turns a failure into a BitNetError carrying the library's own message.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_float, c_int,
                    c_int8, c_int32, c_int64, c_size_t, c_uint, c_uint64, c_void_p)
from pathlib import Path

STATUS_NAMES = ["ok", "invalid_arg", "out_of_memory", "io", "format", "unsupported", "shape",
                "dtype", "not_found", "range", "cuda", "thread", "internal"]
BN_ERR_RANGE = STATUS_NAMES.index("range")  # also "buffer too small" in the size protocols


class BitNetError(RuntimeError):
    """A libbitnet call failed. `status` names the bn_status ("range", "io", ...), `code` is its
    number, and the message is the library's (it names the file, tensor or argument at fault)."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.status = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else str(code)
        super().__init__(message)


class Closable:
    """What every object owning a library handle shares: close() frees it (idempotent), a
    `with` block closes it, and so does garbage collection."""

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ModelParams(Structure):
    _fields_ = [("device", c_int), ("n_threads", c_int), ("cpu_kernels", c_char_p),
                ("head_type", c_char_p), ("weight_layout", c_char_p), ("device_index", c_int)]


class ModelInfo(Structure):
    _fields_ = [("name", c_char_p), ("arch", c_char_p), ("linear_type", c_char_p),
                ("embed_type", c_char_p), ("head_type", c_char_p), ("activation", c_char_p),
                ("chat_format", c_char_p), ("n_vocab", c_int32), ("n_tokens", c_int32),
                ("dim", c_int32), ("n_layers", c_int32), ("n_heads", c_int32),
                ("n_kv_heads", c_int32), ("head_dim", c_int32), ("ffn_dim", c_int32),
                ("n_ctx_train", c_int32), ("rope_theta", c_float), ("norm_eps", c_float),
                ("tied_embeddings", c_bool), ("bos", c_int32), ("eos", c_int32), ("eot", c_int32),
                ("n_params", c_int64), ("bytes_per_token", c_size_t),
                ("weight_layout", c_char_p), ("device", c_char_p)]


class ChatMessage(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class ContextParams(Structure):
    _fields_ = [("n_ctx", c_int), ("n_seq_max", c_int), ("n_threads", c_int),
                ("kv_type", c_int), ("float_head", c_bool)]


class Batch(Structure):
    _fields_ = [("n", c_int32), ("tokens", POINTER(c_int32)), ("pos", POINTER(c_int32)),
                ("seq", POINTER(c_int32)), ("logits", POINTER(c_int8))]


class SamplerParams(Structure):
    _fields_ = [("temperature", c_float), ("top_k", c_int), ("top_p", c_float),
                ("min_p", c_float), ("repeat_penalty", c_float), ("repeat_last_n", c_int),
                ("frequency_penalty", c_float), ("presence_penalty", c_float),
                ("seed", c_uint64)]


class GenerateParams(Structure):
    _fields_ = [("n_predict", c_int), ("stop", POINTER(c_char_p)), ("n_stop", c_int),
                ("ignore_eos", c_bool), ("seq", c_int), ("defer_prompt", c_bool),
                ("logprobs", c_bool), ("top_logprobs", c_int)]


class GenerateResult(Structure):
    _fields_ = [("n_prompt", c_int), ("n_generated", c_int), ("reason", c_int),
                ("prompt_seconds", c_double), ("generate_seconds", c_double)]


class PerplexityResult(Structure):
    _fields_ = [("ppl", c_double), ("ppl_err", c_double), ("mean_nll", c_double),
                ("nll_err", c_double), ("n_tokens", c_int64), ("n_scored", c_int64),
                ("n_windows", c_int), ("n_windows_total", c_int)]


PERPLEXITY_FN = CFUNCTYPE(c_bool, c_void_p, POINTER(PerplexityResult))
PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_int64, c_int64, c_char_p)


class ConvertParams(Structure):
    _fields_ = [("type", c_char_p), ("embed_type", c_char_p), ("head_type", c_char_p),
                ("progress", PROGRESS_FN), ("user", c_void_p)]


STOP_REASONS = {0: None, 1: "length", 2: "stop", 3: "stop", 4: "length", 5: "stop"}

_P = c_void_p  # every opaque handle
_SIGNATURES = {
    "bn_status_str": (c_char_p, [c_int]),
    "bn_last_error": (c_char_p, []),
    "bn_clear_error": (None, []),
    "bn_version": (c_char_p, []),
    "bn_free": (None, [c_void_p]),
    "bn_model_default_params": (ModelParams, []),
    "bn_model_load": (c_int, [POINTER(_P), c_char_p, POINTER(ModelParams)]),
    "bn_model_free": (None, [_P]),
    "bn_model_get_info": (c_int, [_P, POINTER(ModelInfo)]),
    "bn_tokenize": (c_int, [_P, c_char_p, c_size_t, c_uint, POINTER(c_int32), c_int32,
                            POINTER(c_int32)]),
    "bn_detokenize": (c_int, [_P, POINTER(c_int32), c_int32, c_uint, c_void_p, c_size_t,
                              POINTER(c_size_t)]),
    "bn_token_piece": (c_void_p, [_P, c_int32, POINTER(c_size_t)]),
    "bn_token_is_eog": (c_bool, [_P, c_int32]),
    "bn_token_is_special": (c_bool, [_P, c_int32]),
    "bn_chat_apply": (c_int, [_P, c_char_p, POINTER(ChatMessage), c_size_t, c_bool,
                              POINTER(c_void_p), POINTER(c_size_t)]),
    "bn_chat_tokenize": (c_int, [_P, c_char_p, POINTER(ChatMessage), c_size_t, c_bool, c_uint,
                                 POINTER(c_int32), c_int32, POINTER(c_int32)]),
    "bn_context_default_params": (ContextParams, []),
    "bn_context_create": (c_int, [POINTER(_P), _P, POINTER(ContextParams)]),
    "bn_context_free": (None, [_P]),
    "bn_context_n_ctx": (c_int, [_P]),
    "bn_context_n_seq_max": (c_int, [_P]),
    "bn_context_decode": (c_int, [_P, POINTER(Batch), c_void_p]),
    "bn_context_eval": (c_int, [_P, POINTER(c_int32), c_int, c_void_p, c_bool]),
    "bn_context_seq_len": (c_int, [_P, c_int]),
    "bn_context_seq_truncate": (c_int, [_P, c_int, c_int]),
    "bn_context_reset": (None, [_P]),
    "bn_sampler_default_params": (SamplerParams, []),
    "bn_sampler_params_check": (c_int, [POINTER(SamplerParams)]),
    "bn_sampler_create": (c_int, [POINTER(_P), c_int32, POINTER(SamplerParams)]),
    "bn_sampler_free": (None, [_P]),
    "bn_sampler_reset": (None, [_P]),
    "bn_sampler_accept": (None, [_P, c_int32]),
    "bn_sampler_sample": (c_int32, [_P, c_void_p]),
    "bn_generate_default_params": (GenerateParams, []),
    "bn_generator_create": (c_int, [POINTER(_P), _P, _P, POINTER(c_int32), c_int,
                                    POINTER(GenerateParams)]),
    "bn_generator_next": (c_int, [_P, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_int32),
                                  POINTER(c_bool)]),
    "bn_generator_result": (None, [_P, POINTER(GenerateResult)]),
    "bn_generator_free": (None, [_P]),
    "bn_perplexity": (c_int, [_P, c_char_p, c_size_t, c_int, c_int, PERPLEXITY_FN, c_void_p,
                              POINTER(PerplexityResult)]),
    "bn_convert": (c_int, [c_char_p, c_char_p, POINTER(ConvertParams)]),
    "bn_quantize": (c_int, [c_char_p, c_char_p, POINTER(ConvertParams)]),
}


def _find_library() -> str:
    """$BITNET_LIB, else the libbitnet.so installed inside this package."""
    env = os.environ.get("BITNET_LIB")
    if env:
        return env
    here = Path(__file__).resolve().parent / "libbitnet.so"
    if here.exists():
        return str(here)
    raise ImportError(f"bitnet: no libbitnet.so in {here.parent} and BITNET_LIB is not set "
                      "(install with `pip install ./python`, or point BITNET_LIB at a build)")


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_find_library())
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _load()


def last_error() -> str:
    return (lib.bn_last_error() or b"").decode("utf-8", "replace")


def check(status: int) -> None:
    """Raise the library's error for a failed status (the message is per thread, and ctypes
    calls run on the calling Python thread, so it is this call's)."""
    if status != 0:
        raise BitNetError(status, last_error() or lib.bn_status_str(status).decode())


def cstr(s: str | os.PathLike | None) -> bytes | None:
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else s.encode()
