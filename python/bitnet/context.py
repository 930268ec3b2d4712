"""Context: a KV cache over a model and the batch evaluation call (bn_context_*)."""

from __future__ import annotations

import ctypes
from typing import Sequence

import numpy as np

from ._lib import Batch, Closable, ContextParams, check, lib

KV_TYPES = {"f16": 0, "f32": 1}


def _i32(values: Sequence[int] | np.ndarray, what: str) -> np.ndarray:
    a = np.ascontiguousarray(values, dtype=np.int64)
    if a.ndim != 1:
        raise ValueError(f"{what}: a flat sequence of integers, not shape {a.shape}")
    if a.size and (a.min() < -2**31 or a.max() >= 2**31):
        raise ValueError(f"{what}: values must fit in 32 bits")
    return a.astype(np.int32)


def _ptr(a: np.ndarray | None, ctype):
    return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctype))


class Context(Closable):
    """Positions of up to `n_seq_max` sequences (each `n_ctx` long) and the evaluation of
    batches over them. Made by `Model.context()`; holds its model alive. One call at a time:
    a second thread calling while one runs gets a BitNetError ("in use by another thread")."""

    def __init__(self, model, n_ctx: int = 0, n_seq_max: int = 1, threads: int = 0,
                 kv_type: str = "f16", float_head: bool = False):
        if kv_type not in KV_TYPES:
            raise ValueError(f"kv_type {kv_type!r}: one of {', '.join(KV_TYPES)}")
        self.model = model
        p = ContextParams(n_ctx=n_ctx, n_seq_max=n_seq_max, n_threads=threads,
                          kv_type=KV_TYPES[kv_type], float_head=float_head)
        h = ctypes.c_void_p()
        check(lib.bn_context_create(ctypes.byref(h), model._handle(), ctypes.byref(p)))
        self._h = h
        self.n_vocab = model.info["n_vocab"]

    def _handle(self) -> ctypes.c_void_p:
        if self._h is None:
            raise ValueError("the context is closed")
        return self._h

    def close(self) -> None:
        """Free the cache now (otherwise when the object is collected). Idempotent."""
        if getattr(self, "_h", None) is not None:
            lib.bn_context_free(self._h)
            self._h = None

    @property
    def n_ctx(self) -> int:
        return lib.bn_context_n_ctx(self._handle())

    @property
    def n_seq_max(self) -> int:
        return lib.bn_context_n_seq_max(self._handle())

    def seq_len(self, seq: int = 0) -> int:
        """Positions sequence `seq` holds (ValueError for a sequence out of range)."""
        n = lib.bn_context_seq_len(self._handle(), seq)
        if n < 0:
            raise ValueError(f"sequence {seq}: this context holds sequences 0..{self.n_seq_max - 1}")
        return n

    def truncate(self, seq: int, n: int) -> None:
        """Keep the first n positions of sequence seq (0 empties it)."""
        check(lib.bn_context_seq_truncate(self._handle(), seq, n))

    def reset(self) -> None:
        """Empty every sequence."""
        lib.bn_context_reset(self._handle())

    def decode(self, tokens: Sequence[int], seq: Sequence[int] | None = None,
               pos: Sequence[int] | None = None, logits: Sequence[bool] | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """Evaluate a batch: tokens[i] of sequence seq[i] at position pos[i] (defaults: sequence
        0, positions after what it holds, logits of the last token). Returns float32
        [rows asked, n_vocab], written by the library straight into the array (pass `out` to
        reuse one). Each sequence's logits are those it gets evaluated alone."""
        t = _i32(tokens, "tokens")
        n = t.size
        s = None if seq is None else _i32(seq, "seq")
        p = None if pos is None else _i32(pos, "pos")
        f = None if logits is None else np.ascontiguousarray(logits, dtype=np.int8)
        for name, a in (("seq", s), ("pos", p), ("logits", f)):
            if a is not None and a.shape != (n,):
                raise ValueError(f"{name} has {a.size} entries for {n} tokens")
        rows = (1 if n else 0) if f is None else int(np.count_nonzero(f))
        out = self._out(out, rows)
        b = Batch(n=n, tokens=_ptr(t, ctypes.c_int32), pos=_ptr(p, ctypes.c_int32),
                  seq=_ptr(s, ctypes.c_int32), logits=_ptr(f, ctypes.c_int8))
        check(lib.bn_context_decode(self._handle(), ctypes.byref(b), out.ctypes.data))
        return out

    def eval(self, tokens: Sequence[int], all: bool = False) -> np.ndarray:
        """Sequence 0: evaluate tokens after what it holds; the last row's logits [n_vocab], or
        every row's [len(tokens), n_vocab] with all=True."""
        t = _i32(tokens, "tokens")
        out = self._out(None, t.size if all else 1)
        check(lib.bn_context_eval(self._handle(), _ptr(t, ctypes.c_int32), t.size,
                                  out.ctypes.data, all))
        return out if all else out[0]

    def _out(self, out: np.ndarray | None, rows: int) -> np.ndarray:
        shape = (rows, self.n_vocab)
        if out is None:
            return np.empty(shape, dtype=np.float32)
        if out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}")
        return out
