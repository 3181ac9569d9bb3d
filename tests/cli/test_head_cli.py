"""``--head argmax`` from the command line: the design, the UART protocol and the bundle's RTL
context all describe one class index; an unusable head is one line with the fix."""

import json
import os
import subprocess
import sys
from pathlib import Path

from zerogate import ir
from zerogate.bundle import rtl_context
from zerogate.host import UartProtocol
from zerogate.ir import Network


def _zerogate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zerogate", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


def test_generate_with_argmax_head(tmp_path: Path, small_net: Network) -> None:
    from hwgen.verilog import load_design

    ir.save(small_net, tmp_path / "ir")
    p = _zerogate("generate", "ir", "--out", "rtl", "--head", "argmax", "--out-lanes", "2", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    d = json.loads((tmp_path / "rtl" / "design.json").read_text())
    assert (d["head"], d["out_lanes"], d["beats_out"]) == ("argmax", 1, 1)
    assert [ly["name"] for ly in d["layers"]] == ["fc0", "fc1", "argmax"]
    head = d["layers"][-1]
    assert (head["out_features"], head["out_bits"], head["out_signed"]) == (1, 2, False)  # 3 classes
    proto = UartProtocol.from_design(d, folder=tmp_path / "rtl")
    assert (proto.out_features, proto.out_bits, proto.out_signed, proto.reply_bytes) == (1, 2, False, 1)
    ctx = rtl_context(load_design(tmp_path / "rtl"))
    assert (ctx["out_features"], ctx["out_bits"], ctx["out_lanes"], ctx["beats_out"]) == (1, 2, 1, 1)


def test_argmax_head_over_one_output_is_refused(tmp_path: Path, small_net: Network) -> None:
    import dataclasses

    fc0, fc1 = small_net.layers
    one = dataclasses.replace(fc1, out_features=1, weight=fc1.weight[:1], bias=fc1.bias[:1],
                              weight_bits=fc1.weight_bits[:1], weight_frac=fc1.weight_frac[:1],
                              shift=fc1.shift[:1])
    ir.save(dataclasses.replace(small_net, layers=(fc0, one)), tmp_path / "ir")
    p = _zerogate("generate", "ir", "--out", "rtl", "--head", "argmax", cwd=tmp_path)
    assert p.returncode != 0 and not (tmp_path / "rtl").exists()
    assert p.stderr.strip().splitlines() == [
        "zerogate: error: --head argmax needs at least 2 outputs, the network has 1; leave --head out"]
