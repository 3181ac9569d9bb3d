"""A compression run described in a TOML file, checked into a typed :class:`RunConfig`.

Format (``examples/*.toml``)::

    [run]
    model = "digits-mlp"      # a name in compress.models.MODELS
    method = "mixed"          # a name in compress.methods.METHODS
    seed = 0                  # optional (default 0); the CLI's --seed overrides it
    out = "build/mlp-mixed"   # optional; the CLI's --out overrides it

    [method]                  # the method's own parameters (targets, bits, λ, epochs, ...)
    precisions = [0, 2, 4, 8]
    lambda = 1.0

Every mistake is a :class:`~zerogate.errors.ConfigError` of one line naming the file and the
key: a missing file, invalid TOML (with its line), an unknown table or key, a wrong type, an
unknown model or method, and whatever the method's ``from_dict`` rejects (bits out of range,
λ < 0, ...).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zerogate.errors import ConfigError

__all__ = ["RunConfig", "load_run_config", "params_classes", "parse_run_config", "run_config"]

_RUN_KEYS = {"model": str, "method": str, "seed": int, "out": str}
_TABLES = ("run", "method")


@dataclass(frozen=True)
class RunConfig:
    """One run: which model, which method with which parameters, the seed and the output folder."""

    model: str
    method: str
    params: Any  # the method's params dataclass
    seed: int = 0
    out: Path | None = None
    source: Path | None = None


def params_classes() -> dict[str, Any]:
    """Method name -> its params dataclass (each has ``from_dict``)."""
    try:
        from compress.methods import METHODS
    except ImportError:  # only method 2 is available
        from compress.methods.mixed import MixedParams

        return {"mixed": MixedParams}
    return {name: m.params for name, m in METHODS.items()}


def _method_params(method: str, table: Mapping[str, Any]) -> Any:
    """The method's params dataclass from its ``[method]`` table (its ``from_dict`` validates)."""
    classes = params_classes()
    if method not in classes:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(sorted(classes))}")
    return classes[method].from_dict(dict(table))


def _check_model(model: str) -> None:
    from compress.models import MODELS

    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(sorted(MODELS))}")


def parse_run_config(doc: Mapping[str, Any], source: Path | None = None) -> RunConfig:
    """A RunConfig from an already-parsed TOML document."""
    where = f"{source}: " if source is not None else ""
    try:
        for key in doc:
            if key not in _TABLES:
                raise ConfigError(f"unknown table [{key}]; a run config has [run] and [method]")
        run = doc.get("run")
        if not isinstance(run, Mapping):
            raise ConfigError("missing [run] table (with model and method)")
        for key, value in run.items():
            if key not in _RUN_KEYS:
                raise ConfigError(f"[run] unknown key {key!r}; known: {', '.join(_RUN_KEYS)}")
            want = _RUN_KEYS[key]
            if not isinstance(value, want) or isinstance(value, bool):
                raise ConfigError(f"[run] {key} must be a {want.__name__}, got {value!r}")
        for key in ("model", "method"):
            if key not in run:
                raise ConfigError(f"[run] is missing {key!r}")
        seed = run.get("seed", 0)
        if not 0 <= seed < 2**32:
            raise ConfigError(f"[run] seed = {seed} is outside 0..{2**32 - 1}")
        _check_model(run["model"])
        table = doc.get("method", {})
        if not isinstance(table, Mapping):
            raise ConfigError("[method] must be a table of the method's parameters")
        params = _method_params(run["method"], table)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    except TypeError as e:  # a params dataclass given a key it does not take
        raise ConfigError(f"{where}[method] {e}") from None
    out = Path(run["out"]) if "out" in run else None
    return RunConfig(model=run["model"], method=run["method"], params=params, seed=seed, out=out,
                     source=source)


def load_run_config(path: str | Path) -> RunConfig:
    """Read and check the TOML run config at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config ({e}); pass a UTF-8 TOML file") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    return parse_run_config(doc, path)


def run_config(cfg: RunConfig, seed: int | None = None, progress: Any = None) -> Any:
    """Run the configured method on the configured model (``seed`` overrides the config's); the
    result has ``net`` (the IR), ``test_x``/``test_y`` and ``summary()``."""
    s = cfg.seed if seed is None else seed
    try:
        from compress.methods import run_method
    except ImportError:  # only method 2 is available
        from compress.methods.mixed import run_mixed

        return run_mixed(cfg.model, cfg.params, s, progress)
    return run_method(cfg.method, cfg.model, cfg.params, seed=s, progress=progress)
