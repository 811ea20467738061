"""A config's license, derived from the sources its rows came from, never set by hand.

One license when every source shares it, else the list; a config is non-commercial if any of its
sources is, and redistributable only if every source says so (unknown when any is silent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..manifests import Manifest


def config_license(sources: Sequence[Manifest]) -> dict[str, Any]:
    licenses = sorted({s.license for s in sources})
    flags = [s.redistributable for s in sources]
    redistributable: bool | None
    if any(f is False for f in flags):
        redistributable = False
    elif flags and all(f is True for f in flags):
        redistributable = True
    else:
        redistributable = None
    return {
        "license": licenses[0] if len(licenses) == 1 else " AND ".join(licenses),
        "non_commercial": any(s.non_commercial for s in sources),
        "redistributable": redistributable,
    }
