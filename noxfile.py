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
    """digits MLP → prune + quantize → Amaranth RTL → Verilator bit-exact check → ECP5 bitstream."""
    _install(session)
    session.run("zerogate", "build", "--out", "build/digits-mlp", *session.posargs)


@nox.session(python=PY)
def tests(session: nox.Session) -> None:
    """The test suite, including real Verilator simulations and a real Yosys/nextpnr run."""
    _install(session, "[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "--durations=15", *session.posargs)


@nox.session(python=PY)
def lint(session: nox.Session) -> None:
    """ruff over everything."""
    session.install("ruff")
    session.run("ruff", "check", ".")
