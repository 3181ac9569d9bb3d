"""The compression methods, by name: each compresses a traced float model into a validated IR.

=============  ========================================================================  ==============
name           what it does                                                              module
=============  ========================================================================  ==============
``taylor``     method 1: iterative unstructured pruning ranked by a first-order Taylor    ``taylor``
               score, fine-tuning between steps, then QAT with the mask frozen
``mixed``      method 2: joint channel pruning + channel-wise mixed precision search     ``mixed``
``squantizer`` method 3: one training pass that sparsifies, then quantizes, every step   ``squantizer``
``sequential`` baseline: magnitude pruning with fine-tuning, then separate QAT            ``sequential``
=============  ========================================================================  ==============

Every method runs through one front end, :func:`compress.frontend.compress_module`, on any
``nn.Module`` that :func:`compress.trace.from_module` accepts; :func:`run_method` is that front
end on a bundled model (a preset: the model, its data set and a float pre-training).

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

__all__ = ["METHODS", "Method", "get_method", "run_method"]


@dataclass(frozen=True)
class Method:
    """A registered method: ``params`` is its params dataclass (with ``from_dict``); ``apply``
    compresses a traced float net in place: ``apply(qnet, data, params, seed, teacher, progress)``
    and returns the metadata the IR records."""

    name: str
    module: str  # under compress.methods
    params_name: str
    apply_name: str

    def _mod(self) -> Any:
        return importlib.import_module(f"compress.methods.{self.module}")

    @property
    def params(self) -> Any:
        return getattr(self._mod(), self.params_name)

    @property
    def apply(self) -> Any:
        return getattr(self._mod(), self.apply_name)

    def resolve(self, params: Any) -> Any:
        """Its params dataclass from None (the defaults), a dict (``from_dict``) or an instance."""
        cls = self.params
        if params is None:
            return cls()
        if isinstance(params, Mapping):
            return cls.from_dict(params)
        if not isinstance(params, cls):
            raise ConfigError(f"method {self.name!r} takes {cls.__name__} parameters, "
                              f"got {type(params).__name__}")
        return params


_ALL = (
    Method("taylor", "taylor", "TaylorParams", "apply_taylor"),
    Method("mixed", "mixed", "MixedParams", "apply_mixed"),
    Method("squantizer", "squantizer", "SQuantizerParams", "apply_squantizer"),
    Method("sequential", "sequential", "SequentialParams", "apply_sequential"),
)

#: Method name -> :class:`Method`, for the methods present in this tree.
METHODS: dict[str, Method] = {
    m.name: m for m in _ALL if importlib.util.find_spec(f"compress.methods.{m.module}") is not None
}


def get_method(name: str) -> Method:
    """The registered method ``name``, or a ConfigError listing the known ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}: choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


def run_method(name: str, model: str, params: Any = None, seed: int = 0,
               progress: ProgressCallback | None = None) -> Any:
    """Run method ``name`` on bundled model ``model`` (float pre-training cached per seed);
    ``params`` is its params dataclass, a dict for its ``from_dict``, or None for the defaults.
    Returns a :class:`~compress.methods.common.MethodResult`."""
    from compress.frontend import compress_preset

    return compress_preset(model, name, params, seed=seed, progress=progress)
