"""Five models a user brings (tests/usermodels.py), each compressed by a method through the Python
API and through ``zerogate compress --model``: the same IR either way, and bit-exact on Verilator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zerogate
from tests import usermodels as um
from zerogate import golden, ir

ROOT = Path(__file__).parents[2]


def _zerogate(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "zerogate", *args], cwd=cwd, capture_output=True, text=True,
                       env=env, timeout=900)
    assert (p.returncode == 0) == ok, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    return p


def _weights(tmp: Path) -> Path:
    path = tmp / "cancer.pt"
    if not path.is_file():
        um.train_cancer_weights(path)
    return path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case compressed through the API (cached for the module)."""
    tmp = tmp_path_factory.mktemp("api")
    out = {}
    for name, (factory, data, method, params) in um.CASES.items():
        model = getattr(um, factory)()
        pretrained = name == "cancer-state-dict"
        if pretrained:
            model.load_state_dict(torch.load(_weights(tmp), weights_only=True))
        out[name] = zerogate.compress_model(model, zerogate.Data(**getattr(um, data)()), method, params,
                                            pretrained=pretrained, float_epochs=um.FLOAT_EPOCHS, seed=0)
    return out


@pytest.mark.parametrize("name", um.CASES)
def test_api_result_is_checked(name: str, api: dict[str, Any]) -> None:
    c = api[name]
    factory, data, method, _ = um.CASES[name]
    d = getattr(um, data)()
    assert c.golden_matches_torch and c.method == method
    assert c.accuracy == np.mean(golden.predict(c.net, c.test_x) == d["y_test"])
    assert c.accuracy > 1.5 / len(np.unique(d["y_train"]))  # well above chance, even after tiny training
    assert np.array_equal(c.test_x, golden.check_input(c.net, c.quantize(d["x_test"])))
    assert np.array_equal(c.predict(d["x_test"]), c.predict(c.test_x))  # reals quantized for you
    assert c.net.metadata["params"] == c.params and c.net.metadata["method"] == method


def _same_layers(a: ir.Network, b: ir.Network) -> bool:
    return a.input == b.input and all(
        np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias) and x.output == y.output
        and np.array_equal(x.shift, y.shift) for x, y in zip(a.weight_layers, b.weight_layers, strict=True))


def _cli_compress(name: str, tmp: Path) -> Path:
    factory, data, method, params = um.CASES[name]
    np.savez(tmp / "data.npz", **getattr(um, data)())
    sets = [f"--set={k}={json.dumps(v)}" for k, v in params.items()]
    extra = ["--weights", str(_weights(tmp))] if name == "cancer-state-dict" else [
        "--float-epochs", str(um.FLOAT_EPOCHS)]
    p = _zerogate("compress", "--model", f"{um.FILE}:{factory}", "--data", "data.npz", "--method", method,
                  *sets, *extra, "--out", "c", cwd=tmp)
    assert "torch == golden: True" in p.stdout and "input values clipped" in p.stdout
    return tmp / "c"


@pytest.mark.parametrize("name", um.CASES)
def test_cli_gives_the_api_ir(name: str, api: dict[str, Any], tmp_path: Path) -> None:
    """``zerogate compress --model FILE:FACTORY --data --method --set`` = the API, integer for integer."""
    out = _cli_compress(name, tmp_path)
    net = ir.load(out / "ir")
    assert _same_layers(net, api[name].net)
    with np.load(out / "testset.npz") as z:
        assert np.array_equal(z["x"], api[name].test_x) and np.array_equal(z["y"], api[name].test_y)


@pytest.mark.slow
@pytest.mark.parametrize("name", um.CASES)
def test_api_ir_bit_exact_on_verilator(name: str, api: dict[str, Any], tmp_path: Path) -> None:
    c = api[name]
    design = zerogate.generate(c, tmp_path / "rtl")
    r = zerogate.simulate(design, c, c.test_x[:20], tmp_path / "sim")
    assert (r.n_vectors, r.n_match) == (20, 20), r.summary()


@pytest.mark.slow
def test_cli_build_with_vectors_reports_the_models_own_accuracy(api: dict[str, Any], tmp_path: Path) -> None:
    out = _cli_compress("conv1d", tmp_path)
    _zerogate("build", "--ir", str(out / "ir"), "--vectors", str(out / "testset.npz"), "--no-synth",
              "--out", "b", cwd=tmp_path)
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    n = len(api["conv1d"].test_x)
    assert rep["sim"]["matches"] == rep["sim"]["vectors"] == rep["golden"]["vectors"] == n
    assert rep["golden"]["accuracy"] == api["conv1d"].accuracy
    assert "sequential" in (tmp_path / "b" / "report.md").read_text()


@pytest.mark.slow
def test_cli_build_without_vectors_claims_no_accuracy(tmp_path: Path, api: dict[str, Any]) -> None:
    """A 13-input IR without vectors: seeded random and worst-case inputs, no accuracy at all."""
    api["wine-mlp"].save(tmp_path / "c")
    _zerogate("build", "--ir", "c/ir", "--no-synth", "--out", "b", cwd=tmp_path)
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["golden"]["accuracy"] is None
    assert rep["sim"]["matches"] == rep["sim"]["vectors"] == rep["golden"]["vectors"] > 200
    md = (tmp_path / "b" / "report.md").read_text()
    assert "not measured: the vectors are" in md and "seeded random and worst-case" in md
    with np.load(tmp_path / "b" / "testset.npz") as z:
        assert set(z.files) == {"x"} and z["x"].shape[1:] == (13,)
