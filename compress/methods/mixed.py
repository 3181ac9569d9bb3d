"""Method 2: joint channel pruning + channel-wise mixed precision by gradient search.

After Motetti, Risso, Burrello, Macii, Poncino, Jahier Pagliari, "Joint Pruning and Channel-wise
Mixed-Precision Quantization for Efficient Deep Neural Networks" (IEEE TC 2024, arXiv 2407.01054)
and its public code (PLiNIO ``methods/mps``). Every output channel ``c`` of every weight layer
chooses a precision ``p`` from a set ``P`` that contains 0 bits (= the channel is pruned):

- trainable logits ``α[c, p]``, initialised ``p / max(P)`` (favouring the widest precision);
- ``θ[c, :] = softmax(α[c, :] / τ)``; effective weight ``Ŵ_c = Σ_p θ[c, p] · Q_p(W_c)`` with
  ``Q_0 = 0``; the bias is scaled by ``1 - θ[c, 0]`` (a pruned channel outputs exactly 0);
- loss = cross-entropy + ``λ · cost / cost(float32 model)``;
- schedule: warm-up (float, no cost) -> search (weights and logits trained together, ``τ``
  annealed exponentially from ``tau_start`` to ``tau_end``) -> fine-tune (hard argmax choice
  frozen into the layers' per-channel ``bits``, quantization-aware training, activations
  quantized to ``act_bits``). Pruned channels keep ``bits == 0``, so :func:`compress.export.export_net`
  removes them from the IR and from the next layer's inputs.

``schedule = "sequential"`` is the comparison the paper makes with pruning and mixed precision
applied one after the other: a channel-pruning search over ``{0, max P}``, its choice frozen,
then a precision search over the nonzero widths of ``P`` on the surviving channels (each
``search_epochs`` long), then the one fine-tune.

Where this differs from the paper, or its details were not available (choices, measured in
``docs/benchmarks/compression.md``):

- ``Q_p`` is this project's power-of-two per-channel quantizer (:func:`compress.quant.fake_quant_weight`),
  not a float-scale one: the hardware only shifts.
- Activations are NOT searched: during the search they stay float, and the fine-tune quantizes
  them to a fixed ``act_bits`` (the paper searches a per-layer activation precision with PACT).
- The last layer never chooses 0 bits (its channels are the class logits).
- Logits use Adam (``alpha_lr``), not SGD with momentum: the searches here last tens of epochs,
  not hundreds, and SGD at the paper's rate barely moves the logits in that time.
- Size cost = the expected value of :mod:`zerogate.metrics`' memory formula, so the search
  optimises what the benchmark measures: per channel ``fan_in_eff · (Σ_p p·θ_p + (1-θ_0)·idx)
  + (1-θ_0) · params`` with ``idx = ceil(log2 fan_in)`` (the CSR column index every stored
  weight pays), ``params`` = bias (counted as 16 bits) + shift + width fields + row length;
  ``fan_in_eff`` scales the fan-in by the previous layer's expected kept fraction (detached),
  as the paper's ``C_in_eff``.
- Latency cost = a lookup table for this project's folded sparse engine
  (:mod:`hwgen.folded`): it walks one stored weight per MAC lane per cycle whatever the weight's
  width, so ``cycles_l = positions_l · Σ_c fan_in_eff · Σ_{p>0} θ_p / (lanes · LATENCY_TABLE[p])``
  with ``LATENCY_TABLE[p] = 1`` MAC/lane/cycle for every ``p`` (the ceil of the real schedule
  dropped to keep it differentiable). Under it, only pruning saves cycles; bits are free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from compress.config import MAX_COMPRESS_WEIGHT_BITS, ProgressCallback, ProgressEvent, _float, _int
from compress.methods.common import Data
from compress.qnet import QuantNet
from compress.quant import fake_quant_weight
from compress.train import Batches, deterministic, train_epochs
from zerogate.errors import ConfigError
from zerogate.fixedpoint import MAX_BITS, MIN_WEIGHT_BITS
from zerogate.metrics import SHIFT_FIELD_BITS, WIDTH_FIELD_BITS

__all__ = ["LATENCY_TABLE", "ChannelChoice", "MixedParams", "apply_mixed", "compress_mixed", "search_costs"]

#: MACs per lane per cycle of the folded engine, by weight width (0 = pruned: no work).
LATENCY_TABLE: dict[int, float] = {b: 1.0 for b in range(MIN_WEIGHT_BITS, MAX_COMPRESS_WEIGHT_BITS + 1)}

#: Bias bits the size cost assumes per kept channel (the export sizes each layer's bias exactly).
_BIAS_BITS_ESTIMATE = 16

Cost = Literal["size", "latency"]
Schedule = Literal["joint", "sequential"]


def _clog2(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


@dataclass(frozen=True)
class MixedParams:
    """Method 2's knobs; :meth:`from_dict` builds them from a config table (``lambda`` -> ``lam``)."""

    precisions: tuple[int, ...] = (0, 2, 4, 8)
    lam: float = 1.0
    cost: Cost = "size"
    act_bits: int = 8
    warmup_epochs: int = 0  # extra float epochs on top of the shared float pre-training
    search_epochs: int = 30
    finetune_epochs: int = 20
    tau_start: float = 5.0
    tau_end: float = 0.1
    lr: float = 1e-3
    alpha_lr: float = 0.05
    batch_size: int = 64
    lanes: int = 8  # MAC lanes of the latency model
    schedule: Schedule = "joint"

    def __post_init__(self) -> None:
        p = self.precisions
        if not isinstance(p, tuple) or not p or not all(isinstance(b, int) and not isinstance(b, bool)
                                                       for b in p):
            raise ConfigError(f"precisions must be a non-empty list of integers, got {p!r}")
        bad = [b for b in p if b != 0 and not MIN_WEIGHT_BITS <= b <= MAX_COMPRESS_WEIGHT_BITS]
        if bad:
            raise ConfigError(f"precisions: {bad[0]} bits is out of range; use 0 (pruned) or "
                              f"{MIN_WEIGHT_BITS}..{MAX_COMPRESS_WEIGHT_BITS}")
        if len(set(p)) != len(p) or not any(b > 0 for b in p):
            raise ConfigError(f"precisions {list(p)} must be distinct and hold at least one nonzero width")
        _float("lambda", self.lam, -math.inf, math.inf, "()")
        if self.lam < 0:
            raise ConfigError(f"lambda = {self.lam}: λ must be >= 0 (0 = no cost, accuracy only)")
        if self.cost not in ("size", "latency"):
            raise ConfigError(f"cost must be 'size' or 'latency', got {self.cost!r}")
        if self.schedule not in ("joint", "sequential"):
            raise ConfigError(f"schedule must be 'joint' or 'sequential', got {self.schedule!r}")
        _int("act_bits", self.act_bits, 2, MAX_BITS)
        _int("warmup_epochs", self.warmup_epochs, 0)
        _int("search_epochs", self.search_epochs, 1)
        _int("finetune_epochs", self.finetune_epochs, 0)
        _float("tau_start", self.tau_start, 0.0, 1e3, "(]")
        _float("tau_end", self.tau_end, 0.0, self.tau_start, "(]")  # anneals downwards
        for name in ("lr", "alpha_lr"):
            _float(name, getattr(self, name), 0.0, 10.0, "(]")
        _int("batch_size", self.batch_size, 1)
        _int("lanes", self.lanes, 1, 4096)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MixedParams:
        """From a config table: unknown keys and wrong types are ConfigErrors naming the key."""
        known = {f.name for f in fields(cls)} - {"lam"} | {"lambda"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"[method] unknown key {unknown[0]!r} for method 'mixed'; "
                              f"known: {', '.join(sorted(known))}")
        kw = {("lam" if k == "lambda" else k): v for k, v in d.items()}
        if "precisions" in kw:
            if not isinstance(kw["precisions"], list | tuple):
                raise ConfigError(f"precisions must be a list of integers, got {kw['precisions']!r}")
            kw["precisions"] = tuple(kw["precisions"])
        return cls(**kw)


class ChannelChoice(nn.Module):
    """The per-output-channel precision logits of one layer and its soft weight/bias transforms."""

    def __init__(self, n_out: int, precisions: tuple[int, ...], dtype: torch.dtype) -> None:
        super().__init__()
        self.precisions = tuple(sorted(precisions))
        top = max(self.precisions)
        init = torch.tensor([p / top for p in self.precisions], dtype=dtype)
        self.alpha = nn.Parameter(init.repeat(n_out, 1))
        self.tau = 1.0

    def theta(self) -> torch.Tensor:
        """``[n_out, |P|]`` soft choice at the current temperature."""
        return torch.softmax(self.alpha / self.tau, dim=1)

    def keep(self) -> torch.Tensor:
        """Per channel, ``1 - θ[c, 0]`` (1 when 0 bits is not a choice)."""
        th = self.theta()
        return 1.0 - th[:, 0] if self.precisions[0] == 0 else torch.ones_like(th[:, 0])

    def hard_bits(self) -> torch.Tensor:
        """The argmax precision per channel (int64); a layer keeps at least one channel."""
        a = self.alpha.detach()
        idx = a.argmax(dim=1)
        bits = torch.tensor(self.precisions, dtype=torch.int64)[idx]
        if bool((bits == 0).all()):
            best = a[:, 1:].max(dim=1)
            c = int(best.values.argmax())
            bits[c] = self.precisions[1 + int(best.indices[c])]
        return bits


class _MixedWeight(nn.Module):
    """Parametrization ``W -> Σ_p θ_p · Q_p(W)`` (``Q_0 = 0``)."""

    def __init__(self, choice: ChannelChoice) -> None:
        super().__init__()
        self.choice = choice

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        th = self.choice.theta()
        out = torch.zeros_like(w)
        for k, p in enumerate(self.choice.precisions):
            if p:
                bits = torch.full((w.shape[0],), p, dtype=torch.int64)
                q = fake_quant_weight(w, bits, None)[1]
                out = out + th[:, k].reshape(-1, *([1] * (w.dim() - 1))) * q
        return out


class _KeptBias(nn.Module):
    """Parametrization ``b -> (1 - θ_0) · b``."""

    def __init__(self, choice: ChannelChoice) -> None:
        super().__init__()
        self.choice = choice

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return b * self.choice.keep()


@dataclass(frozen=True)
class _LayerGeom:
    fan_in: int  # weights per output channel
    n_out: int
    positions: int  # output positions per channel (1 for dense)


def _geometry(net: QuantNet) -> list[_LayerGeom]:
    positions: list[int] = []
    hooks = [ly.register_forward_hook(lambda _m, _i, o: positions.append(math.prod(o.shape[2:])))
             for ly in net.weight_layers()]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *net.in_shape, dtype=next(net.parameters()).dtype))
    finally:
        for h in hooks:
            h.remove()
    return [_LayerGeom(int(ly.weight[0].numel()), ly.n_out, pos)
            for ly, pos in zip(net.weight_layers(), positions, strict=True)]


def search_costs(choices: list[ChannelChoice], geom: list[_LayerGeom], lanes: int) -> dict[str, torch.Tensor]:
    """Expected size (bits, the metrics formula) and folded-engine cycles of the soft network,
    each divided by its float32-dense value (size ``32·N``; cycles with every channel kept)."""
    size = torch.zeros(())
    cycles = torch.zeros(())
    n_total = sum(g.fan_in * g.n_out for g in geom)
    dense_cycles = sum(g.positions * g.fan_in * g.n_out / lanes for g in geom)
    r_in = torch.ones(())
    for ch, g in zip(choices, geom, strict=True):
        th = ch.theta()
        keep = ch.keep()
        p = torch.tensor(ch.precisions, dtype=th.dtype)
        fan = g.fan_in * r_in
        params = _BIAS_BITS_ESTIMATE + SHIFT_FIELD_BITS + WIDTH_FIELD_BITS + _clog2(g.fan_in + 1)
        size = size + (fan * ((th * p).sum(dim=1) + keep * _clog2(g.fan_in)) + keep * params).sum()
        inv = torch.tensor([LATENCY_TABLE[q] ** -1 if q else 0.0 for q in ch.precisions], dtype=th.dtype)
        cycles = cycles + g.positions * (fan * (th * inv).sum(dim=1)).sum() / lanes
        r_in = keep.detach().mean()
    return {"size": size / (32.0 * n_total), "latency": cycles / dense_cycles}


def attach_search(net: QuantNet, precisions: tuple[int, ...]) -> list[ChannelChoice]:
    """Put the soft choice on every weight layer (the last one without 0 bits); float mode.
    Channels already pruned (``bits == 0``) stay pruned."""
    net.set_quant(False)
    layers = net.weight_layers()
    choices = []
    for k, ly in enumerate(layers):
        prec = tuple(p for p in precisions if p or k < len(layers) - 1)
        ch = ChannelChoice(ly.n_out, prec, ly.weight.dtype)
        ly.set_bits(torch.where(ly.bits == 0, 0, max(prec)))  # the rest stay alive while searching
        parametrize.register_parametrization(ly, "weight", _MixedWeight(ch))
        if ly.bias is not None:
            parametrize.register_parametrization(ly, "bias", _KeptBias(ch))
        choices.append(ch)
    return choices


def detach_search(net: QuantNet, choices: list[ChannelChoice]) -> None:
    """Remove the soft choice and freeze the argmax precision of each channel into ``bits``."""
    for ly, ch in zip(net.weight_layers(), choices, strict=True):
        for name in ("weight", "bias"):
            if parametrize.is_parametrized(ly, name):
                parametrize.remove_parametrizations(ly, name, leave_parametrized=False)
        ly.set_bits(torch.where(ly.bits == 0, 0, ch.hard_bits()))


def _search(net: QuantNet, data: Batches, params: MixedParams, precisions: tuple[int, ...], phase: str,
            gen: torch.Generator, progress: ProgressCallback | None) -> list[ChannelChoice]:
    geom = _geometry(net)
    choices = attach_search(net, precisions)
    weights = [p for n, p in net.named_parameters() if "alpha" not in n]
    opt_w = torch.optim.Adam(weights, lr=params.lr)
    opt_a = torch.optim.Adam([c.alpha for c in choices], lr=params.alpha_lr)
    loss_fn = nn.CrossEntropyLoss()
    n_ep = params.search_epochs
    net.train()
    for ep in range(n_ep):
        tau = params.tau_start * (params.tau_end / params.tau_start) ** (ep / max(n_ep - 1, 1))
        for ch in choices:
            ch.tau = tau
        total, n = 0.0, 0
        for xb, yb in data.epoch(gen):
            opt_w.zero_grad(set_to_none=True)
            opt_a.zero_grad(set_to_none=True)
            cost = search_costs(choices, geom, params.lanes)[params.cost]
            loss = loss_fn(net(xb), yb) + params.lam * cost.to(xb.dtype)
            loss.backward()
            opt_w.step()
            opt_a.step()
            total += float(loss.detach()) * len(yb)
            n += len(yb)
        if progress is not None:
            progress(ProgressEvent(phase=phase, completed=ep + 1, total=n_ep, loss=total / n))
    net.eval()
    return choices


def compress_mixed(net: QuantNet, x_train: torch.Tensor, y_train: torch.Tensor, params: MixedParams,
                   seed: int, progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Warm-up -> search -> fine-tune ``net`` in place (a float, traced QuantNet); deterministic
    in ``seed``. Leaves ``net`` calibrated with quantization on; returns what was chosen."""
    t0 = time.perf_counter()
    data = Batches(x_train, y_train, params.batch_size)
    with deterministic(seed):
        gen = torch.Generator().manual_seed(seed)
        for st in net.weight_stages()[:-1]:
            st.act.bits = params.act_bits
        if params.warmup_epochs:
            net.set_quant(False)
            train_epochs(net, data, params.warmup_epochs, params.lr, generator=gen, phase="warm-up",
                         progress=progress)
        prec = params.precisions
        if params.schedule == "sequential" and 0 in prec and len(prec) > 2:
            detach_search(net, _search(net, data, params, (0, max(prec)), "prune search", gen, progress))
            prec = tuple(p for p in prec if p)
        detach_search(net, _search(net, data, params, prec, "search", gen, progress))
        net.set_quant(False)
        net.calibrate(x_train)
        net.set_quant(True)
        if params.finetune_epochs:
            train_epochs(net, data, params.finetune_epochs, params.lr, generator=gen, phase="fine-tune",
                         progress=progress)
        net.set_quant(False)
    bits = [ly.bits.tolist() for ly in net.weight_layers()]
    return {
        "channel_bits": bits,
        "pruned_channels": sum(b.count(0) for b in bits),
        "search_seconds": time.perf_counter() - t0,
    }


def apply_mixed(qnet: QuantNet, data: Data, params: MixedParams, seed: int, teacher: nn.Module,
                progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Method 2 on ``qnet`` (float, traced) in place, seeded; returns what the IR metadata records."""
    info = compress_mixed(qnet, data.x_train, data.y_train, params, seed, progress)
    return {"channel_bits": info["channel_bits"], "lambda": params.lam, "cost": params.cost,
            "precisions": list(params.precisions)}
