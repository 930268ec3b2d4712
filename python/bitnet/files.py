"""Model files: Hugging Face folders to GGUF, and GGUF re-encoding (bn_convert, bn_quantize)."""

from __future__ import annotations

import ctypes
import os
from typing import Callable

from ._lib import PROGRESS_FN, ConvertParams, check, cstr, lib

Progress = Callable[[int, int, str], None]


def _params(type, embed_type, head_type, progress: Progress | None):
    failure: list[BaseException] = []

    def on_tensor(_user, done, total, name):
        if not failure:
            try:
                progress(done, total, (name or b"").decode())
            except BaseException as e:  # cannot cross the C frames: kept, raised afterwards
                failure.append(e)

    cb = PROGRESS_FN(on_tensor) if progress is not None else PROGRESS_FN()
    return ConvertParams(type=cstr(type), embed_type=cstr(embed_type),
                         head_type=cstr(head_type), progress=cb, user=None), cb, failure


def convert(hf_dir: str | os.PathLike, out: str | os.PathLike, type: str = "tq2_0",
            embed_type: str | None = None, head_type: str | None = None,
            progress: Progress | None = None) -> None:
    """A Hugging Face BitNet folder to a GGUF file (`bitnet convert`): linear layers in type
    ("tq2_0", "tq1_0", "i2_s", "f16", "bf16", "f32"), embeddings in embed_type (None: "f16").
    The file appears only when complete. progress(done, total, tensor) as tensors are written."""
    p, _cb, failure = _params(type, embed_type, head_type, progress)
    check(lib.bn_convert(os.fsencode(hf_dir), os.fsencode(out), ctypes.byref(p)))
    if failure:
        raise failure[0]


def quantize(src: str | os.PathLike, out: str | os.PathLike, type: str,
             embed_type: str | None = None, head_type: str | None = None,
             progress: Progress | None = None) -> None:
    """A GGUF model re-encoded (`bitnet quantize`): linear layers in type, embeddings and head
    in theirs (None: as they are)."""
    p, _cb, failure = _params(type, embed_type, head_type, progress)
    check(lib.bn_quantize(os.fsencode(src), os.fsencode(out), ctypes.byref(p)))
    if failure:
        raise failure[0]
