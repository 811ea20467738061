"""Atomic replacement of an output folder, by one build at a time.

A build writes into a hidden staging folder beside OUT and only then swaps it in, so a failed or
killed build leaves the previous complete output (or nothing), never a partial one. An existing
OUT is replaced only if it is empty or is a previous medblink-build output, so a mistyped --out
cannot delete someone's data.

Concurrent builds into one OUT are serialised by an exclusive `flock` on `.OUT.lock` beside it:
a second build fails at once with one line naming the holder (pid, host, start time) instead of
waiting, so a forgotten duplicate job is noticed rather than queued. Staging and moved-aside
folders carry a random (uuid4) suffix, never a pid: builds in separate PID namespaces (containers,
batch jobs) are all pid 1. Leftovers of a killed build are recovered under the lock, so recovery
never asks whether some pid is alive. The lock is the kernel's: it is released when the holder
exits, however it dies, and a stale `.OUT.lock` file is harmless. (flock is not reliable across
NFS clients: builds on several machines into one network folder are not serialised.)
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

from ..errors import OutputError
from ..faults import crash_point

MANIFEST_NAME = "manifest.json"
OUTPUT_FORMAT = "medblink-build-output"


def has_marker(folder: Path, marker: str, fmt: str) -> bool:
    """Does `folder` hold the JSON file `marker` that this kind of folder writes, with `format` fmt?"""
    try:
        data = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == fmt


def is_our_output(folder: Path) -> bool:
    return has_marker(folder, MANIFEST_NAME, OUTPUT_FORMAT)


_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth) held by this process
_SWAPPING: list[Path] = []  # outputs being swapped into place right now (two renames)


def swap_in_progress() -> bool:
    """Is a finished output being moved into place? A signal handler must not interrupt that."""
    return bool(_SWAPPING)


def lock_path(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.lock"


class OutputLock:
    """`with OutputLock(out):` this process is the only build writing `out` (re-entrant)."""

    def __init__(self, out: Path, what: str = "medblink-build output") -> None:
        self.out = Path(os.path.abspath(out))
        self.path = lock_path(self.out)
        self.what = what

    def __enter__(self) -> OutputLock:
        key = str(self.path)
        if key in _HELD:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth + 1)
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = exc.strerror or exc
            raise OutputError(f"{self.out.parent}: cannot create the {self.what} folder: {problem}") from exc
        _HELD[key] = (self._acquire(), 1)
        return self

    def _acquire(self) -> int:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create the lock file: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputError(
                    f"{self.out}: another build is writing this output ({holder}); "
                    "wait for it to finish or choose another --out"
                ) from None
            try:  # the holder before us may have unlinked the file after we opened it: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                _write_holder(fd)
                return fd
            os.close(fd)

    def __exit__(self, *exc: object) -> None:
        key = str(self.path)
        fd, depth = _HELD[key]
        if depth > 1:
            _HELD[key] = (fd, depth - 1)
            return
        del _HELD[key]
        try:
            os.unlink(self.path)  # while still locked, so a waiting opener notices and retries
        except OSError:
            pass
        os.close(fd)


def _write_holder(fd: int) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200],
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    except OSError:
        pass  # a full disk must not stop the lock; the holder is then just unnamed


#: How long a loser waits for the holder to write who it is (it locks first, then writes).
HOLDER_WAIT_S = 1.0


def _read_holder(fd: int) -> str:
    """Who holds the lock. The holder writes its identity just after it locks, so an empty file
    is read again for up to HOLDER_WAIT_S before the holder is called unknown (a loaded machine
    can stretch that instant)."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            return f"pid {info['pid']} on host {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "holder unknown"
            time.sleep(0.02)


class StagedOutput:
    """`with StagedOutput(out) as staging:` write into `staging`; it becomes `out` on success.

    `marker`/`fmt` name the JSON file (and its `format`) by which an existing folder is recognised
    as one this kind of build may replace; `what` names the kind in messages. The defaults are the
    dataset output's; exports and previews pass their own.
    """

    def __init__(
        self, out: Path, *, marker: str = MANIFEST_NAME, fmt: str = OUTPUT_FORMAT, what: str = "medblink-build output"
    ) -> None:
        self.out = Path(os.path.abspath(out))
        self.token = uuid.uuid4().hex  # unique among builds in any PID namespace or host
        self.staging = self.out.parent / f".{self.out.name}.staging-{self.token}"
        self.marker, self.fmt, self.what = marker, fmt, what
        self._lock = OutputLock(self.out, what)

    def __enter__(self) -> Path:
        if os.path.ismount(self.out):
            raise OutputError(
                f"{self.out}: is a mount point; the finished output is moved into place by renaming, which a "
                "mount point cannot take; write to a folder inside it"
            )
        self._lock.__enter__()
        try:
            return self._enter()
        except BaseException:
            self._lock.__exit__()
            raise

    def _enter(self) -> Path:
        self._recover()
        if self.out.exists():
            if not self.out.is_dir():
                raise OutputError(f"{self.out}: output path exists and is not a folder")
            if any(self.out.iterdir()) and not has_marker(self.out, self.marker, self.fmt):
                raise OutputError(
                    f"{self.out}: refusing to replace a non-empty folder that is not a {self.what} "
                    f"(no {self.marker}); choose another folder"
                )
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            problem = exc.strerror or exc
            raise OutputError(f"{self.out.parent}: cannot create the {self.what} folder: {problem}") from exc
        return self.staging

    def _recover(self) -> None:
        """Clean up after a build that was killed: its staging folder goes; if it died between the
        two renames, the previous complete output it had moved aside is put back. Runs under the
        lock, so every leftover is a dead build's (whatever its suffix: a uuid, or an old pid)."""
        parent = self.out.parent
        if not parent.is_dir():
            return
        for leftover in sorted(parent.glob(f".{self.out.name}.*-*")):
            kind, _, _token = leftover.name.rpartition("-")
            if leftover.is_symlink() or not leftover.is_dir():
                continue
            if kind.endswith(".old") and not self.out.exists() and has_marker(leftover, self.marker, self.fmt):
                os.replace(leftover, self.out)
            elif kind.endswith((".old", ".staging")):
                shutil.rmtree(leftover, ignore_errors=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._exit(exc_type)
        finally:
            self._lock.__exit__()

    def _exit(self, exc_type: type[BaseException] | None) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        old = self.out.parent / f".{self.out.name}.old-{self.token}"
        _SWAPPING.append(self.out)
        try:
            self._swap(old)
        finally:
            _SWAPPING.remove(self.out)

    def _swap(self, old: Path) -> None:
        crash_point("before-swap")
        try:
            if self.out.exists():
                os.replace(self.out, old)
                crash_point("between-renames")
            os.replace(self.staging, self.out)
        except OSError as exc2:
            shutil.rmtree(self.staging, ignore_errors=True)
            if old.exists() and not self.out.exists():
                os.replace(old, self.out)
            raise OutputError(
                f"{self.out}: cannot move the finished output into place: {exc2.strerror or exc2}"
            ) from exc2
        shutil.rmtree(old, ignore_errors=True)
