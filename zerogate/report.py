"""``report.json`` (machine-readable, every measured number), ``report.md`` and ``report.html`` (the
same, for people, with the plots of :mod:`zerogate.plots` in ``report/*.png``).

Every figure comes from a step that measured it: accuracies from the golden model and PyTorch,
matches from the Verilator run, cycles from the simulation, resources from Yosys' ``stat`` and
Fmax from the line nextpnr printed. Nothing here computes a hardware number of its own.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from zerogate import __version__
from zerogate.ir import Layer, Network
from zerogate.metrics import lane_use, layer_memory, network_stats

#: Folder of the figures, beside report.md / report.html (links are relative to it).
FIGURES = "report"


def _layer_rows(net: Network, hw_layers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per IR node; engine style, lanes and cycles come from the generator (``rtl.layers``).

    The compute limit of a layer is ``ceil(nonzero MACs ÷ lanes)`` cycles per inference, a MAC
    being one nonzero weight at one output position. An unrolled layer has a lane per nonzero
    weight (limit: one cycle per output position); a folded one has ``lanes`` lanes, so its lane
    efficiency, nonzero MACs ÷ (lanes × cycles), says how close it runs to that limit.
    """
    hw = {h["name"]: h for h in hw_layers or ()}
    rows = []
    for ly in net.layers:
        h = hw.get(ly.name, {})
        shape = " → ".join("×".join(map(str, t)) for t in (ly.input_shape, ly.out_shape))
        row: dict[str, Any] = {"name": ly.name, "kind": ly.kind.value, "shape": shape,
                               "output": str(ly.output), "style": h.get("style", "unrolled"),
                               "cycles": h.get("cycles_per_inference")}
        if not isinstance(ly, Layer):  # pooling: no weights, no MACs
            rows.append({**row, "nnz": 0, "weights": 0, "sparsity": None, "weight_bits": None,
                         "acc_bits": None, "input": str(ly.input), "activation": "none", "memory_bits": 0,
                         "lanes": None, "macs": 0, "limit_cycles": None, "lane_efficiency": None})
            continue
        acc, use = ly.acc_bits(), lane_use(ly, row["style"], int(h.get("lanes", 1)), row["cycles"])
        rows.append({**row, "nnz": ly.nnz, "weights": ly.n_weights, "sparsity": 1.0 - ly.nnz / ly.n_weights,
                     "weight_bits": [int(ly.weight_bits.min()), int(ly.weight_bits.max())],
                     "acc_bits": [int(acc.min()), int(acc.max())], "input": str(ly.input),
                     "activation": str(ly.activation), "memory_bits": layer_memory(ly).total_bits,
                     "lanes": use.lanes, "macs": use.macs, "limit_cycles": use.limit,
                     "lane_efficiency": use.efficiency})
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _mhz(x: float | None) -> str:
    return "no clock" if x is None else f"{x:.2f} MHz"


def _fmax_cell(sy: dict[str, Any]) -> str:
    """Fmax against its constraint; a design the fallback placer placed says so, since that placer
    is weaker on timing than nextpnr's default (see ``zerogate.flow.common.FALLBACK_PLACER``)."""
    placer = sy.get("placer", "heap")
    how = (f"; placed by nextpnr's {placer} placer: its default, HeAP, found no legal placement"
           if placer != "heap" else "")
    return (f"{_mhz(sy['fmax_mhz'])} (constraint {sy['constraint_mhz']} MHz, "
            f"{'met' if sy['timing_met'] else 'NOT met'}{how})")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _method(c: dict[str, Any]) -> str:
    """The compression method and its parameters, as the IR metadata or the build recorded them."""
    if "method" not in c:
        return f"not recorded (IR {c.get('source', 'given')})"
    params = ", ".join(f"{k} {v}" for k, v in sorted(dict(c.get("params") or {}).items()))
    on = f" on {c['model']}" if c.get("model") else ""
    return f"{c['method']}{on}" + (f" ({params})" if params else "")


def _accuracy(g: dict[str, Any], c: dict[str, Any]) -> str:
    if g.get("accuracy") is None:
        return f"not measured: the vectors are {c.get('vectors', 'unlabelled')}"
    return _pct(g["accuracy"])


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
        f"| compressed by | {_method(c)} |",
        f"| float accuracy (PyTorch, test split) | {_pct(c.get('float_accuracy'))} |",
        f"| quantized accuracy (golden model, test split) | {_accuracy(g, c)} |",
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
        if r["weights"]:
            wb, ab = r["weight_bits"], r["acc_bits"]
            lines.append(
                f"| {r['name']} | {r['shape']} | {r['nnz']} / {r['weights']} | {_pct(r['sparsity'])} | "
                f"{wb[0]}–{wb[1]} | {ab[0]}–{ab[1]} | {r['input']} → {r['output']} | {r['style']} |")
        else:
            lines.append(f"| {r['name']} ({r['kind']}) | {r['shape']} | no weights | | | | "
                         f"{r['input']} → {r['output']} | {r['style']} |")
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
        f"| what bounds throughput | {_bound(d)} |",
        "",
        "Per layer: cycles per inference from the generator's exact cycle model (the simulated figure "
        "above is the slowest stage's), against the compute limit ⌈nonzero MACs ÷ lanes⌉ (a MAC = one "
        "nonzero weight at one output position; zero weights cost no lane and no cycle). Lane efficiency "
        "= nonzero MACs ÷ (lanes × cycles), for folded layers. A folded layer is built with the fewest "
        "lanes, up to `--lanes`, that keep up with the slowest stage (rate balancing; `--no-balance` "
        "builds all of them everywhere).",
        "",
        "| layer | style | lanes | nonzero MACs | cycles | limit | lane efficiency |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in d["layers"]:
        if r["weights"]:
            lines.append(f"| {r['name']} | {r['style']} | {r['lanes']} | {r['macs']} | {r['cycles']} | "
                         f"{r['limit_cycles']} | {_pct(r['lane_efficiency'])} |")
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
            f"| distributed RAM (TRELLIS_DPR16X4, 16 x 4 bits each) | {sy.get('lutram', 0)} |",
            f"| Fmax (nextpnr, after routing) | {_fmax_cell(sy)} |",
            f"| bitstream | `{Path(sy['bitstream']).name}` |",
        ]
    lines += _ice40_lines(d.get("ice40"))
    lines += _throughput_lines(d)
    if d.get("figures"):
        from zerogate.plots import CAPTIONS

        lines += ["", "## Figures", ""]
        for stem, path in d["figures"].items():
            lines += [f"![{stem}]({path})", "", f"*{CAPTIONS.get(stem, stem)}*", ""]
    lines += ["", "## Step times (s)", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in d["timings"].items()]
    return "\n".join(lines) + "\n"


def _bound(d: dict[str, Any]) -> str:
    """Which stage sets the cycles per inference: the I/O stream or a layer."""
    rtl = d.get("rtl", {})
    io = max(rtl.get("beats_in") or 0, rtl.get("beats_out") or 0)
    slow = max((r for r in d["layers"] if r.get("cycles")), key=lambda r: r["cycles"], default=None)
    if slow is None or slow["cycles"] <= io:
        return f"the I/O stream ({io} beats per inference), not compute"
    return f"layer {slow['name']} ({slow['style']}, {slow['cycles']} cycles per inference)"


def _ice40_lines(ice: dict[str, Any] | None) -> list[str]:
    if not ice:
        return []
    lines = ["", "## FPGA (iCE40 UP5K sg48, iCEBreaker board top: synth_ice40 + nextpnr-ice40 + icepack)", ""]
    if ice["status"] == "does-not-fit":
        cells = ice.get("yosys_cells", {})
        lines += [f"**Not built:** {ice['reason']}.", "",
                  f"Yosys cells: {', '.join(f'{k} {v}' for k, v in sorted(cells.items())) or 'none'}. "
                  "The note is in `bundle/ice40/DOES_NOT_FIT.txt`."]
        return lines
    util = ice.get("utilisation", {})

    def u(name: str) -> str:
        x = util.get(name)
        return f"{x['used']} of {x['available']}" if x else "-"

    return lines + [
        "| resource | used |", "|---|---|",
        f"| logic cells (ICESTORM_LC) | {u('ICESTORM_LC')} |",
        f"| SB_LUT4 / SB_CARRY / FF (Yosys) | {ice['lut4']} / {ice['carry']} / {ice['ff']} |",
        f"| EBR (ICESTORM_RAM) | {u('ICESTORM_RAM')} |",
        f"| DSP (ICESTORM_DSP) | {u('ICESTORM_DSP')} |",
        f"| IO (SB_IO) | {u('SB_IO')} |",
        f"| Fmax (nextpnr, after routing) | {_mhz(ice['fmax_mhz'])} (constraint {ice['constraint_mhz']} MHz, "
        f"{'met' if ice['timing_met'] else 'NOT met'}) |",
        f"| bitstream | `bundle/bitstreams/{Path(ice['bitstream']).name}` |",
    ]


def _throughput_lines(d: dict[str, Any]) -> list[str]:
    from zerogate.plots import throughput

    rates = throughput(d)
    if not rates:
        return []
    cpi = d.get("sim", {}).get("cycles_per_inference")
    lines = ["", "## Throughput at the achieved Fmax", "",
             "Core rate = Fmax ÷ cycles per inference (streaming, no stalls). A board top's UART link is far "
             "slower than its core; the bare accelerator's rate is what an AXI4-Stream integration gets.", "",
             "| target | Fmax | cycles per inference (simulated) | core inferences / s |",
             "|---|---|---|---|"]
    for (label, t), r in zip(_targets(d).items(), rates.values(), strict=True):
        lines.append(f"| {label} | {_mhz(t.get('fmax_mhz'))} | {cpi} | {f'{r:,.0f}' if r else 'n/a'} |")
    return lines


def _targets(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from zerogate.plots import targets

    return targets(d)


_IMG = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")


def _inline(text: str) -> str:
    """Escape, then the only inline markdown the report uses: `code`, **bold**, *italic*."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", t)


def render_html(markdown: str, title: str) -> str:
    """``report.md`` as one self-contained HTML page (headings, tables, figures; no scripts, no CDN)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
           "text-align:left}img{max-width:100%}code{background:#f4f4f4}</style></head><body>"]
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *body = table
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body)
            out.append("</table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} for c in cells):
                table.append(cells)
            continue
        flush()
        if m := re.match(r"^(#{1,6}) (.*)$", line):
            n = len(m[1])
            out.append(f"<h{n}>{_inline(m[2])}</h{n}>")
        elif m := _IMG.match(line):
            out.append(f'<p><img src="{html.escape(m["src"])}" alt="{html.escape(m["alt"])}"></p>')
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_reports(net: Network, facts: dict[str, Any], timings: dict[str, float], opts: Any,
                  work: Path, *, plots: bool = True) -> dict[str, Any]:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``report/*.png`` into ``work``.

    Returns the data; its ``figures`` maps each plot to its PNG, relative to ``work``.
    """
    synth = facts.get("synth")
    d: dict[str, Any] = {
        "zerogate_version": __version__,
        "network": net.name,
        "command": opts.command,
        **{k: v for k, v in facts.items() if k != "synth"},
        "synth": synth,
        "memory": network_stats(net).to_dict(),
        "layers": _layer_rows(net, facts.get("rtl", {}).get("layers")),
        "timings": timings,
    }
    if plots:
        from zerogate.plots import write_plots

        pngs = write_plots(net, d, work / FIGURES)
        d["figures"] = {k: p.relative_to(work).as_posix() for k, p in pngs.items()}
    md = render_markdown(d)
    _write_atomic(work / "report.json", json.dumps(d, indent=2, default=_json_default) + "\n")
    _write_atomic(work / "report.md", md)
    _write_atomic(work / "report.html", render_html(md, f"zerogate build report: {d['network']}"))
    return d


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
