"""One writer per run folder: an OS file lock on ``RUN_DIR/.lock``.

A search or a retraining holds ``fcntl.flock(LOCK_EX)`` on ``RUN_DIR/.lock`` while it writes the folder.
The kernel releases the lock when the process exits, however it exits (return, exception, SIGKILL, a
crash), so a lock is never stale: the file left behind by a dead run is just a file. A second writer
is refused at once (``LOCK_NB``) with the holder's pid, start time and command, which the holder writes
into the lock file after taking the lock. Readers (``diagnose``, ``export``) take no lock.

The lock is advisory and local: it serialises pyronas processes on one machine (or on a network file
system whose ``flock`` is coherent, e.g. NFSv4 with lock support); it does not stop a user's own ``rm``.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from pyronas.errors import RunFolderError

__all__ = ["LOCK_FILE", "RunLock"]

LOCK_FILE = ".lock"


class RunLock:
    """Exclusive, non-blocking lock of a run folder (a context manager; ``acquire`` / ``release``).

    Args:
        run_dir: the run folder (must exist).
        command: what holds it, written into the lock file for a refused second writer to read
            (default: this process's command line).
    """

    def __init__(self, run_dir: str | os.PathLike, command: str | None = None):
        self.path = Path(run_dir) / LOCK_FILE
        self.command = command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock or raise ``RunFolderError`` naming the holder (pid, start time, command)."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's note stays readable
        except OSError as e:
            raise RunFolderError(f"{self.path}: cannot create the run folder's lock file ({e.strerror}); "
                                 "choose a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_note(fd)
            os.close(fd)
            raise RunFolderError(
                f"{self.path.parent}: another process is writing this run folder ({holder}); "
                "wait for it to finish (or stop it), or choose another --out"
            ) from None
        except OSError as e:
            os.close(fd)
            raise RunFolderError(f"{self.path}: cannot lock the run folder ({e.strerror})") from None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        note = f"pid {os.getpid()} on {socket.gethostname()}, started {stamp}, command: {self.command}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file stays; a lock file without a holder means nothing)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_note(fd: int) -> str:
    """What the holder wrote into the lock file (its pid, host, start time and command)."""
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown: it has not written its note yet"
