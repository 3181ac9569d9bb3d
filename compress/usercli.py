"""``zerogate compress --model PATH.py:FACTORY --data DATA.npz --method NAME [--set KEY=VALUE ...]``
as a :class:`~compress.runconfig.RunConfig`: the same keys as a TOML run config, so both paths
share one check (:func:`~compress.runconfig.parse_run_config`). Torch-free: a bad option fails
before torch loads."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from compress.runconfig import RunConfig, parse_run_config, read_toml
from zerogate.errors import ConfigError

__all__ = ["parse_set", "run_config_from_args"]


def parse_set(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each value a TOML scalar or array (``0.9``, ``[0, 4, 8]``, ``"taylor"``);
    a bare word that is not TOML is taken as a string (``importance=magnitude``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE (e.g. --set sparsity=0.9)")
        try:
            out[key] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            if not text.strip().replace("_", "").replace("-", "").isalnum():
                raise ConfigError(f"--set {item!r}: {text!r} is not a TOML value (quote strings, "
                                  "write lists as [0, 4, 8])") from None
            out[key] = text.strip()
    return out


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run the ``compress`` options describe (``--config`` file or ``--model`` options)."""
    sets = parse_set(args.set)
    if args.config is not None:
        if args.model is not None:
            raise ConfigError("pass either --config FILE or --model PATH.py:FACTORY, not both")
        for flag in ("weights", "data", "method", "input_format", "float_epochs"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')} goes with --model; in a config, set it in "
                                  "[run]")
        doc = read_toml(args.config)
        if sets:
            doc = {**doc, "method": {**doc.get("method", {}), **sets}}
        return parse_run_config(doc, args.config)
    run: dict[str, Any] = {"model": args.model, "method": args.method or "taylor"}
    if args.data is not None:
        run["data"] = str(args.data)
    if args.weights is not None:
        run["weights"] = str(args.weights)
    if args.input_format is not None:
        run["input_format"] = args.input_format
    if args.float_epochs is not None:
        run["float_epochs"] = args.float_epochs
    return parse_run_config({"run": run, "method": sets}, base=Path.cwd())
