"""``report.json`` (machine-readable, every measured number) and ``report.md`` (the same, for people).

Every figure comes from a step that measured it: accuracies from the golden model and PyTorch,
matches from the Verilator run, cycles from the simulation, resources from Yosys' ``stat`` and
Fmax from the line nextpnr printed. Nothing here computes a hardware number of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zerogate import __version__
from zerogate.ir import Network
from zerogate.metrics import layer_memory, network_stats


def _layer_rows(net: Network) -> list[dict[str, Any]]:
    rows = []
    for ly in net.layers:
        mem = layer_memory(ly)
        acc = ly.acc_bits()
        rows.append({
            "name": ly.name,
            "kind": ly.kind.value,
            "shape": f"{ly.in_features}→{ly.out_features}",
            "nnz": ly.nnz,
            "weights": ly.n_weights,
            "sparsity": 1.0 - ly.nnz / ly.n_weights,
            "weight_bits": [int(ly.weight_bits.min()), int(ly.weight_bits.max())],
            "acc_bits": [int(acc.min()), int(acc.max())],
            "input": str(ly.input),
            "output": str(ly.output),
            "activation": ly.activation.value,
            "style": "unrolled",
            "memory_bits": mem.total_bits,
            # unrolled: every nonzero weight has its own shift-add hardware, so the lane count
            # equals nnz and the limit nnz ÷ lanes is one cycle per inference
            "lanes": ly.nnz,
        })
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _mhz(x: float | None) -> str:
    return "no clock" if x is None else f"{x:.2f} MHz"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def render_markdown(d: dict[str, Any]) -> str:
    c, g, s, rtl = d["compress"], d["golden"], d.get("sim", {}), d.get("rtl", {})
    m, sy = d["memory"], d.get("synth")
    tv = c.get("torch_vs_golden_outputs")
    lines = [
        f"# zerogate build report: {d['network']}",
        "",
        f"zerogate {d['zerogate_version']} · reproduce with `{d['command']}`",
        "",
        "## Accuracy and verification",
        "",
        "| what | value |",
        "|---|---|",
        f"| float accuracy (PyTorch, test split) | {_pct(c.get('float_accuracy'))} |",
        f"| quantized accuracy (golden model, test split) | {_pct(g['accuracy'])} |",
        "| golden model == PyTorch reference | "
        + (f"{tv[0]} of {tv[1]} output integers |" if tv else "not checked (IR given) |"),
        f"| RTL (Verilator) == golden model | {s.get('matches', 0)} of {s.get('vectors', 0)} vectors, "
        f"every output integer |",
        f"| outputs saturated per layer (golden) | {', '.join(map(str, g['saturated_outputs']))} |",
        "",
        "## Compression",
        "",
        "| what | value |",
        "|---|---|",
        f"| weights | {m['nnz']} nonzero of {m['n_weights']} (sparsity {_pct(m['sparsity'])}) |",
        f"| widest weight | {m['max_weight_bits']} bits |",
        f"| weight memory | {m['memory_bits']} bits (nnz·b + CSR index + per-channel params) |",
        f"| vs float32 dense ({m['float32_bits']} bits) | {m['ratio_vs_float32']:.1f}× smaller "
        f"({_pct(m['reduction_vs_float32'])} reduction) |",
        f"| vs int8 dense ({m['int8_bits']} bits) | {m['ratio_vs_int8']:.2f}× smaller |",
        "",
        "## Layers",
        "",
        "| layer | shape | nonzero / all | sparsity | weight bits | acc bits | in → out format | style |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in d["layers"]:
        wb, ab = r["weight_bits"], r["acc_bits"]
        lines.append(
            f"| {r['name']} | {r['shape']} | {r['nnz']} / {r['weights']} | {_pct(r['sparsity'])} | "
            f"{wb[0]}–{wb[1]} | {ab[0]}–{ab[1]} | {r['input']} → {r['output']} | {r['style']} |"
        )
    lines += [
        "",
        "## Performance",
        "",
        "| what | value |",
        "|---|---|",
        f"| cycles per inference (measured in simulation, steady state) | {s.get('cycles_per_inference')} |",
        f"| latency, first input beat → first output beat | {s.get('latency_cycles')} cycles |",
        f"| I/O | {rtl.get('in_lanes')} inputs per beat × {rtl.get('beats_in')} beats in, "
        f"{rtl.get('out_lanes')} outputs per beat × {rtl.get('beats_out')} beats out |",
        f"| compute limit (nonzero MACs ÷ lanes) | 1 cycle: unrolled, {m['nnz']} MAC lanes for "
        f"{m['nnz']} nonzero MACs; zero weights cost no hardware and no cycles |",
        f"| what bounds throughput | the I/O stream ({rtl.get('ii_cycles')} beats per inference), "
        f"not compute |",
    ]
    if sy:
        lines += [
            "",
            f"## FPGA ({sy['device']} {sy['package']}, Yosys synth_ecp5 + nextpnr-ecp5)",
            "",
            "| resource | used |",
            "|---|---|",
            f"| LUT4 | {sy['lut4']} |",
            f"| FF | {sy['ff']} |",
            f"| DSP (MULT18X18D) | {sy['dsp']} |",
            f"| BRAM (DP16KD) | {sy['bram']} |",
            f"| CCU2C carry cells | {sy.get('carry')} |",
            f"| Fmax (nextpnr, after routing) | {_mhz(sy['fmax_mhz'])} "
            f"(constraint {sy['constraint_mhz']} MHz, "
            f"{'met' if sy['timing_met'] else 'NOT met'}) |",
            f"| bitstream | `{Path(sy['bitstream']).name}` |",
        ]
    lines += ["", "## Step times (s)", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in d["timings"].items()]
    return "\n".join(lines) + "\n"


def write_reports(net: Network, facts: dict[str, Any], timings: dict[str, float], opts: Any,
                  work: Path) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into ``work``; return the data."""
    synth = facts.get("synth")
    d: dict[str, Any] = {
        "zerogate_version": __version__,
        "network": net.name,
        "command": opts.command,
        **{k: v for k, v in facts.items() if k != "synth"},
        "synth": synth,
        "memory": network_stats(net).to_dict(),
        "layers": _layer_rows(net),
        "timings": timings,
    }
    _write_atomic(work / "report.json", json.dumps(d, indent=2, default=_json_default) + "\n")
    _write_atomic(work / "report.md", render_markdown(d))
    return d


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
