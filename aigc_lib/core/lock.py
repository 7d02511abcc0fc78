"""A lock file that keeps two runs out of one checkpoint folder (:func:`acquire_lock`, :func:`release_lock`).

The run that holds ``folder/.lock`` holds an exclusive ``fcntl.flock`` on it
for as long as it runs, and the file names its process id and host. The
kernel lets only one process hold the flock, and frees it when the process
ends, however it ends (SIGKILL included). So exactly one process can be
inside the take-over, even when several find a lock left by a killed run at
the same moment. The holder of the flock then reads the file: a lock that
names a live process on this host (a run of an older aigc_lib, which did not
flock) or another host is refused; an empty, unreadable or dead owner's lock
is taken over. After taking the flock, a process checks that the file it
locked is still the one at ``folder/.lock`` (a run that ends deletes it), and
starts again if not.

Writing the owner can fail (disk full): then the lock file is deleted before
the error is raised, so no empty lock is left to block later runs.

Without ``fcntl`` (Windows) the lock is created by hard-linking a complete
temp file (``O_EXCL`` semantics), and a stale lock is taken over by an atomic
rename that only one process can win.
"""
from __future__ import annotations

import errno
import os
import socket
import uuid
from pathlib import Path

from .checkpoint import CheckpointError

try:
    import fcntl
except ImportError:          # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"

#: locks held: resolved folder -> (pid of the holder, open file descriptor with the flock, or None without
#: fcntl). A forked child inherits the dict but not the ownership (the pid differs).
_HELD: dict[str, tuple[int, int | None]] = {}


def _me() -> str:
    return f"{os.getpid()} {socket.gethostname()}"


def _owner_text(lock: Path) -> tuple[str, str]:
    """The (pid, host) written in a lock file, as text; '?' where unknown or unreadable."""
    try:
        parts = lock.read_text(errors="replace").split()
    except OSError:
        parts = []
    pid = parts[0] if parts and parts[0].isdigit() and len(parts[0]) < 12 else "?"
    host = parts[1] if len(parts) > 1 else "?"
    return pid, host


def _in_use(folder: Path, lock: Path) -> CheckpointError:
    pid, host = _owner_text(lock)
    return CheckpointError(
        f"checkpoint_dir {folder} is in use by another run (process {pid} on host {host}, see {lock}). "
        f"Two runs must not write one checkpoint folder: use another checkpoint_dir, or wait until that run ends. "
        f"If no such run exists, delete {lock}.")


def _cannot_write(folder: Path, lock: Path, e: OSError) -> CheckpointError:
    return CheckpointError(f"cannot write the lock file {lock} of checkpoint_dir {folder} ({type(e).__name__}: "
                           f"{e.strerror or e}): expected a writable folder with free space (or "
                           f"checkpoint_dir=None for no checkpoints); no lock was left behind")


def _check_folder(folder: Path, lock: Path) -> None:
    if lock.is_dir():
        raise CheckpointError(f"{lock} is a folder, expected the lock file of checkpoint_dir {folder} (or nothing): "
                              f"delete or rename the folder {lock}")
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint_dir {folder} is not a folder (it is missing, or a file)")


def acquire_lock(folder: str | os.PathLike) -> Path:
    """Take ``folder/.lock`` for this process and return its path.

    Raises :class:`CheckpointError` if another live run holds it (the message
    names its process and host), or if the lock file cannot be written (disk
    full, read-only folder; no empty lock file is left behind). Calling it
    again in the process that holds the lock returns at once.
    """
    if not isinstance(folder, (str, os.PathLike)) or str(folder) == "":
        raise TypeError(f"folder must be a non-empty str or os.PathLike, got {folder!r}")
    folder = Path(folder)
    lock = folder / LOCK_NAME
    key = str(folder.resolve())
    _check_folder(folder, lock)
    held = _HELD.get(key)
    if held is not None and held[0] == os.getpid() and _still_ours(lock, held[1]):
        return lock                       # ours already (an earlier fit() of this process)
    _HELD.pop(key, None)
    if fcntl is None:    # pragma: no cover
        return _acquire_exclusive_create(folder, lock, key)
    for _ in range(50):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            _check_folder(folder, lock)
            raise _cannot_write(folder, lock, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _in_use(folder, lock) from None
            raise _cannot_write(folder, lock, e) from None
        # We hold the flock of the file we opened. A run that released the lock meanwhile has deleted that
        # file, and another process may hold a new .lock: then start again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except OSError:
            same = False
        if not same:
            os.close(fd)
            continue
        pid, host = _owner_text(lock)
        if (host != "?" and host != socket.gethostname()) or (
                pid != "?" and host == socket.gethostname() and int(pid) != os.getpid() and _pid_alive(int(pid))):
            os.close(fd)                     # a run of another host, or of an aigc_lib without flock
            raise _in_use(folder, lock)
        try:
            _write_owner(fd)
        except OSError as e:
            _drop(lock, fd)
            raise _cannot_write(folder, lock, e) from None
        _HELD[key] = (os.getpid(), fd)
        return lock
    raise CheckpointError(f"could not take the lock {lock}: other runs kept replacing it; delete it if no run "
                          f"uses {folder}")


def _write_owner(fd: int) -> None:
    data = (_me() + "\n").encode()
    os.ftruncate(fd, 0)
    if os.pwrite(fd, data, 0) != len(data):
        raise OSError(errno.ENOSPC, "No space left on device (short write)")
    os.fsync(fd)


def _still_ours(lock: Path, fd: int | None) -> bool:
    try:
        if fd is None:
            return lock.read_text().split() == _me().split()
        return os.path.samestat(os.fstat(fd), os.stat(lock))
    except OSError:
        return False


def _drop(lock: Path, fd: int | None) -> None:
    """Delete the lock file (while still holding it), then let the flock go."""
    try:
        if fd is None or _still_ours(lock, fd):
            lock.unlink()
    except OSError:
        pass
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def release_lock(folder: str | os.PathLike) -> None:
    """Give up ``folder/.lock`` if this process holds it (delete the file); otherwise do nothing."""
    folder = Path(folder)
    key = str(folder.resolve())
    held = _HELD.get(key)
    if held is not None and held[0] == os.getpid():
        _drop(folder / LOCK_NAME, _HELD.pop(key)[1])


# ------------------------------------------------------------- without fcntl (Windows)
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except OSError:                  # exists, owned by someone else
        return True
    return True


def _acquire_exclusive_create(folder: Path, lock: Path, key: str) -> Path:    # pragma: no cover - no fcntl
    """Without flock: create the lock by hard-linking a complete temp file (never an empty lock); take a stale
    lock over by renaming it to a unique name (only one process can win that rename)."""
    me = _me()
    for _ in range(10):
        tmp = folder / f".lock.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(me + "\n")
            os.link(tmp, lock)
            _HELD[key] = (os.getpid(), None)
            return lock
        except FileExistsError:
            pass
        except OSError as e:
            raise _cannot_write(folder, lock, e) from None
        finally:
            tmp.unlink(missing_ok=True)
        pid, host = _owner_text(lock)
        if not (pid != "?" and host == socket.gethostname() and not _pid_alive(int(pid))):
            raise _in_use(folder, lock)
        grave = folder / f".lock.{uuid.uuid4().hex}.stale"
        try:
            os.rename(lock, grave)
        except FileNotFoundError:
            continue
        if _owner_text(grave) != (pid, host):     # we moved another run's fresh lock: give it back, and yield
            try:
                os.link(grave, lock)
            except OSError:
                pass
            grave.unlink(missing_ok=True)
            raise _in_use(folder, lock)
        grave.unlink(missing_ok=True)
    raise CheckpointError(f"could not take the lock {lock}; delete it if no run uses {folder}")
