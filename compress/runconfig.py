"""A compression run described in a TOML file, checked into a typed :class:`RunConfig`.

Format (``examples/*.toml``)::

    [run]
    model = "digits-mlp"      # a name in compress.models.MODELS, or "file.py:factory" (your own)
    method = "mixed"          # a name in compress.methods.METHODS
    seed = 0                  # optional (default 0); the CLI's --seed overrides it
    out = "build/mlp-mixed"   # optional; the CLI's --out overrides it
    # your own model only (paths relative to this file):
    # data = "data.npz"       # x_train, y_train, x_test, y_test (x_val, y_val optional)
    # weights = "model.pt"    # a saved state_dict: fine-tuned, not trained from scratch
    # input_format = "s8.4"   # signed, 8 bits, 4 fractional (default: chosen from x_train)
    # pretrained = true       # default: true with weights; false trains float_epochs first
    # float_epochs = 40

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

from zerogate.errors import ConfigError, UserError

__all__ = ["RunConfig", "load_run_config", "params_classes", "parse_run_config", "read_toml", "run_config"]

_RUN_KEYS = {"model": str, "method": str, "seed": int, "out": str, "data": str, "weights": str,
             "input_format": str, "pretrained": bool, "float_epochs": int}
#: Keys that only a user model (``model = "file.py:factory"``) takes.
_USER_KEYS = ("data", "weights", "input_format", "pretrained", "float_epochs")
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
    data: Path | None = None  # a user model's data .npz
    weights: Path | None = None  # a user model's state_dict
    input_format: Any = None  # FixedFormat, or None: chosen from the training data
    pretrained: bool = False
    float_epochs: int = 40

    @property
    def user_model(self) -> bool:
        """``model`` names a factory in a Python file rather than a bundled model."""
        return is_user_model(self.model)


def is_user_model(model: str) -> bool:
    return ":" in model and model.rpartition(":")[0].endswith(".py")

def params_classes() -> dict[str, Any]:
    """Method name -> its params dataclass (each has ``from_dict``)."""
    from compress.methods import METHODS

    return {name: m.params for name, m in METHODS.items()}


def _method_params(method: str, table: Mapping[str, Any]) -> Any:
    """The method's params dataclass from its ``[method]`` table (its ``from_dict`` validates)."""
    classes = params_classes()
    if method not in classes:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(sorted(classes))}")
    return classes[method].from_dict(dict(table))


def _check_model(model: str, run: Mapping[str, Any]) -> bool:
    """Whether ``model`` is the user's own (``file.py:factory``, which needs ``data``) rather than
    a bundled one (which takes none of the user-model keys)."""
    from compress.models import MODELS

    if is_user_model(model):
        if "data" not in run:
            raise ConfigError(f"model {model!r} needs data: set data = \"file.npz\" (x_train, y_train, "
                              "x_test, y_test), or pass --data FILE")
        return True
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(sorted(MODELS))}, or your "
                          "own as file.py:factory")
    extra = [k for k in _USER_KEYS if k in run]
    if extra:
        raise ConfigError(f"{extra[0]} is for your own model (file.py:factory); bundled {model!r} brings "
                          "its own data and format")
    return False


def parse_run_config(doc: Mapping[str, Any], source: Path | None = None,
                     base: Path | None = None) -> RunConfig:
    """A RunConfig from an already-parsed TOML document; relative paths are taken relative to
    ``base`` (default: the folder of ``source``, else the working folder)."""
    where = f"{source}: " if source is not None else ""
    if base is None:
        base = source.parent if source is not None else Path()
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
            if not isinstance(value, want) or (isinstance(value, bool) and want is not bool):
                raise ConfigError(f"[run] {key} must be a {want.__name__}, got {value!r}")
        for key in ("model", "method"):
            if key not in run:
                raise ConfigError(f"[run] is missing {key!r}")
        seed = run.get("seed", 0)
        if not 0 <= seed < 2**32:
            raise ConfigError(f"[run] seed = {seed} is outside 0..{2**32 - 1}")
        user = _check_model(run["model"], run)
        table = doc.get("method", {})
        if not isinstance(table, Mapping):
            raise ConfigError("[method] must be a table of the method's parameters")
        params = _method_params(run["method"], table)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    except TypeError as e:  # a params dataclass given a key it does not take
        raise ConfigError(f"{where}[method] {e}") from None
    out = Path(run["out"]) if "out" in run else None
    if not user:
        return RunConfig(model=run["model"], method=run["method"], params=params, seed=seed, out=out,
                         source=source)
    from zerogate.fixedpoint import parse_format

    def resolve(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else base / p

    try:
        fmt = parse_format(run["input_format"]) if "input_format" in run else None
    except UserError as e:
        raise ConfigError(f"{where}[run] {e}") from None
    if run.get("float_epochs", 1) < 1:
        raise ConfigError(f"{where}[run] float_epochs = {run['float_epochs']} must be at least 1")
    model_path, _, factory = run["model"].rpartition(":")
    model = f"{resolve(model_path)}:{factory}"
    return RunConfig(model=model, method=run["method"], params=params, seed=seed, out=out, source=source,
                     data=resolve(run["data"]), weights=resolve(run["weights"]) if "weights" in run else None,
                     input_format=fmt, pretrained=run.get("pretrained", "weights" in run),
                     float_epochs=run.get("float_epochs", 40))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``; a missing file, bad encoding or syntax is one ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config ({e}); pass a UTF-8 TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load_run_config(path: str | Path) -> RunConfig:
    """Read and check the TOML run config at ``path``."""
    return parse_run_config(read_toml(path), Path(path))


def run_config(cfg: RunConfig, seed: int | None = None, progress: Any = None) -> Any:
    """Run the configured method on the configured model (``seed`` overrides the config's); the
    result (a :class:`~compress.methods.common.MethodResult`) has ``net`` (the IR),
    ``test_x``/``test_y``, ``input_format``, ``clipped_inputs`` and ``summary()``."""
    s = cfg.seed if seed is None else seed
    if not cfg.user_model:
        from compress.methods import run_method

        return run_method(cfg.method, cfg.model, cfg.params, seed=s, progress=progress)
    from compress.frontend import compress_module
    from compress.userdata import load_npz, make_data
    from compress.usermodel import load_model, load_weights

    assert cfg.data is not None
    model = load_model(cfg.model)
    if cfg.weights is not None:
        load_weights(model, cfg.weights)
    data = make_data(load_npz(cfg.data), input_format=cfg.input_format, name=cfg.data.stem)
    name = cfg.model.rpartition(":")[2]
    return compress_module(model, data, cfg.method, cfg.params, seed=s, pretrained=cfg.pretrained,
                           float_epochs=cfg.float_epochs, name=name, progress=progress)
