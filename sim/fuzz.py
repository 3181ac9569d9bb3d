"""Whole-network fuzzing: generate each random network, run it on Verilator, score it against golden.

The cases themselves come from the property-based strategies in ``tests/fuzz`` (hypothesis); this
module is what runs them, in a process pool, and what a failure leaves behind: a failing case is
kept as a replayable folder (its IR, its input vectors, its simulation settings and logs) and
``python -m sim.fuzz --replay FOLDER`` reruns exactly that simulation. A passing case's folder is
removed, so a sweep of hundreds of networks needs little disk.

Saturation events are counted from the golden model: every layer output that had to be clamped
to its format (ReLU's clamp at zero is the activation, not an event). A sweep that reports none
would not be exercising the saturation logic at all, so the count is printed with the result.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zerogate import golden, ir
from zerogate.errors import UserError
from zerogate.ir import Network
from zerogate.vectors import worst_case_inputs  # noqa: F401  (re-exported: the fuzz tests drive it)

CASE_FILE = "case.json"
VECTORS_FILE = "vectors.npz"
OBJ_CACHE = ".objcache"  # Verilator runtime objects shared by every case of a sweep


@dataclass(frozen=True, eq=False)
class FuzzCase:
    """One network to generate and simulate, with the stimulus and stream settings to use."""

    name: str
    net: Network
    x: np.ndarray  # [n, in_features] input integers
    seed: int = 0
    gaps: bool = False
    backpressure: bool = False
    in_lanes: int = 8
    out_lanes: int = 2
    options: Mapping[str, Any] = field(default_factory=dict)  # extra keywords for hwgen's generate

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "gaps": self.gaps, "backpressure": self.backpressure,
                "in_lanes": self.in_lanes, "out_lanes": self.out_lanes, "options": dict(self.options)}


@dataclass(frozen=True)
class CaseResult:
    """What one case gave. ``error`` is set when generation or simulation itself broke."""

    name: str
    ok: bool
    vectors: int
    mismatches: int
    saturation: int
    seconds: float
    summary: str
    kept: Path | None = None
    error: str | None = None


@dataclass(frozen=True)
class FuzzReport:
    """All case results of a sweep; :meth:`line` is the one-line verdict."""

    results: tuple[CaseResult, ...]
    seconds: float

    @property
    def networks(self) -> int:
        return len(self.results)

    @property
    def mismatches(self) -> int:
        """Mismatching vectors over all networks (a network that broke counts as one)."""
        return sum(r.mismatches if r.error is None else max(r.mismatches, 1) for r in self.results)

    @property
    def saturation(self) -> int:
        return sum(r.saturation for r in self.results)

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        vectors = sum(r.vectors for r in self.results)
        text = (f"{self.networks} networks simulated, {self.mismatches} mismatches, "
                f"{self.saturation} saturation events ({vectors} vectors, {self.seconds:.0f} s)")
        if self.failed:
            text += "; failed: " + ", ".join(f"{r.name} (kept in {r.kept})" for r in self.failed)
        return text


def saturation_events(net: Network, x: np.ndarray) -> int:
    """Outputs clamped to their format over every layer, according to the golden model."""
    return sum(t.saturated for t in golden.trace(net, x))


def save_case(case: FuzzCase, folder: Path) -> None:
    """Write what :func:`replay` needs: the IR, the vectors and the settings."""
    folder.mkdir(parents=True, exist_ok=True)
    ir.save(case.net, folder / "ir")
    np.savez(folder / VECTORS_FILE, x=case.x)
    settings = {**case.settings(), "replay": f"python -m sim.fuzz --replay {folder}"}
    (folder / CASE_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def load_case(folder: Path) -> FuzzCase:
    """Read a folder written by :func:`save_case` (a kept failure)."""
    folder = Path(folder)
    try:
        s = json.loads((folder / CASE_FILE).read_text())
        with np.load(folder / VECTORS_FILE, allow_pickle=False) as z:
            x = z["x"]
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"{folder}: not a kept fuzz case ({type(e).__name__}); point --replay at a "
                        f"folder holding {CASE_FILE}, {VECTORS_FILE} and ir/") from None
    return FuzzCase(name=s["name"], net=ir.load(folder / "ir"), x=x, seed=s["seed"], gaps=s["gaps"],
                    backpressure=s["backpressure"], in_lanes=s["in_lanes"], out_lanes=s["out_lanes"],
                    options=s.get("options", {}))


def run_case(case: FuzzCase, work: Path, *, keep: bool = False) -> CaseResult:
    """Generate, simulate and score one case in ``work/<name>``; remove the folder if it passed.

    Nothing raises: a crash of the generator or the simulator is itself a finding, reported as a
    failed case with its folder kept.
    """
    from hwgen.verilog import generate
    from sim.runner import simulate

    folder = Path(work) / case.name
    shutil.rmtree(folder, ignore_errors=True)
    options = dict(case.options)
    if "layer_styles" in options:  # JSON keys are strings; the generator wants layer indices
        options["layer_styles"] = {int(k): v for k, v in options["layer_styles"].items()}
    t0 = time.perf_counter()
    vectors, sat = len(case.x), saturation_events(case.net, case.x)
    try:
        design = generate(case.net, folder / "rtl", in_lanes=case.in_lanes, out_lanes=case.out_lanes,
                          **options)
        r = simulate(design, case.net, case.x, folder / "sim", seed=case.seed, gaps=case.gaps,
                     backpressure=case.backpressure, waves=keep, obj_cache=Path(work) / OBJ_CACHE)
        ok, bad, summary, error = r.ok, r.mismatches, r.summary(), None
    except Exception as e:  # any crash is a finding, not a reason to stop the sweep
        ok, bad, error = False, 0, f"{type(e).__name__}: {e}".splitlines()[0]
        summary = f"{case.name} broke: {error}"
    kept = None
    if ok and not keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        save_case(case, folder)
        kept = folder
    return CaseResult(name=case.name, ok=ok, vectors=vectors, mismatches=bad, saturation=sat,
                      seconds=round(time.perf_counter() - t0, 2), summary=summary, kept=kept, error=error)


def run_cases(cases: Iterable[FuzzCase], work: Path, *, jobs: int = 1,
              log: Callable[[str], None] | None = print) -> FuzzReport:
    """Run every case (``jobs`` at a time, each in its own process) and collect the report."""
    cases = list(cases)
    if len({c.name for c in cases}) != len(cases):
        raise ValueError("fuzz case names must be unique (each gets its own folder)")
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: list[CaseResult] = []

    def done(r: CaseResult) -> None:
        results.append(r)
        if log is not None:
            state = "ok" if r.ok else "FAIL"
            log(f"[{len(results)}/{len(cases)}] {r.name}: {state}, {r.vectors} vectors, "
                f"{r.saturation} saturated ({r.seconds:.1f} s){'' if r.ok else ' - ' + r.summary}")

    if jobs <= 1:
        for c in cases:
            done(run_case(c, work))
    else:
        # spawn, not fork: the parent may hold threads (pytest, hypothesis) that fork would copy mid-state
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            for r in pool.map(run_case, cases, [work] * len(cases)):
                done(r)
    report = FuzzReport(results=tuple(results), seconds=time.perf_counter() - t0)
    if log is not None:
        log(report.line())
    return report


def replay(folder: Path, out: Path | None = None) -> CaseResult:
    """Rerun a kept case exactly (same network, vectors, seed and stalls), with a waveform."""
    case = load_case(folder)
    return run_case(case, Path(out) if out else Path(folder) / "replay", keep=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.fuzz --replay FOLDER``: rerun a failure the fuzz tests kept."""
    ap = argparse.ArgumentParser(prog="python -m sim.fuzz", description=main.__doc__)
    ap.add_argument("--replay", type=Path, required=True, help="a folder kept by a failed fuzz case")
    ap.add_argument("--out", type=Path, default=None, help="where to rebuild (default FOLDER/replay)")
    args = ap.parse_args(argv)
    try:
        r = replay(args.replay, args.out)
    except UserError as e:
        print(f"sim.fuzz: error: {e}", file=sys.stderr)
        return e.exit_code
    print(r.summary)
    mism = r.mismatches if r.error is None else max(r.mismatches, 1)
    print(f"1 networks simulated, {mism} mismatches, {r.saturation} saturation events")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
