"""zerogate: pruned, quantized networks to bit-exact sparse fixed-point accelerators.

The torch-free core lives here: the fixed-point arithmetic spec (:mod:`zerogate.fixedpoint`),
the IR that is the only contract between ``compress`` and ``hwgen`` (:mod:`zerogate.ir`), and
the numpy golden model that executes it (:mod:`zerogate.golden`).

The Python API (:mod:`zerogate.api`) is re-exported here: ``zerogate.compress_model``,
``zerogate.Data``, ``zerogate.Compressed``, ``zerogate.generate``, ``zerogate.simulate``,
``zerogate.build_hw``. It is imported on first use, so ``import zerogate`` stays light (no torch,
no amaranth).
"""

from typing import Any

__version__ = "0.1.0"

_API = ("Compressed", "Data", "build_hw", "compress_model", "generate", "simulate")
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from zerogate import api

        return getattr(api, name)
    raise AttributeError(f"module 'zerogate' has no attribute {name!r}")
