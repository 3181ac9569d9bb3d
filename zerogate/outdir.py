"""Output folders: which ones a command may replace, and how a finished one is put in place.

Every writing command (build, compress, generate, simulate, synth) goes through :func:`publish`:

- **Ownership.** A command writes only into a folder that does not exist, is empty, or carries
  :data:`MARKER`, the small file zerogate leaves in every output it publishes. Anything else is the
  user's: it is refused before any work starts, unless the user passes ``--force``. An ``--out`` that
  is, holds or lies inside an input, the working folder, the home folder or ``/`` is refused always.
- **Atomic publish.** The output is assembled in a private work folder beside the destination and
  swapped in when complete (the old folder renamed aside, the new one renamed in, the old deleted),
  so the destination is either the old output or the complete new one.
- **One writer.** An advisory lock (``fcntl.flock``) on a file beside the destination, taken before
  the work starts, makes a second run on the same ``--out`` stop at once with a "busy" error.
- **No leftovers.** Work, old and lock entries are removed on success, on failure, on Ctrl-C and on
  SIGTERM/SIGHUP (which raise :class:`Terminated` while a publish is under way); the bookkeeping runs
  with those signals blocked, so a second Ctrl-C cannot cut it short.

Only the standard library and :mod:`zerogate.errors`: a core module any layer may use.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from zerogate.errors import ConfigError, ToolError, UserError, VerificationError

MARKER = ".zerogate-output.json"
FAILED_SUFFIX = ".failed"
LOCK_SUFFIX = ".zerogate-lock"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: errors of the file system a user can act on (space, permissions, a read-only mount, bad names)
_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.EXDEV, errno.EMLINK,
                errno.ELOOP, errno.EBUSY}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while an output was being written (cleaned up like Ctrl-C)."""


def os_error(e: OSError, what: str) -> UserError:
    """``e`` as one line naming ``what`` was being done and the file, for the user to act on."""
    name = f" {display(os.fsdecode(e.filename))}" if e.filename is not None else ""
    return UserError(f"cannot {what}:{name}: {e.strerror or e}; check the path, its permissions and "
                     "the free space, or choose another --out")


def display(out: str | os.PathLike[str]) -> str:
    """``out`` as the user wrote it, shortened if it is very long (a message stays one readable line)."""
    text = str(out)
    return text if len(text) <= 100 else f"{text[:60]}…{text[-30:]}"


def is_ours(folder: Path) -> bool:
    """``folder`` holds the marker of a zerogate output."""
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("written_by") == "zerogate"


def _state(path: Path) -> str:
    """absent | empty | ours | file | foreign (symlinks followed; a dangling one counts as a file)."""
    if not os.path.lexists(path):
        return "absent"
    if not path.is_dir():
        return "file"
    if not any(path.iterdir()):
        return "empty"
    return "ours" if is_ours(path) else "foreign"


def _within(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or lies inside it (both resolved)."""
    return a == b or b in a.parents


def _relation(out: Path, other: Path) -> str | None:
    if out == other:
        return "is"
    if other in out.parents:
        return "is inside"
    if out in other.parents:
        return "contains"
    return None


def _key(name: str) -> str:
    """``name`` short enough that ``.<key>.work-XXXXXXXX`` fits a file name whatever ``name``'s length."""
    if len(name.encode()) <= 64:
        return name
    return f"{name.encode()[:40].decode(errors='ignore')}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def _existing_ancestor(path: Path) -> Path:
    for p in (path, *path.parents):
        with contextlib.suppress(OSError):  # a name too long to look up
            if p.is_dir():
                return p
    return Path("/")


def _check_lengths(dest: Path, shown: str) -> None:
    """A name or path the file system cannot hold, found before anything is created."""
    base = _existing_ancestor(dest.parent)
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
        path_max = os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in dest.parts[1:]:
        n = len(os.fsencode(part)) + (len(FAILED_SUFFIX) if part == dest.name else 0)
        if n > name_max:
            raise ConfigError(f"--out {shown}: the name {part[:24]!r}… is too long for the file system "
                              f"({len(os.fsencode(part))} bytes, at most {name_max - len(FAILED_SUFFIX)} "
                              "here); choose a shorter --out")
    if len(os.fsencode(str(dest))) + len(FAILED_SUFFIX) + 1 > path_max:
        raise ConfigError(f"--out {shown}: the path is too long for the file system (at most {path_max} "
                          "bytes); choose a shorter --out")


def check(out: Path, *, force: bool = False, inputs: Iterable[Path | None] = ()) -> Path:
    """Refuse ``out`` if this run may not write it; return it resolved. Creates nothing.

    ``inputs`` are the files and folders the command reads: an output may not be, hold or lie in one.
    """
    shown = display(out)
    try:
        _check_lengths(Path(os.path.abspath(out)), shown)  # before resolving, which fails on such names
        dest = Path(os.path.abspath(out)).resolve()
        _check_lengths(dest, shown)
        cwd, home = Path.cwd().resolve(), Path.home().resolve()
        if dest.parent == dest:
            raise ConfigError(f"--out {shown} is the root folder; choose a folder of its own, "
                              "e.g. --out build/run")
        for other, what in ((cwd, "the working folder"), (home, "your home folder")):
            rel = _relation(dest, other)
            if rel in ("is", "contains"):
                raise ConfigError(f"--out {shown} {rel} {what} ({other}); choose a folder of its own inside "
                                  "it, e.g. --out build/run")
        for path in inputs:
            if path is None:
                continue
            src = Path(os.path.abspath(path)).resolve()
            rel = _relation(dest, src)
            if rel is not None:
                raise ConfigError(f"--out {shown} {rel} the input {path}; choose an --out apart from the "
                                  "inputs")
        above = next(p for p in dest.parents if os.path.lexists(p))
        if not above.is_dir():
            raise ConfigError(f"--out {shown}: {above} is a file, not a folder; choose another --out")
        _check_owner(dest, shown, force)
        return dest
    except OSError as e:
        raise os_error(e, f"use --out {shown}") from None


def _check_owner(dest: Path, shown: str, force: bool) -> None:
    """``dest`` and its ``.failed`` sibling may be replaced by this run."""
    failed = dest.with_name(dest.name + FAILED_SUFFIX)
    for path, label in ((dest, f"--out {shown}"), (failed, f"{failed} (the logs of a failed run)")):
        state = _state(path)
        if state == "file" and (path == dest or not force):
            raise ConfigError(f"{label} is a file, not a folder; move it away or choose another --out")
        if state == "foreign" and not force:
            raise ConfigError(f"{label} holds files zerogate did not write (it has no {MARKER}); pass "
                              "--force to replace it, or choose another --out")


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Ctrl-C and termination wait until the bookkeeping inside is done, then take effect.

    The signals are recorded by a Python handler and replayed at the end. A thread signal mask
    would not do: the kernel may hand a process-wide signal to another thread (torch's, a progress
    bar's), and Python then still raises in the main thread, in the middle of the bookkeeping.
    Python runs every handler in the main thread, so recording there defers the signal reliably.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {}
    for s in _STOP_SIGNALS:
        h = signal.getsignal(s)
        if h is None or h is signal.SIG_IGN:
            continue
        saved[s] = h
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        if pending:
            signum = pending[0]
            handler = saved[signum]
            if callable(handler):
                handler(signum, None)
            else:  # the default action, now that it is back in place
                os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _termination_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` (so cleanup runs) instead of ending the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated()

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for s, h in saved.items():
        if h is not signal.SIG_IGN:  # a run started with nohup keeps ignoring SIGHUP
            signal.signal(s, stop)
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _remove(path: Path) -> None:
    """Delete a file or folder tree; not there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _lock(parent: Path, key: str, shown: str) -> int:
    """An exclusive lock on ``.<key>.zerogate-lock`` in ``parent``; raise "busy" if another run holds it.

    The lock file is unlinked on release, so a run may lock a file that was unlinked meanwhile:
    it then checks that the path still names the file it locked, and tries again if not.
    """
    path = parent / f".{key}{LOCK_SUFFIX}"
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"busy: another zerogate run is writing {shown}; wait for it or choose "
                            "another --out") from None
        try:
            st, held = os.stat(path), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise UserError(f"busy: zerogate runs keep taking turns writing {shown}; wait for them or choose "
                    "another --out")


def _unlock(parent: Path, key: str, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (parent / f".{key}{LOCK_SUFFIX}").unlink()  # while still holding it: see _lock
    os.close(fd)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; return those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    created = []
    for p in reversed(missing):
        p.mkdir()
        created.append(p)
    return created


def write_marker(folder: Path, command: str, *, failed: bool = False) -> None:
    from zerogate import __version__

    data = {"written_by": "zerogate", "command": command, "version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    if failed:
        data["status"] = "failed"
    (folder / MARKER).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def swap_in(src: Path, dst: Path) -> None:
    """Move the finished folder ``src`` to ``dst``, replacing whatever is there as late as possible.

    The old ``dst`` is renamed aside, ``src`` renamed in, the old deleted; if the second rename
    fails the old one is put back. Runs with Ctrl-C and termination held back, so a signal cannot
    land between the renames. The caller has decided that ``dst`` may be replaced.
    """
    with _signals_blocked():
        if not os.path.lexists(dst):
            os.rename(src, dst)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{_key(dst.name)}.old-", dir=dst.parent))
        try:
            os.rename(dst, old / "x")
        except BaseException:
            old.rmdir()
            raise
        try:
            os.rename(src, dst)
        except BaseException:
            os.rename(old / "x", dst)
            old.rmdir()
            raise
        _remove(old)


def _work_folder(dst: Path) -> Path:
    """A new hidden folder beside ``dst``, as readable as any folder the user makes."""
    work = Path(tempfile.mkdtemp(prefix=f".{_key(dst.name)}.work-", dir=dst.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    return work


@contextlib.contextmanager
def staged_folder(dst: Path) -> Iterator[Path]:
    """A work folder beside ``dst`` that replaces ``dst`` when the block ends normally, else vanishes.

    No ownership check and no lock: for a part of an output (the IR, the bundle) or an API caller
    that has decided ``dst`` may go. Whole command outputs use :func:`publish`.
    """
    dst = Path(dst)
    work: Path | None = None
    try:
        with _signals_blocked():
            work = _work_folder(dst)
        yield work
        swap_in(work, dst)
        work = None
    finally:
        if work is not None:
            with _signals_blocked():
                _remove(work)


def _is_output_error(e: OSError, work: Path) -> bool:
    """An OSError while a command writes its output that the user, not zerogate, has to fix."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    return e.errno in _USER_ERRNOS and any(f is not None and str(work) in os.fsdecode(f)
                                           for f in (e.filename, e.filename2))


def _keep_failed(e: UserError, work: Path, dest: Path, command: str, force: bool) -> UserError:
    """Move the failed run's ``work`` to ``<out>.failed`` if ``e`` names a log in it (and we may)."""
    msg = str(e)
    failed = dest.with_name(dest.name + FAILED_SUFFIX)
    if str(work) not in msg and not isinstance(e, VerificationError):
        _remove(work)
        return e
    with _signals_blocked():
        if _state(failed) in ("absent", "empty", "ours") or force:
            write_marker(work, command, failed=True)
            swap_in(work, failed)
            return type(e)(msg.replace(str(work), str(failed)))
        _remove(work)  # someone put files there since the run began: they stay
    return type(e)(msg.replace(str(work), str(failed)) + f" (logs not kept: {failed} holds other files)")


@contextlib.contextmanager
def publish(out: Path, command: str, *, force: bool = False, inputs: Iterable[Path | None] = (),
            keep_failed: bool = True) -> Iterator[Path]:
    """A private work folder that becomes ``out`` when the block ends normally.

    Refusals (see :func:`check`) and "busy" are raised before the block runs. If the block raises
    a :class:`VerificationError`, or a :class:`ToolError` whose message names a file in the work
    folder, the work is kept as ``<out>.failed`` (same ownership rule) and the message names it
    there; anything else, a Ctrl-C included, leaves ``out`` and its neighbours as they were.
    """
    shown = display(out)
    dest = check(out, force=force, inputs=inputs)
    key = _key(dest.name)
    with _termination_as_interrupt():
        created: list[Path] = []
        fd: int | None = None
        work: Path | None = None
        try:
            with _signals_blocked():
                try:
                    created = _make_parents(dest.parent)
                    fd = _lock(dest.parent, key, shown)
                    _check_owner(dest, shown, force)  # again, now that no other run can change it
                    work = _work_folder(dest)
                except OSError as e:
                    raise os_error(e, f"write --out {shown}") from None
            try:
                yield work
            except (VerificationError, ToolError) as e:
                if not keep_failed:
                    raise
                try:
                    err = _keep_failed(e, work, dest, command, force)
                except OSError as oe:
                    raise os_error(oe, f"keep the failed run beside --out {shown}") from None
                work = None
                if err is e:
                    raise
                raise err from None
            except OSError as e:
                if _is_output_error(e, work):
                    raise os_error(e, f"write --out {shown}") from None
                raise
            try:
                with _signals_blocked():
                    write_marker(work, command)
                    swap_in(work, dest)
                    work = None
            except OSError as e:
                raise os_error(e, f"put the output in place at --out {shown}") from None
        finally:
            with _signals_blocked():
                if work is not None:
                    _remove(work)
                if fd is not None:
                    _unlock(dest.parent, key, fd)
                if not os.path.lexists(dest):
                    for p in reversed(created):  # folders made for an output that did not appear
                        with contextlib.suppress(OSError):
                            p.rmdir()
