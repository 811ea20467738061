"""Worker processes die with the build that started them, however it ends.

A process pool's forkserver and workers are not children that die with their parent: after a
kill -9 of the build they were seen alive for 16+ minutes, holding stdout open (so `... | tee`
hangs) and the CPU busy. Two independent lifelines, so either one suffices:

* the kernel's: `prctl(PR_SET_PDEATHSIG, SIGKILL)` (Linux) in the forkserver (its parent is the
  build) and in every worker (its parent is the forkserver), set through ctypes;
* a watchdog thread in every worker that waits on a pidfd of the build process (or, where pidfds
  are missing, polls it) and ends the worker when the build is gone.

The forkserver gets its lifeline when it imports this module as a preload: only a process whose
parent is the build named in MEDBLINK_BUILD_PID (set by the executor) arms it, so importing the
module anywhere else does nothing.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
import time

BUILD_PID_ENV = "MEDBLINK_BUILD_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the lifeline was armed
        os._exit(1)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has exited
    else:
        while _alive(pid):
            time.sleep(0.5)
    os._exit(1)  # the build is gone: nothing will read this worker's result


def worker_started(build_pid: int) -> None:
    """Pool initializer: Ctrl-C is the build's to handle (workers print no KeyboardInterrupt
    tracebacks), and the worker ends when the build process does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    if not _alive(build_pid):
        os._exit(1)
    threading.Thread(target=_watch, args=(build_pid,), name="medblink-lifeline", daemon=True).start()


def _arm_forkserver() -> None:
    expected = os.environ.get(BUILD_PID_ENV)
    forkserver = sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules
    if forkserver and expected == str(os.getppid()):
        die_with_parent()


_arm_forkserver()
