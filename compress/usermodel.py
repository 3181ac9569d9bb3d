"""A user's model from the command line: ``PATH.py:FACTORY`` and an optional saved ``state_dict``.

The factory is a function (or class) in a Python file that returns an ``nn.Module``; the
weights, if given, are loaded with ``torch.load(..., weights_only=True)``, which unpickles
tensors and plain containers only, never arbitrary objects. Every failure is one
:class:`~zerogate.errors.ConfigError` line saying what to fix.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from torch import nn

from zerogate.errors import ConfigError

__all__ = ["load_model", "load_weights", "split_spec"]


def split_spec(spec: str, base: Path | None = None) -> tuple[Path, str]:
    """``"file.py:factory"`` -> (path, factory); a relative path is taken relative to ``base``."""
    path, sep, factory = spec.rpartition(":")
    if not sep or not path or not factory.isidentifier():
        raise ConfigError(f"model {spec!r} is not PATH.py:FACTORY (e.g. mymodel.py:build, a function "
                          "returning an nn.Module)")
    p = Path(path)
    return (base / p if base is not None and not p.is_absolute() else p), factory


def load_model(spec: str, base: Path | None = None) -> nn.Module:
    """Import the file of ``spec`` and call its factory; check it returns an ``nn.Module``."""
    path, factory = split_spec(spec, base)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist; pass --model PATH.py:FACTORY with an "
                          "existing file")
    name = f"zerogate_user_model_{abs(hash(path.resolve()))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported as Python; pass a .py file")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # the user's code may fail in any way
        sys.modules.pop(name, None)
        raise ConfigError(f"{path}: importing it raised {type(e).__name__}: {_first(e)}; fix the file"
                          ) from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == name)
        raise ConfigError(f"{path} has no function {factory!r}; found: {', '.join(found) or 'none'}")
    try:
        model = fn()
    except Exception as e:
        raise ConfigError(f"{path}:{factory}() raised {type(e).__name__}: {_first(e)}; it must build the "
                          "model with no arguments") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{path}:{factory}() returned {type(model).__name__}, not a torch.nn.Module; "
                          "return the model")
    return model


def load_weights(model: nn.Module, path: Path) -> None:
    """Load the ``state_dict`` saved at ``path`` (``torch.save(model.state_dict(), path)``) into ``model``."""
    import torch

    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist; save them with "
                          "torch.save(model.state_dict(), PATH)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refuses in many ways
        raise ConfigError(f"{path}: not a state_dict torch.load(weights_only=True) can read ({_first(e)}); "
                          "save it with torch.save(model.state_dict(), PATH)") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds a {type(state).__name__}, not a state_dict; save "
                          "model.state_dict(), not the model")
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else [])
        what = "; ".join(parts)
        raise ConfigError(f"{path} does not fit the model ({what}); save the state_dict of the model the "
                          "factory builds")
    bad = [k for k in want if tuple(getattr(state[k], "shape", ())) != tuple(want[k].shape)]
    if bad:
        k = bad[0]
        raise ConfigError(f"{path}: {k} has shape {tuple(getattr(state[k], 'shape', ()))}, the model's is "
                          f"{tuple(want[k].shape)}; save the state_dict of the model the factory builds")
    model.load_state_dict(state)


def _first(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0][:200]
