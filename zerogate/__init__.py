"""zerogate: pruned, quantized networks to bit-exact sparse fixed-point accelerators.

The torch-free core lives here: the fixed-point arithmetic spec (:mod:`zerogate.fixedpoint`),
the IR that is the only contract between ``compress`` and ``hwgen`` (:mod:`zerogate.ir`), and
the numpy golden model that executes it (:mod:`zerogate.golden`).
"""

__version__ = "0.1.0"
