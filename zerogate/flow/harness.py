"""A few-pin harness for measuring an accelerator's Fmax, not its pads'.

The accelerator's top level has parallel stream buses (``in_lanes x in_bits`` in, ``out_lanes x
out_bits`` out). Left unconstrained, nextpnr spreads their pads around the whole die; the
registers next to them (input skid, serializer) are pulled out to the pads while their enables
come from the core, and a 9-11 ns route across the die, not the accelerator, set the Fmax of
the large designs (kws1d unrolled: 66-81 MHz). A board never wires the buses to pins either (the
bundle's top level is a UART). The harness feeds the input bus from one pin through a shift
register and folds the output bus into a rotating signature register read out on one pin, so
nothing can be optimised away and the figure is the accelerator's own, plus ``in_width +
out_width + 3`` flip-flops of harness. (A one-bit parity fold, before 2026-11-25, let Yosys drop
an output bit that appears twice in a beat, such as a copied sign bit, and the flip-flops that
fed only it.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from zerogate.errors import ToolError
from zerogate.flow.common import template_env

#: Module name of the harness (the flow's top when it is used).
HARNESS_TOP = "zerogate_fmax_harness"


@dataclass(frozen=True)
class Harness:
    verilog_path: Path
    top: str
    ff: int  # flip-flops the harness adds (shift and signature registers, handshake, output pin)
    acc_verilog: Path  # the accelerator it wraps

    @property
    def sources(self) -> list[Path]:
        """Everything the flow reads to build :attr:`top`."""
        return [self.acc_verilog, self.verilog_path]


def port_width(verilog: str, module: str, port: str) -> int:
    """Width of ``port`` of ``module`` as declared in ``verilog`` (Amaranth's output style)."""
    m = re.search(rf"^module {re.escape(module)}\b(.*?)^endmodule", verilog, re.S | re.M)
    if m is None:
        raise ToolError(f"module {module} not found in the generated Verilog")
    d = re.search(rf"^\s*(?:input|output)\s+(?:\[(\d+):0\]\s+)?{re.escape(port)}\s*;", m.group(1), re.M)
    if d is None:
        raise ToolError(f"port {port} of module {module} not found in the generated Verilog")
    return int(d.group(1)) + 1 if d.group(1) else 1


def write_harness(path: Path, acc_verilog: Path, acc_top: str) -> Harness:
    """Write the harness around module ``acc_top`` of ``acc_verilog`` to ``path`` (atomically).

    The bus widths are read from the accelerator's own port declarations, so the two cannot
    disagree (Yosys would silently pad or cut a mismatched port)."""
    text = Path(acc_verilog).read_text()
    in_width, out_width = (port_width(text, acc_top, p) for p in ("i__payload", "o__payload"))
    out = template_env().get_template("rtl/bench_harness.v.j2").render(
        name=HARNESS_TOP, acc=acc_top, in_width=in_width, out_width=out_width)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(out)
    tmp.replace(path)
    return Harness(path, HARNESS_TOP, in_width + out_width + 3, Path(acc_verilog))
