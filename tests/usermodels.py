"""Models and data sets a user might bring, none of them bundled: the tests compress each with a
method through the API and through ``zerogate compress --model tests/usermodels.py:FACTORY``.

Tiny on purpose (a few hundred weights, a few epochs): the tests check the path and the
bit-exactness, not how well the models learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

FILE = Path(__file__)


def wine_mlp() -> nn.Module:
    """An MLP on scikit-learn's wine table (13 features, 3 classes)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(13, 12), nn.ReLU(), nn.Dropout(0.1), nn.Linear(12, 3))


class LeNet(nn.Module):
    """LeNet-style: two conv + ReLU + max-pool blocks, then two dense layers, on 1x8x8 digits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(6 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


def lenet() -> nn.Module:
    return LeNet()


def bn_cnn() -> nn.Module:
    """Conv -> BatchNorm -> ReLU -> average pooling -> dense, on 1x8x8 digits."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 3 * 3, 10))


def conv1d_net() -> nn.Module:
    """Two Conv1d blocks over a 2 x 32 signal, global max pooling, dense."""
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.BatchNorm1d(4), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(4, 6, 3), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
                         nn.Linear(6, 3))


def cancer_mlp() -> nn.Module:
    """An MLP for scikit-learn's breast-cancer table (30 features, 2 classes); its weights come from
    a saved state_dict."""
    return nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2))


def _split(x: np.ndarray, y: np.ndarray, seed: int, n_test: int) -> dict[str, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(len(x))
    te, tr = idx[:n_test], idx[n_test:]
    return {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te]}


def _standardized(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def wine_data() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_wine

    d = load_wine()
    return _split(_standardized(d.data), d.target.astype(np.int64), 0, 40)


def cancer_data() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return _split(_standardized(d.data), d.target.astype(np.int64), 0, 100)


def digits_images() -> dict[str, np.ndarray]:
    """Real-valued digits images in [0, 1], as a user would scale them (pixel / 16)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split((d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64), 0, 300)


def signals(n: int = 360) -> dict[str, np.ndarray]:
    """Three classes of noisy 2-channel tones (low, high, chirp), 32 samples each."""
    rng = np.random.default_rng(5)
    t = np.arange(32)
    y = np.arange(n) % 3
    f = np.where(y == 0, 0.06, 0.2)[:, None] + np.where(y == 2, 0.006, 0.0)[:, None] * t
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    a = np.sin(2 * np.pi * f * t + phase)
    x = np.stack([a, np.roll(a, 1, axis=1) * 0.7], axis=1) + 0.3 * rng.standard_normal((n, 2, 32))
    return _split(x.astype(np.float32), y.astype(np.int64), 1, 60)


def train_cancer_weights(path: Path) -> None:
    """Train :func:`cancer_mlp` briefly in float and save its state_dict at ``path``."""
    d = cancer_data()
    torch.manual_seed(6)
    m = cancer_mlp()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x, y = torch.from_numpy(d["x_train"]), torch.from_numpy(d["y_train"])
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    torch.save(m.state_dict(), path)


#: name -> (factory, data, method, tiny parameters of that method).
CASES: dict[str, tuple[str, str, str, dict]] = {
    "wine-mlp": ("wine_mlp", "wine_data", "taylor",
                 {"sparsity": 0.7, "prune_steps": 2, "finetune_epochs": 3, "qat_epochs": 3}),
    "lenet": ("lenet", "digits_images", "mixed", {"search_epochs": 3, "finetune_epochs": 2, "lambda": 2.0}),
    "bn-cnn": ("bn_cnn", "digits_images", "squantizer", {"sparsity": 0.6, "epochs": 4, "ramp_epochs": 2}),
    "conv1d": ("conv1d_net", "signals", "sequential",
               {"sparsity": 0.5, "prune_steps": 2, "finetune_epochs": 2, "qat_epochs": 2}),
    "cancer-state-dict": ("cancer_mlp", "cancer_data", "taylor",
                          {"sparsity": 0.75, "prune_steps": 2, "finetune_epochs": 2, "qat_epochs": 2,
                           "weight_bits": 5}),
}

#: Float epochs before the method for the models that start untrained (all but the state_dict one).
FLOAT_EPOCHS = 8
