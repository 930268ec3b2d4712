"""bitnet - Python bindings of libbitnet, a C library for 1.58-bit (ternary) LLMs.

    import bitnet
    m = bitnet.Model("model.gguf")
    print(m.generate("The capital of France is", max_tokens=32, temperature=0))
    for piece in m.generate("Once upon a time", stream=True):
        print(piece, end="", flush=True)

Everything goes through the library's public C API (include/bitnet.h) with ctypes; failures
raise BitNetError with the library's message.
"""

from . import _lib
from ._lib import BitNetError
from .context import Context
from .files import convert, quantize
from .model import Model

__version__ = _lib.lib.bn_version().decode()
__all__ = ["BitNetError", "Context", "Model", "convert", "quantize", "__version__"]
