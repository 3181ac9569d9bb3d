"""What every compression method shares: the data, the float pre-training, the prune / fine-tune
loops, and :func:`finish`, which turns a compressed :class:`~compress.qnet.QuantNet` into a
checked :class:`MethodResult`. :mod:`compress.frontend` runs a method on any model with them.

Why one ``finish``: every method's numbers must mean the same thing. Accuracy is the golden model
on the exported IR over the test split (not the torch forward), memory is
:func:`zerogate.metrics.network_stats` of that IR, and the ratios divide ``32·N`` / ``8·N`` by
it with ``N`` the float model's weight slots before any channel was removed (so removed channels
count as saved, as in ``bench/compress.py``). ``reference_mismatches`` counts the integers where
the float64 PyTorch reference differs from the golden model, on every IR node and test sample:
anything but 0 is a bug.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from compress.config import MAX_COMPRESS_WEIGHT_BITS, ProgressCallback, ProgressEvent, _float, _int
from compress.prune import _keep_mask, apply_masks
from compress.qnet import QuantNet
from compress.quant import QuantWeightLayer
from compress.train import Batches, Distill, train_epochs
from zerogate.errors import ConfigError
from zerogate.fixedpoint import MAX_BITS, MIN_WEIGHT_BITS, FixedFormat

__all__ = ["FLOAT_EPOCHS", "FLOAT_LR", "Data", "MethodParams", "MethodResult", "finish", "float_model",
           "global_masks", "load_data", "masked_train", "pretrain", "prune_finetune", "qat",
           "to_qnet"]

#: Float pre-training before any method (AdamW, cosine decay, batch 64): the same recipe as
#: method 2's, so every method starts from the identical float model for a given seed.
FLOAT_EPOCHS, FLOAT_LR, FLOAT_BATCH = 40, 1e-2, 64


@dataclass(frozen=True, eq=False)
class Data:
    """A data set as training tensors plus the integer test vectors (a bundled one, or a user's
    from :mod:`compress.userdata`)."""

    name: str
    x_train: torch.Tensor  # float32 real values
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    test_int: np.ndarray  # int64 input integers of the test split (what the hardware sees)
    test_labels: np.ndarray
    input_format: FixedFormat
    clipped: int = 0  # input values the format saturates (train, validation and test together)
    val_int: np.ndarray | None = None  # int64 input integers of the validation split, if any
    val_labels: np.ndarray | None = None

    def batches(self, batch_size: int) -> Batches:
        return Batches(self.x_train, self.y_train, batch_size)


def load_data(model: str) -> Data:
    """The data of ``compress.models.MODELS[model]`` (split seed 0: the split never varies)."""
    from compress.models import MODELS

    ds = MODELS[model].load(0)
    return Data(ds.name, torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train),
                torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test), ds.test_int, ds.y_test,
                ds.input_format)


#: (model, seed, epochs) -> (float state, test accuracy, seconds the training took).
_FLOAT_CACHE: dict[tuple[str, int, int], tuple[dict[str, torch.Tensor], float, float]] = {}


def pretrain(model: nn.Module, data: Data, seed: int, epochs: int = FLOAT_EPOCHS,
             progress: ProgressCallback | None = None) -> None:
    """Float training of ``model`` in place from ``seed`` (AdamW, cosine decay, batch 64): what
    every method starts from when the model is not already trained."""
    from compress.train import deterministic

    with deterministic(seed):
        train_epochs(model, data.batches(FLOAT_BATCH), epochs, FLOAT_LR,
                     generator=torch.Generator().manual_seed(seed), phase="float", progress=progress)


def float_model(model: str, data: Data, seed: int, epochs: int = FLOAT_EPOCHS,
                progress: ProgressCallback | None = None) -> tuple[nn.Module, float, float]:
    """Bundled ``model`` trained from ``seed``, its test accuracy and the seconds the training
    took; cached in memory per ``(model, seed, epochs)`` so a sweep over budgets trains it once
    (a fresh copy each call)."""
    from compress.models import MODELS
    from compress.train import accuracy, deterministic

    key = (model, seed, epochs)
    if key not in _FLOAT_CACHE:
        t0 = time.perf_counter()
        with deterministic(seed):
            m = MODELS[model].build()
        pretrain(m, data, seed, epochs, progress)
        _FLOAT_CACHE[key] = (copy.deepcopy(m.state_dict()), accuracy(m, data.x_test, data.y_test),
                             time.perf_counter() - t0)
    elif progress is not None:
        progress(ProgressEvent(phase="float (cached)", completed=epochs, total=epochs, loss=float("nan")))
    with deterministic(seed):
        m = MODELS[model].build()
    state, acc, seconds = _FLOAT_CACHE[key]
    m.load_state_dict(copy.deepcopy(state))
    return m.eval(), acc, seconds


def to_qnet(model: nn.Module, data: Data, act_bits: int, weight_bits: int = 8) -> QuantNet:
    """Trace the float ``model`` into a QuantNet (float mode; calibrate before quantizing)."""
    from compress.trace import from_module

    return from_module(model, data.x_train[:256], input_format=data.input_format, act_bits=act_bits,
                       weight_bits=weight_bits)


@torch.no_grad()
def global_masks(layers: list[QuantWeightLayer], scores: list[torch.Tensor], sparsity: float,
                 zero_pruned: bool = True) -> None:
    """Keep the largest ``scores`` over all layers together so ``sparsity`` of all weights are 0.

    With ``zero_pruned`` the stored pruned weights are zeroed too, so (scoring them 0) masks only
    grow along a ramp; without it a weight can come back when its score rises again. Every layer
    keeps at least its one best weight: an emptied layer would make the output a constant.
    """
    flat = torch.cat([s.flatten() for s in scores])
    keep = _keep_mask(flat, sparsity)
    pos = 0
    for ly, s in zip(layers, scores, strict=True):
        k = keep[pos : pos + s.numel()].view_as(s)
        if not bool(k.any()):
            k.view(-1)[int(s.flatten().argmax())] = 1.0
        ly.mask.copy_(k)
        pos += s.numel()
    if zero_pruned:
        apply_masks(layers)


def masked_train(qnet: QuantNet, data: Batches, epochs: int, lr: float, *, generator: torch.Generator,
                 phase: str, progress: ProgressCallback | None, distill: Distill | None = None) -> float:
    """Train with the masks frozen (pruned weights re-zeroed after every step)."""
    layers = qnet.weight_layers()
    return train_epochs(qnet, data, epochs, lr, generator=generator, phase=phase, progress=progress,
                        after_step=lambda: apply_masks(layers), distill=distill)


def prune_finetune(qnet: QuantNet, data: Batches, schedule: list[float],
                   score: Callable[[], list[torch.Tensor]], *, epochs: int, lr: float,
                   generator: torch.Generator, progress: ProgressCallback | None,
                   distill: Distill | None = None) -> None:
    """Iterative pruning in float mode: per sparsity of ``schedule``, rank by ``score()`` (one
    tensor per weight layer), set the global masks, fine-tune ``epochs``."""
    qnet.set_quant(False)
    layers = qnet.weight_layers()
    for k, s in enumerate(schedule):
        global_masks(layers, score(), s)
        masked_train(qnet, data, epochs, lr, generator=generator, phase=f"prune {k + 1}/{len(schedule)}",
                     progress=progress, distill=distill)


def qat(qnet: QuantNet, data: Batches, weight_bits: int, epochs: int, lr: float, *,
        generator: torch.Generator, progress: ProgressCallback | None,
        distill: Distill | None = None) -> None:
    """Set every channel to ``weight_bits``, calibrate, quantization-aware train with the masks
    frozen; leaves the net calibrated with quantization off (what export expects)."""
    for ly in qnet.weight_layers():
        ly.set_bits(torch.where(ly.bits == 0, 0, weight_bits))
    qnet.set_quant(False)
    qnet.calibrate(data.x)
    qnet.set_quant(True)
    if epochs:
        masked_train(qnet, data, epochs, lr, generator=generator, phase="qat", progress=progress,
                     distill=distill)
    qnet.set_quant(False)  # calibrated as trained: export computes exactly the trained network


@dataclass(frozen=True, eq=False)
class MethodResult:
    """The IR of one compression run and what was measured making it (accuracies are fractions)."""

    method: str
    model: str
    net: Any  # zerogate.ir.Network, validated
    float_accuracy: float
    accuracy: float  # golden model on the IR, test split
    sparsity: float  # zero weights / the float model's weight slots
    memory_bits: int  # zerogate.metrics.network_stats(net).memory_bits
    ratio_vs_float32: float  # 32·N / memory_bits, N = the float model's weight slots
    ratio_vs_int8: float
    train_seconds: float  # from scratch: float pre-training (as measured when it ran) + the method + checks
    reference_mismatches: int  # torch reference vs golden, every node and test sample: must be 0
    test_x: np.ndarray  # int64 input integers of the test split
    test_y: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)
    input_format: FixedFormat | None = None  # the network input's format (how reals become integers)
    clipped_inputs: int = 0  # data values that format saturates (train, validation and test)

    @property
    def network(self) -> Any:
        return self.net

    @property
    def compressed_accuracy(self) -> float:
        return self.accuracy

    @property
    def torch_matches_golden(self) -> bool:
        return self.reference_mismatches == 0

    @property
    def reduction_vs_float32(self) -> float:
        return 1.0 - 1.0 / self.ratio_vs_float32

    def summary(self) -> str:
        return (f"{self.model} / {self.method}: float {self.float_accuracy:.2%} -> IR {self.accuracy:.2%}, "
                f"sparsity {self.sparsity:.1%}, {self.memory_bits} bits ({self.ratio_vs_float32:.1f}x vs "
                f"float32, {self.reduction_vs_float32:.2%} less), torch == golden: "
                f"{self.torch_matches_golden}, {self.train_seconds:.1f} s"
                + (f"; {self.net.metadata['dropped_head']}" if self.net.metadata.get("dropped_head") else ""))


def finish(qnet: QuantNet, model_name: str, method: str, data: Data, float_acc: float, t0: float,
           extra: Mapping[str, Any] | None = None) -> MethodResult:
    """Export ``qnet`` (calibrated) to the IR and measure it: golden accuracy, memory, and the
    torch-reference == golden check on the whole test split."""
    from compress.export import export_net
    from compress.reference import reference_trace
    from zerogate import golden
    from zerogate.metrics import network_stats

    seconds = time.perf_counter() - t0
    n = sum(ly.weight.numel() for ly in qnet.weight_layers())
    meta = {"model": model_name, "method": method, "dataset": data.name, "float_accuracy": float_acc,
            **dict(extra or {})}
    net = export_net(qnet, model_name, meta)  # export makes the name an identifier
    acc = float(np.mean(golden.predict(net, data.test_int) == data.test_labels))
    ref, gold = reference_trace(qnet, data.test_int), golden.trace(net, data.test_int)
    bad = sum(int(np.count_nonzero(r != t.out)) if r.shape == t.out.shape else r.size
              for r, t in zip(ref, gold, strict=True))
    st = network_stats(net)
    return MethodResult(method=method, model=model_name, net=net, float_accuracy=float_acc, accuracy=acc,
                        sparsity=1.0 - st.nnz / n, memory_bits=st.memory_bits,
                        ratio_vs_float32=32 * n / st.memory_bits, ratio_vs_int8=8 * n / st.memory_bits,
                        train_seconds=seconds, reference_mismatches=bad, test_x=data.test_int,
                        test_y=data.test_labels, extra=dict(extra or {}), input_format=data.input_format,
                        clipped_inputs=data.clipped)



# --- parameters shared by the methods -------------------------------------

#: Range check per parameter name, applied to every params field of that name.
_RULES: dict[str, Callable[[str, Any], None]] = {
    "sparsity": lambda n, v: _float(n, v, 0.0, 1.0, "[)"),
    "weight_bits": lambda n, v: _int(n, v, MIN_WEIGHT_BITS, MAX_COMPRESS_WEIGHT_BITS),
    "act_bits": lambda n, v: _int(n, v, 2, MAX_BITS),
    **{k: (lambda n, v: _int(n, v, 1)) for k in ("prune_steps", "score_batches", "epochs", "ramp_epochs",
                                                  "batch_size")},
    **{k: (lambda n, v: _int(n, v, 0)) for k in ("finetune_epochs", "qat_epochs")},
    **{k: (lambda n, v: _float(n, v, 0.0, 10.0, "(]")) for k in ("lr", "qat_lr")},
    "distill": lambda n, v: _float(n, v, 0.0, 1.0, "[]"),
    "temperature": lambda n, v: _float(n, v, 0.0, 100.0, "(]"),
}


class MethodParams:
    """Base of the methods' frozen params dataclasses: range checks by field name on creation
    (one-line ConfigErrors) and :meth:`from_dict` for a config's ``[method]`` table."""

    METHOD: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            rule = _RULES.get(f.name)
            if rule is not None:
                rule(f.name, getattr(self, f.name))
        self.check()

    def check(self) -> None:
        """Checks beyond one field's range (a subclass's)."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """``cls(**d)``; unknown keys are one ConfigError naming them (TOML lists become tuples)."""
        known = sorted(f.name for f in fields(cls))  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"[method] unknown key {unknown[0]!r} for method {cls.METHOD!r}; "
                              f"known: {', '.join(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
