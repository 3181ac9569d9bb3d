"""Tuned parameters per (method, model), with what they measured: the runs the docs quote.

``examples/cnn_taylor.toml`` and ``examples/cnn_wide_taylor.toml`` hold the same parameters as
run configs.
Measured with seed 0 on the test split (450 images; one image = 0.22 points), accuracy of the
exported IR by the golden model, memory by :func:`zerogate.metrics.network_stats`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_BUILD", "MEASURED", "PRESETS"]

#: What ``zerogate build`` (and ``nox -s build-hw``) compresses by default: method 1 on the digits
#: MLP; ``--sparsity`` and ``--weight-bits`` override those two keys. Measured (seeds 0 / 1):
#: float 96.22 / 96.00 % -> IR 95.78 / 94.67 %, 85 % sparse, 6-8 s on a shared 2-core machine.
#: Method 1 over method 3 because it stays closer to float across seeds at this budget (method 3:
#: 96.22 / 93.33 %, 13 s).
DEFAULT_BUILD: tuple[str, str, dict[str, Any]] = (
    "taylor", "digits-mlp", {"sparsity": 0.85, "weight_bits": 6})

#: name -> (method, model, [method] table).
PRESETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # The sparsest 4-bit point found within 1 point of float on digits-cnn.
    "taylor-digits-cnn": ("taylor", "digits-cnn", {
        "sparsity": 0.8, "prune_steps": 8, "finetune_epochs": 30, "qat_epochs": 60,
        "weight_bits": 4, "act_bits": 8, "importance": "taylor", "distill": 0.0,
    }),
    # digits-cnn-wide (32/64 channels): 97 % sparse 4-bit within 1 point of float, 98.67 % less
    # weight memory than float32 (the 98.5 % target; digits-cnn itself is too small for it).
    "taylor-digits-cnn-wide": ("taylor", "digits-cnn-wide", {
        "sparsity": 0.97, "prune_steps": 8, "finetune_epochs": 30, "qat_epochs": 60,
        "weight_bits": 4, "act_bits": 8, "importance": "taylor", "distill": 0.0,
    }),
}

#: name -> what the preset measured (fractions; bits; seconds on a shared 2-core machine).
MEASURED: dict[str, dict[str, float]] = {
    "taylor-digits-cnn": {"float_accuracy": 0.9778, "accuracy": 0.9711, "sparsity": 0.802,
                          "memory_bits": 4544, "reduction_vs_float32": 0.9238, "train_seconds": 14.3},
    "taylor-digits-cnn-wide": {"float_accuracy": 0.9889, "accuracy": 0.9867, "sparsity": 0.970,
                               "memory_bits": 9045, "reduction_vs_float32": 0.9867, "train_seconds": 39.8},
}
