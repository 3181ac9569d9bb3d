"""The embedded default, end to end: digits -> float MLP -> pruned -> QAT -> IR, checked.

Phases: dense float training; iterative global magnitude pruning along a cubic ramp, each
step fine-tuned with a rewound cosine learning rate and distillation from the dense model;
activation-format calibration; quantization-aware training with the masks frozen; export.

The result carries the IR together with the evidence the rest of the flow relies on: the
quantized accuracy measured by the golden model, and whether the PyTorch reference agreed
with the golden model on every integer of every layer over the whole test split.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from compress.config import DigitsMLPConfig, ProgressCallback
from compress.data import INPUT_FORMAT, N_CLASSES, N_FEATURES, load_digits_split
from compress.export import export_network
from compress.quant import QuantMLP
from compress.reference import reference_trace
from compress.train import (
    Batches,
    Distill,
    accuracy,
    deterministic,
    prune_finetune,
    train_float,
    train_qat,
)
from zerogate import golden
from zerogate.ir import Network

__all__ = ["CompressResult", "DigitsMLPConfig", "compress_digits_mlp", "golden_mismatches"]


@dataclass(frozen=True, eq=False)
class CompressResult:
    """The IR plus what was measured while making it (accuracies are fractions in [0, 1])."""

    net: Network
    float_accuracy: float  # dense float model
    pruned_accuracy: float  # pruned float model, before quantization
    quant_accuracy: float  # golden model on the exported IR
    torch_matches_golden: bool  # every layer, every test sample, every integer
    sparsity: float  # zero weights in the IR (quantization may add a few beyond the mask)
    test_x: np.ndarray  # int64 [n, 64] input integers
    test_y: np.ndarray  # int64 [n]
    train_seconds: float
    model: QuantMLP  # the trained torch model (float32), for further experiments


def golden_mismatches(model: QuantMLP, net: Network, x_int: np.ndarray) -> int:
    """Number of integers (all layers) where the PyTorch reference and the golden model differ."""
    ref = reference_trace(model, x_int)
    gold = golden.trace(net, x_int)
    return sum(int(np.count_nonzero(r != t.out)) for r, t in zip(ref, gold, strict=True))


def _ir_sparsity(net: Network) -> float:
    n = sum(ly.n_weights for ly in net.layers)
    return 1.0 - sum(ly.nnz for ly in net.layers) / n


def compress_digits_mlp(cfg: DigitsMLPConfig, progress: ProgressCallback | None = None) -> CompressResult:
    """Train, prune, quantize and export the digits MLP described by ``cfg``; deterministic in
    ``cfg.seed`` (same seed, same IR integers).
    """
    t0 = time.perf_counter()
    split = load_digits_split(cfg.seed, cfg.test_fraction)
    x_tr = torch.from_numpy(split.x_train)
    y_tr = torch.from_numpy(split.y_train)
    x_te = torch.from_numpy(split.x_test)
    y_te = torch.from_numpy(split.y_test)
    data = Batches(x_tr, y_tr, cfg.batch_size)
    with deterministic(cfg.seed):
        gen = torch.Generator().manual_seed(cfg.seed)
        model = QuantMLP(
            N_FEATURES, cfg.hidden, N_CLASSES, input_format=INPUT_FORMAT,
            weight_bits=cfg.weight_bits, act_bits=cfg.act_bits, output_bits=cfg.output_bits,
        )
        train_float(model, data, cfg.float_epochs, cfg.lr, generator=gen, progress=progress)
        float_acc = accuracy(model, x_te, y_te)
        kd = Distill(copy.deepcopy(model), cfg.distill, cfg.temperature) if cfg.distill else None
        prune_finetune(
            model, data, target=cfg.target_sparsity, steps=cfg.prune_steps,
            epochs_per_step=cfg.prune_epochs, lr=cfg.prune_lr, scope=cfg.prune_scope,
            generator=gen, progress=progress, distill=kd,
        )
        pruned_acc = accuracy(model, x_te, y_te)
        train_qat(model, data, cfg.qat_epochs, cfg.qat_lr, generator=gen, progress=progress, distill=kd)
    seconds = time.perf_counter() - t0
    meta = {
        "method": cfg.method,
        "dataset": "sklearn-digits",
        "seed": cfg.seed,
        "hidden": list(cfg.hidden),
        "float_accuracy": float_acc,
        "pruned_accuracy": pruned_acc,
        "target_sparsity": cfg.target_sparsity,
        "prune_scope": cfg.prune_scope,
        "distill": cfg.distill,
        "weight_bits": cfg.weight_bits,
        "act_bits": cfg.act_bits,
    }
    net = export_network(model, "digits_mlp", meta)
    quant_acc = float(np.mean(golden.predict(net, split.test_int) == split.y_test))
    sparsity = _ir_sparsity(net)
    net = Network(
        name=net.name, input=net.input, in_features=net.in_features, layers=net.layers,
        metadata={**meta, "quant_accuracy": quant_acc, "sparsity": sparsity},
    )
    return CompressResult(
        net=net,
        float_accuracy=float_acc,
        pruned_accuracy=pruned_acc,
        quant_accuracy=quant_acc,
        torch_matches_golden=golden_mismatches(model, net, split.test_int) == 0,
        sparsity=sparsity,
        test_x=split.test_int,
        test_y=split.y_test,
        train_seconds=seconds,
        model=model,
    )
