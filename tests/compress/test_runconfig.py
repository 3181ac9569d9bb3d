"""The TOML run config: what loads, and the one-line error of every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.methods.mixed import MixedParams
from compress.runconfig import load_run_config
from zerogate.errors import ConfigError

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.toml"))

GOOD = """
[run]
model = "digits-mlp"
method = "mixed"
seed = 7
out = "build/x"

[method]
precisions = [0, 4, 8]
lambda = 2.5
search_epochs = 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.toml"
    p.write_text(text)
    return p


def test_good_config(tmp_path: Path) -> None:
    cfg = load_run_config(_write(tmp_path, GOOD))
    assert (cfg.model, cfg.method, cfg.seed, cfg.out) == ("digits-mlp", "mixed", 7, Path("build/x"))
    assert cfg.params == MixedParams(precisions=(0, 4, 8), lam=2.5, search_epochs=3)


def test_defaults(tmp_path: Path) -> None:
    cfg = load_run_config(_write(tmp_path, '[run]\nmodel = "kws1d"\nmethod = "mixed"\n'))
    assert (cfg.seed, cfg.out, cfg.params) == (0, None, MixedParams())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    assert load_run_config(path).source == path


@pytest.mark.parametrize(("text", "msg"), [
    (GOOD.replace("[0, 4, 8]", "[0, 1, 8]"), r"precisions: 1 bits is out of range; use 0 \(pruned\) or 2..8"),
    (GOOD.replace("[0, 4, 8]", "[0, 12]"), "12 bits is out of range"),
    (GOOD.replace("2.5", "-1.0"), "λ must be >= 0"),
    (GOOD.replace('"mixed"', '"magic"'), "unknown method 'magic'; choose one of"),
    (GOOD.replace('"digits-mlp"', '"resnet50"'), "unknown model 'resnet50'; choose one of"),
    (GOOD.replace("seed = 7", "seed = \"7\""), r"\[run\] seed must be a int"),
    (GOOD.replace("seed = 7", "sed = 7"), r"\[run\] unknown key 'sed'"),
    (GOOD.replace("lambda = 2.5", "lamda = 2.5"), r"\[method\] unknown key 'lamda'"),
    (GOOD.replace("search_epochs = 3", "search_epochs = \"3\""), "search_epochs must be an integer"),
    (GOOD.replace("[method]", "[methd]"), r"unknown table \[methd\]"),
    (GOOD.replace('model = "digits-mlp"\n', ""), r"\[run\] is missing 'model'"),
    ('[method]\nlambda = 1.0\n', r"missing \[run\] table"),
    (GOOD.replace("lambda = 2.5", "lambda = "), r"invalid TOML: .*line 10, column 10"),
])
def test_bad_config(tmp_path: Path, text: str, msg: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=msg) as e:
        load_run_config(p)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(p))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_run_config(tmp_path / "nope.toml")
