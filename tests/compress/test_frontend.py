"""The front end on a user's own model and data: input formats, pretrained weights, DataLoaders,
and one clear line for every mistake (data, labels, model file, state_dict, config, --set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import zerogate
from compress.frontend import compress_module
from compress.runconfig import parse_run_config
from compress.usercli import parse_set
from compress.userdata import make_data
from compress.usermodel import load_model, load_weights
from zerogate.errors import ConfigError, IRError, UserError
from zerogate.fixedpoint import FixedFormat, count_clipped, format_for, parse_format, quantize_real

TINY = {"sparsity": 0.5, "prune_steps": 1, "finetune_epochs": 1, "qat_epochs": 1}


def _data(n: int = 96, features: int = 6, classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.standard_normal((n, features)) + y[:, None]).astype(np.float32)
    return {"x_train": x[:64], "y_train": y[:64], "x_test": x[64:], "y_test": y[64:]}


def _mlp(features: int = 6, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, classes))


def test_format_notation_round_trips() -> None:
    assert parse_format("s8.4") == FixedFormat(8, 4, True)
    assert parse_format("u5.4") == FixedFormat(5, 4, False)
    assert parse_format("s8.-2") == FixedFormat(8, -2, True)
    assert str(parse_format("u12.10")) == "u12.10"
    for bad in ("8.4", "s8", "x8.4", "s8.4.1", ""):
        with pytest.raises(IRError, match="s<bits>.<frac>"):
            parse_format(bad)


def test_input_format_comes_from_the_whole_training_set() -> None:
    d = _data()
    d["x_train"][-1, 0] = 30.0  # the peak is in the last sample, not the first batch
    data = make_data(d)
    assert data.input_format == format_for(d["x_train"]) == FixedFormat(8, 2, True)
    assert count_clipped(d["x_train"], data.input_format) == 0
    assert data.clipped == count_clipped(d["x_test"], data.input_format)


def test_a_set_input_format_is_used_and_its_clipping_counted() -> None:
    d = _data()
    fmt = FixedFormat(6, 4, True)  # +-2: many values of the data saturate
    data = make_data(d, input_format=fmt)
    want = count_clipped(d["x_train"], fmt) + count_clipped(d["x_test"], fmt)
    assert data.input_format == fmt and data.clipped == want > 10
    assert np.array_equal(data.test_int, quantize_real(d["x_test"], fmt))
    c = zerogate.compress_model(_mlp(), zerogate.Data(**d), "taylor", TINY, input_format="s6.4",
                                pretrained=False, float_epochs=2)
    assert c.input_format == fmt and c.clipped_inputs == want and c.net.input == fmt


def test_pretrained_model_is_fine_tuned_not_retrained() -> None:
    d = _data()
    model = _mlp()
    with torch.no_grad():  # the model's own accuracy, before any change
        own = float((model(torch.from_numpy(d["x_test"])).argmax(1).numpy() == d["y_test"]).mean())
    events: list = []
    res = compress_module(model, make_data(d), "taylor", TINY, progress=events.append)
    assert res.float_accuracy == own
    assert not any(e.phase.startswith("float") for e in events)
    assert res.net.metadata["pretrained"] is True and res.net.metadata["float_epochs"] == 0
    events.clear()
    compress_module(model, make_data(d), "taylor", TINY, pretrained=False, float_epochs=3,
                    progress=events.append)
    assert [e.phase for e in events if e.phase == "float"] == ["float"] * 3


def test_dataloaders_give_the_same_ir_as_arrays() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    d = _data()

    def loader(split: str) -> DataLoader:
        ds = TensorDataset(torch.from_numpy(d[f"x_{split}"]), torch.from_numpy(d[f"y_{split}"]))
        return DataLoader(ds, batch_size=10)

    a = zerogate.compress_model(_mlp(), zerogate.Data(**d), "sequential", TINY, pretrained=False,
                                float_epochs=2)
    b = zerogate.compress_model(_mlp(), zerogate.Data.from_loaders(loader("train"), loader("test")),
                                "sequential", TINY, pretrained=False, float_epochs=2)
    for x, y in zip(a.net.weight_layers, b.net.weight_layers, strict=True):
        assert np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
    assert a.accuracy == b.accuracy


def test_validation_split_is_scored(tmp_path: Path) -> None:
    d = _data()
    c = zerogate.compress_model(_mlp(), zerogate.Data(**d, x_val=d["x_test"], y_val=d["y_test"]), "taylor",
                                TINY, pretrained=False, float_epochs=2)
    assert c.val_accuracy == c.accuracy
    c.save(tmp_path / "out")
    assert zerogate.ir.load(tmp_path / "out" / "ir").name == "Sequential"


def _bad(**edit: object) -> dict:
    d = _data()
    d.update(edit)
    return d


@pytest.mark.parametrize(("data", "match"), [
    (_bad(x_train=np.zeros(6, np.float32)),
     r"x_train has shape \(6,\): expected a batch \[n, \*sample_shape\]"),
    (_bad(y_train=np.zeros(63, np.int64)), "y_train has 63 labels for 64 samples"),
    (_bad(y_train=np.zeros(64, np.float64)), "labels must be integer class indices"),
    (_bad(y_train=-np.ones(64, np.int64)), "negative label"),
    (_bad(y_train=np.zeros((64, 3), np.int64)), "one-hot"),
    (_bad(x_test=np.zeros((4, 5), np.float32)), r"x_test has samples of shape \(5,\), x_train's are \(6,\)"),
    (_bad(x_train=np.full((64, 6), np.nan, np.float32)), "NaN"),
    (_bad(y_test=None), "no y_test"),
])
def test_bad_data_is_one_clear_line(data: dict, match: str) -> None:
    with pytest.raises(UserError, match=match) as e:
        make_data(data)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("model", "data", "match"), [
    (_mlp(features=5), _data(), r"x_train has shape \[64, 6\], the model expects \[n, 5\]"),
    (_mlp(classes=2), _data(), "labels go up to 2 but the model has 2 outputs"),
    ("not a model", _data(), "model must be a torch.nn.Module"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), _data(), r"expects \[n, 1, height, width\]"),
])
def test_model_that_does_not_fit_the_data(model: object, data: dict, match: str) -> None:
    with pytest.raises(UserError, match=match) as e:
        compress_module(model, make_data(data), "taylor", TINY)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


MODEL_FILE = """
import torch
from torch import nn

def good():
    return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))

def raising():
    raise RuntimeError("no GPU here")

def not_a_module():
    return 42
"""


@pytest.mark.parametrize(("spec", "match"), [
    ("missing.py:good", "model file .*missing.py does not exist"),
    ("m.py:nope", r"m.py has no function 'nope'; found: good, not_a_module, raising"),
    ("m.py:raising", r"raising\(\) raised RuntimeError: no GPU here"),
    ("m.py:not_a_module", r"not_a_module\(\) returned int, not a torch.nn.Module"),
    ("m.py", "is not PATH.py:FACTORY"),
    ("broken.py:f", "importing it raised SyntaxError"),
])
def test_model_file_errors(spec: str, match: str, tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MODEL_FILE)
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(ConfigError, match=match) as e:
        load_model(spec, tmp_path)
    assert "\n" not in str(e.value)


def test_state_dict_errors(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(MODEL_FILE)
    model = load_model("m.py:good", tmp_path)
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    load_weights(load_model("m.py:good", tmp_path), tmp_path / "ok.pt")
    torch.save(nn.Linear(6, 4).state_dict(), tmp_path / "other.pt")
    torch.save({**model.state_dict(), "0.weight": torch.zeros(5, 6)}, tmp_path / "shape.pt")
    torch.save(model, tmp_path / "whole.pt")
    for name, match in [("other.pt", "does not fit the model .*missing 0.bias"),
                        ("shape.pt", r"0.weight has shape"), ("whole.pt", "weights_only=True"),
                        ("none.pt", "does not exist")]:
        with pytest.raises(ConfigError, match=match) as e:
            load_weights(model, tmp_path / name)
        assert "\n" not in str(e.value)


def test_run_config_resolves_a_user_model_relative_to_the_file(tmp_path: Path) -> None:
    doc = {"run": {"model": "m.py:good", "method": "taylor", "data": "d.npz", "weights": "w.pt",
                   "input_format": "u8.6"}, "method": {"sparsity": 0.5}}
    cfg = parse_run_config(doc, tmp_path / "run.toml")
    assert cfg.model == f"{tmp_path / 'm.py'}:good" and cfg.data == tmp_path / "d.npz"
    assert cfg.weights == tmp_path / "w.pt" and cfg.pretrained
    assert cfg.input_format == FixedFormat(8, 6, False)
    assert cfg.params.sparsity == 0.5


@pytest.mark.parametrize(("run", "match"), [
    ({"model": "m.py:good", "method": "taylor"}, "needs data"),
    ({"model": "digits-mlp", "method": "taylor", "data": "d.npz"}, "data is for your own model"),
    ({"model": "m.py:good", "method": "taylor", "data": "d.npz", "input_format": "q8"}, "s<bits>.<frac>"),
    ({"model": "m.py:good", "method": "taylor", "data": "d.npz", "pretrained": 1},
     "pretrained must be a bool"),
    ({"model": "resnet", "method": "taylor"}, "or your own as file.py:factory"),
])
def test_run_config_errors(run: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_run_config({"run": run})


def test_set_values_are_toml() -> None:
    assert parse_set(["sparsity=0.9", "precisions=[0, 4, 8]", "importance=magnitude", 'cost="size"',
                      "distill=0"]) == {"sparsity": 0.9, "precisions": [0, 4, 8], "importance": "magnitude",
                                        "cost": "size", "distill": 0}
    for bad in ("sparsity", "=3", "x=[1,"):
        with pytest.raises(ConfigError, match="--set"):
            parse_set([bad])
