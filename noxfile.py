"""Sessions: `build-hw` runs the whole toolchain on the embedded default; `tests` runs the tests.

Every session installs the project with ``constraints.txt``, which pins the CPU build of torch
that lies on these machines (an unpinned torch would pull a multi-GB CUDA build).
"""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
PY = "3.11"


def _install(session: nox.Session, extras: str = "") -> None:
    session.install("-c", "constraints.txt", "-e", f".{extras}")


@nox.session(name="build-hw", python=PY)
def build_hw(session: nox.Session) -> None:
    """digits MLP → method 1 (taylor: Taylor-score pruning, then QAT) → Amaranth RTL → Verilator
    bit-exact check → ECP5 and iCE40 bitstreams (or why one does not fit) → bundle/ and
    report.md/.html/.json with plots; the report names the method and its parameters."""
    _install(session)
    session.run("zerogate", "build", "--out", "build/digits-mlp", *session.posargs)


@nox.session(python=PY)
def tests(session: nox.Session) -> None:
    """The test suite, including real Verilator simulations and a real Yosys/nextpnr run, on every
    core (pytest-xdist; `-- -n 0` runs it in one process)."""
    _install(session, "[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "--durations=15", "-n", "auto",
                "--dist", "worksteal", *session.posargs)


@nox.session(python=PY)
def fuzz(session: nox.Session) -> None:
    """200 random networks (or posargs[0]) generated, simulated on Verilator two at a time and
    compared with the golden model; ends with "N networks simulated, M mismatches, S saturation
    events". Failing cases are kept, replayable, under build/fuzz/."""
    _install(session, "[test]")
    n = session.posargs[0] if session.posargs else "200"
    session.run("pytest", "-q", "-s", "-p", "no:cacheprovider",
                "tests/fuzz/test_fuzz.py::test_random_networks_match_golden_on_verilator",
                env={"ZEROGATE_FUZZ_NETWORKS": n, "ZEROGATE_FUZZ_JOBS": "2",
                     "ZEROGATE_FUZZ_OUT": "build/fuzz"})


@nox.session(python=PY)
def lint(session: nox.Session) -> None:
    """ruff over everything."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(name="bench-compress", python=PY)
def bench_compress(session: nox.Session) -> None:
    """Every compression method at several budgets on every bundled model → docs/benchmarks/
    compression.md + compression_pareto.png (`-- --quick` for a tiny sweep; resumes from build/)."""
    _install(session)
    session.run("python", "-m", "bench.compress", *session.posargs)


@nox.session(name="bench-hw", python=PY)
def bench_hw(session: nox.Session) -> None:
    """Every bundled model at sparsities 0/50/90/95 %, 4- and 8-bit weights, unrolled, folded and the
    dense baselines: Verilator (bit-exact, cycles) + Yosys/nextpnr ECP5 (LUT4, FF, DSP, BRAM, Fmax) →
    docs/benchmarks/hardware.md (hours at full scale; `-- --quick` for three designs; resumes from build/)."""
    _install(session)
    session.run("python", "-m", "bench.hw", *session.posargs)


@nox.session(name="bench-hw-cnn", python=PY)
def bench_hw_cnn(session: nox.Session) -> None:
    """digits-cnn and kws1d, unrolled and folded (1/2/4 lanes): Verilator bit-exactness and cycles, lane
    efficiency per layer, ECP5 use and Fmax → build/bench-hw-cnn/results.jsonl (resumable)."""
    _install(session)
    session.run("python", "-m", "bench.hw_cnn", *session.posargs)


@nox.session(name="bench-peer", python=PY)
def bench_peer(session: nox.Session) -> None:
    """zerogate's unrolled layer beside da4ml on the same integer matrices (64×64 and 32×64, 2/4/8-bit,
    90/97 % sparse): both simulated on Verilator against numpy, both through Yosys synth_ecp5 →
    docs/benchmarks/peer-da4ml.md (`-- --quick` for one point, `-- --pnr` adds nextpnr Fmax; resumes
    from build/bench-peer)."""
    _install(session, "[bench]")
    session.run("python", "-m", "bench.da4ml_peer", *session.posargs)
