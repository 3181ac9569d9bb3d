"""The report's figures, drawn with matplotlib (Agg: files only, no display) from measured numbers.

Every plot reads the report's data (``report.json``'s content) or the network itself; none invents a
figure. Each PNG is written atomically, so a report never points at half an image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zerogate.ir import Network
from zerogate.metrics import layer_memory

#: Figure file stems, in the order the report shows them, with their captions.
CAPTIONS = {
    "layers": "Per-layer sparsity (left) and the weight bit-widths of the output channels (right).",
    "memory": "Weight memory per layer: nonzero weights, CSR indices, per-channel parameters (bias, shift, "
              "width), per zerogate.metrics.",
    "resources": "Whole-design utilisation per target, from nextpnr's post-pack table; for a design that "
                 "does not fit the iCE40, Yosys's cell counts against the part (per-layer figures would "
                 "need a hierarchical synthesis, which the flow does not run).",
    "performance": "Cycles per inference and latency (measured in simulation) and the accelerator core's "
                   "inferences per second at the Fmax nextpnr reported for each target (for a board top, "
                   "its UART link is far slower than the core).",
    "verification": "Test vectors whose every output integer matched the golden model, per check.",
}


def _save(fig: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)


def _layers(ax: tuple[Any, Any], net: Network, d: dict[str, Any]) -> None:
    rows = [r for r in d["layers"] if r["weights"]]  # pooling has no weights
    ax[0].bar([r["name"] for r in rows], [100 * r["sparsity"] for r in rows], color="tab:blue")
    ax[0].set_ylabel("sparsity (%)")
    ax[0].set_ylim(0, 100)
    widths = sorted({int(b) for ly in net.weight_layers for b in ly.weight_bits})
    bottom = np.zeros(len(widths))
    for ly in net.weight_layers:
        counts = np.array([int(np.sum(ly.weight_bits == b)) for b in widths])
        ax[1].bar([str(b) for b in widths], counts, bottom=bottom, label=ly.name)
        bottom += counts
    ax[1].set_xlabel("weight bits")
    ax[1].set_ylabel("output channels")
    ax[1].legend(fontsize="small")


def _memory(ax: Any, net: Network, d: dict[str, Any]) -> None:
    mems = [layer_memory(ly) for ly in net.weight_layers]
    names = [m.name for m in mems]
    bottom = np.zeros(len(mems))
    for label, vals in (("weights", [m.weight_bits for m in mems]), ("indices", [m.index_bits for m in mems]),
                        ("bias + params", [m.param_bits for m in mems])):
        ax.bar(names, vals, bottom=bottom, label=label)
        bottom += np.array(vals)
    ax.set_ylabel("bits")
    ax.set_title(f"total {int(bottom.sum())} bits")
    ax.legend(fontsize="small")


def targets(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The place-and-routed targets of a report: label -> FlowResult dict (with utilisation)."""
    out = {}
    if d.get("synth"):
        s = d["synth"]
        out[f"ECP5 {s['device']} ({s['top']})"] = s
    ice = d.get("ice40") or {}
    if ice.get("utilisation"):
        out[f"iCE40 UP5K ({ice['top']})"] = ice
    return out


_SHOWN = ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD", "TRELLIS_IO",
          "ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "ICESTORM_SPRAM", "SB_IO")


def _resources(ax: Any, net: Network, d: dict[str, Any]) -> None:
    ts = targets(d)
    labels, pct, colors = [], [], []
    for k, t in enumerate(ts.values()):
        for name in _SHOWN:
            u = t["utilisation"].get(name)
            if u and u["available"]:
                labels.append(f"{name}\n{u['used']}/{u['available']}")
                pct.append(100 * u["used"] / u["available"])
                colors.append(f"C{k}")
    legend = [_patch(f"C{k}", lbl) for k, lbl in enumerate(ts)]
    ice = d.get("ice40") or {}
    if ice.get("status") == "does-not-fit":  # what Yosys says it needs, against the part
        from zerogate.flow.ice40 import UP5K, demand

        for what, need, have in demand(ice.get("yosys_cells", {}), UP5K):
            if need and have:
                labels.append(f"{what} (Yosys)\n{need}/{have}")
                pct.append(100 * need / have)
                colors.append("tab:red")
        legend.append(_patch("tab:red", "iCE40 UP5K: demand, not built"))
        ax.set_title(ice["reason"].split(";")[0], fontsize="small", color="tab:red")
    if not labels:
        ax.text(0.5, 0.5, "no place and route in this build", ha="center", va="center")
        ax.set_axis_off()
        return
    ax.barh(labels, pct, color=colors)
    ax.axvline(100, color="black", linewidth=0.8)
    ax.set_xlabel("% of the device used")
    ax.set_xlim(0, max(100, *pct) * 1.05)
    ax.legend(handles=legend, fontsize="small", loc="lower right")


def _patch(color: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=color, label=label)


def _performance(ax: tuple[Any, Any], net: Network, d: dict[str, Any]) -> None:
    s = d.get("sim", {})
    cycles = {k: v for k, v in (("cycles / inference", s.get("cycles_per_inference")),
                                ("latency (cycles)", s.get("latency_cycles"))) if v is not None}
    ax[0].bar(list(cycles), list(cycles.values()), color="tab:gray")
    for k, v in enumerate(cycles.values()):
        ax[0].text(k, v, str(v), ha="center", va="bottom")
    rates = {label: r for label, r in throughput(d).items() if r is not None}
    if rates:
        ax[1].bar(list(rates), [r / 1e6 for r in rates.values()], color=["C0", "C1"][:len(rates)])
        for k, r in enumerate(rates.values()):
            ax[1].text(k, r / 1e6, f"{r / 1e6:.2f} M", ha="center", va="bottom")
        ax[1].tick_params(axis="x", labelsize="small")
    else:
        ax[1].text(0.5, 0.5, "no Fmax (not synthesised)", ha="center", va="center")
    ax[1].set_ylabel("million inferences / s at Fmax")


def throughput(d: dict[str, Any]) -> dict[str, float | None]:
    """Inferences per second at each target's achieved Fmax: Fmax / measured cycles per inference."""
    cpi = d.get("sim", {}).get("cycles_per_inference")
    out: dict[str, float | None] = {}
    for label, t in targets(d).items():
        out[label] = t["fmax_mhz"] * 1e6 / cpi if cpi and t.get("fmax_mhz") else None
    return out


def _verification(ax: Any, net: Network, d: dict[str, Any]) -> None:
    s, c = d.get("sim", {}), d.get("compress", {})
    rows = [("RTL (Verilator) == golden", s.get("matches", 0), s.get("vectors", 0))]
    tv = c.get("torch_vs_golden_outputs")
    if tv:
        rows.append(("golden == PyTorch (output ints)", tv[0], tv[1]))
    labels = [r[0] for r in rows]
    ok = [r[1] for r in rows]
    bad = [r[2] - r[1] for r in rows]
    ax.barh(labels, ok, color="tab:green", label="match")
    ax.barh(labels, bad, left=ok, color="tab:red", label="mismatch")
    for k, (_, m, n) in enumerate(rows):
        ax.text(n, k, f" {m}/{n}", va="center")
    ax.legend(fontsize="small", loc="lower right")


_PLOTS: dict[str, tuple[Callable[..., None], int, tuple[float, float]]] = {
    "layers": (_layers, 2, (9, 3.2)),
    "memory": (_memory, 1, (6, 3.2)),
    "resources": (_resources, 1, (7, 4)),
    "performance": (_performance, 2, (9, 3.2)),
    "verification": (_verification, 1, (7, 1.8)),
}


def write_plots(net: Network, d: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Draw every figure of the report into ``out_dir``; return stem -> PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for stem, (draw, ncols, size) in _PLOTS.items():
        fig, ax = plt.subplots(1, ncols, figsize=size)
        try:
            draw(ax, net, d)
            fig.tight_layout()
            _save(fig, out_dir / f"{stem}.png")
        finally:
            plt.close(fig)
        written[stem] = out_dir / f"{stem}.png"
    return written
