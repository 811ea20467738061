"""`medblink-build sources --check`: is a local copy the one a manifest pins?

A manifest may list the files of its source with their sha256 (`[[files]]`); checking hashes the
local copy (through the hash cache) and reports missing, changed and extra files. `pin` writes
such a list for a copy a maintainer trusts.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourceError
from ..fsnames import display_name
from ..hashing import HashCache
from .folder import FolderSource
from .resolve import LOCAL_MANIFEST, marker_present


@dataclass
class CheckReport:
    source_id: str
    root: Path
    pinned: int
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # relpath -> actual sha256

    @property
    def ok(self) -> bool:
        return self.pinned > 0 and not self.missing and not self.changed


def local_files(root: Path) -> list[str]:
    """Every regular, non-hidden file under `root` (symlinks leaving it excluded), sorted."""
    out = []
    base = root.resolve()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or name == LOCAL_MANIFEST or not path.is_file():
                continue
            try:
                path.resolve().relative_to(base)
            except (ValueError, RuntimeError):
                continue
            out.append(path.relative_to(base).as_posix())
    return out


def check_source(source: FolderSource, cache: HashCache | None = None) -> CheckReport:
    cache = cache or HashCache()
    expected = source.manifest.files
    report = CheckReport(source.id, source.root, pinned=len(expected))
    present = {display_name(rel): rel for rel in local_files(source.root)}  # as pinned -> on disk
    for rel in sorted(expected):
        if rel not in present:
            report.missing.append(rel)
            continue
        digest = cache.digest(source.root / present[rel])
        report.digests[rel] = digest
        if digest != expected[rel]:
            report.changed.append(rel)
    report.extra = sorted(set(present) - set(expected)) if expected else []
    cache.save()
    return report


def _check_layout(source: FolderSource) -> None:
    manifest = source.manifest
    missing = [d for d in manifest.detect if not marker_present(source.root, d)]
    if missing:
        raise SourceError(
            f"{source.root}: not a copy of {source.id}: missing {', '.join(missing)} (the manifest's layout markers); "
            f"see: medblink-build sources show {source.id}"
        )
    if manifest.include:
        files = local_files(source.root)
        if not any(fnmatch.fnmatchcase(rel, pattern) for rel in files for pattern in manifest.include):
            raise SourceError(
                f"{source.root}: not a copy of {source.id}: none of its {len(files)} files matches the layout "
                f"({', '.join(manifest.include)}); see: medblink-build sources show {source.id}"
            )


def pin_source(source: FolderSource, cache: HashCache | None = None) -> str:
    """A `[[files]]` TOML block pinning every file of the local copy, once the copy is seen to have
    the manifest's layout (its `detect` markers, files its `include` globs match)."""
    _check_layout(source)
    cache = cache or HashCache()
    lines = [f"# pinned from a local copy of {source.id}: {len(local_files(source.root))} files"]
    for rel in local_files(source.root):
        # a JSON string is a valid TOML basic string: quotes, backslashes and \\xNN escapes survive
        path = json.dumps(display_name(rel), ensure_ascii=False)
        lines += ["[[files]]", f"path = {path}", f'sha256 = "{cache.digest(source.root / rel)}"', ""]
    cache.save()
    return "\n".join(lines)
