"""A lock file that keeps two runs out of one checkpoint folder (:func:`acquire_lock`, :func:`release_lock`).

The lock holds the host name and process id of its owner; a lock left by a
process that no longer runs on this host is taken over.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from .checkpoint import CheckpointError


LOCK_NAME = ".lock"


# ------------------------------------------------------------------ lock file


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # exists, owned by someone else
        return True
    return True


def acquire_lock(folder: str | os.PathLike) -> Path:
    """Create ``folder/.lock`` holding this process's PID and host name.

    A lock left by a process that no longer runs on this host (a *stale* lock)
    is taken over. A lock of a live process, or of another host, raises
    :class:`CheckpointError`: two runs must not write one checkpoint folder.
    """
    folder = Path(folder)
    lock = folder / LOCK_NAME
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = lock.read_text().split()
            except (FileNotFoundError, UnicodeDecodeError):
                owner = []
            pid = int(owner[0]) if owner and owner[0].isdigit() else None
            host = owner[1] if len(owner) > 1 else None
            if owner and owner == me.split():
                return lock                       # ours already (an earlier fit() of this process)
            if pid is not None and host == socket.gethostname() and not _pid_alive(pid):
                lock.unlink(missing_ok=True)      # stale: its process is gone
                continue
            raise CheckpointError(
                f"checkpoint_dir {folder} is in use by another run (process {pid if pid else '?'} on host "
                f"{host or '?'}, see {lock}). Two runs must not write one checkpoint folder: use another "
                f"checkpoint_dir, or wait until that run ends. If no such run exists, delete {lock}.") from None
        with os.fdopen(fd, "w") as f:
            f.write(me + "\n")
        return lock
    raise CheckpointError(f"could not take the lock {lock}; delete it if no run uses {folder}")


def release_lock(folder: str | os.PathLike) -> None:
    """Remove ``folder/.lock`` if this process holds it."""
    lock = Path(folder) / LOCK_NAME
    try:
        if lock.read_text().split() == f"{os.getpid()} {socket.gethostname()}".split():
            lock.unlink()
    except (FileNotFoundError, UnicodeDecodeError):
        pass
