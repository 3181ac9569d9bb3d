"""The compression methods, by name: each turns a bundled float model into a validated IR.

=============  ========================================================================  ==============
name           what it does                                                              module
=============  ========================================================================  ==============
``taylor``     method 1: iterative unstructured pruning ranked by a first-order Taylor    ``taylor``
               score, fine-tuning between steps, then QAT with the mask frozen
``mixed``      method 2: joint channel pruning + channel-wise mixed precision search     ``mixed``
``squantizer`` method 3: one training pass that sparsifies, then quantizes, every step   ``squantizer``
``sequential`` baseline: magnitude pruning with fine-tuning, then separate QAT            ``sequential``
=============  ========================================================================  ==============

Importing this package loads no torch: a method's module (and its params class) is imported the
first time it is used, and a method whose module is absent from the tree is simply not listed.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compress.config import ProgressCallback
from zerogate.errors import ConfigError

__all__ = ["METHODS", "Method", "run_method"]


@dataclass(frozen=True)
class Method:
    """A registered method: ``params`` is its params dataclass (with ``from_dict``); calling it
    runs it: ``method(model, params, seed, progress)``."""

    name: str
    module: str  # under compress.methods
    params_name: str
    run_name: str

    def _mod(self) -> Any:
        return importlib.import_module(f"compress.methods.{self.module}")

    @property
    def params(self) -> Any:
        return getattr(self._mod(), self.params_name)

    def __call__(self, model: str, params: Any, seed: int = 0,
                 progress: ProgressCallback | None = None) -> Any:
        return getattr(self._mod(), self.run_name)(model, params, seed, progress)


_ALL = (
    Method("taylor", "taylor", "TaylorParams", "run_taylor"),
    Method("mixed", "mixed", "MixedParams", "run_mixed"),
    Method("squantizer", "squantizer", "SQuantizerParams", "run_squantizer"),
    Method("sequential", "sequential", "SequentialParams", "run_sequential"),
)

#: Method name -> :class:`Method`, for the methods present in this tree.
METHODS: dict[str, Method] = {
    m.name: m for m in _ALL if importlib.util.find_spec(f"compress.methods.{m.module}") is not None
}


def run_method(name: str, model: str, params: Any = None, seed: int = 0,
               progress: ProgressCallback | None = None) -> Any:
    """Run method ``name`` on bundled model ``model``; ``params`` is its params dataclass, a dict
    for its ``from_dict``, or None for the defaults. Returns the method's result (``net``,
    ``float_accuracy``, ``accuracy``, ``test_x``/``test_y``, ``summary()``; methods of this package
    other than ``mixed`` return a :class:`~compress.methods.common.MethodResult`)."""
    from compress.models import MODELS

    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}: choose one of {', '.join(sorted(METHODS))}")
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}: choose one of {', '.join(sorted(MODELS))}")
    method = METHODS[name]
    cls = method.params
    if params is None:
        params = cls()
    elif isinstance(params, Mapping):
        params = cls.from_dict(params)
    elif not isinstance(params, cls):
        raise ConfigError(f"method {name!r} takes {cls.__name__} parameters, got {type(params).__name__}")
    return method(model, params, seed, progress)
