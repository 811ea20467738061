"""Fault injection for crash-safety tests: kill this process at a named point of a build.

Set MEDBLINK_CRASH_AT to one of CRASH_POINTS and the build SIGKILLs itself there, the way an
out-of-memory killer or a pulled plug would, so tests can prove the output folder is never left
half-written. Unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_POINTS = ("after-first-row", "before-finish", "before-swap", "between-renames")
ENV = "MEDBLINK_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
