"""A local copy of a source: files found under a root folder, with per-file metadata.

Files are found recursively in sorted order (hidden entries and symlinks leaving the root are
ignored), filtered by the manifest's include globs or, without them, by image suffix or DICOM
content. Metadata comes from the manifest's defaults, then its metadata tables (e.g. the NIH
`Data_Entry_2017.csv`), then an optional `labels.csv` in the root with a `path` column: later
ones win. Tables are parsed as CSV data, and a row naming a path outside the root is an error.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import SourceError
from ..fsnames import display_name, file_kind, open_regular
from ..manifests import Manifest, MetadataTable
from ..model import SourceItem
from ..readers import IMAGE_SUFFIXES, sniff_format
from ..seeding import stable_hash

LABELS_FILE = "labels.csv"
LABELS_TABLE = MetadataTable(path=LABELS_FILE, key="path", match="relpath")


def _is_inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _safe_relpath(value: str, table: str, line: int) -> str:
    rel = PurePosixPath(value.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not value.strip():
        raise SourceError(f"{table}: line {line}: path {value!r} is empty or escapes the source root")
    return str(rel)


def _check_table_file(root: Path, path: Path) -> None:
    """A table is read only if it is a regular file inside the root: a labels.csv symlink to
    /etc/passwd must not be read (and its first line echoed in an error), nor a folder or FIFO."""
    if not _is_inside(root.resolve(), path):
        raise SourceError(f"{path}: leads outside the source root (symlink?); refusing to read it")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the table: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise SourceError(f"{path}: is {file_kind(mode)}, not a CSV file")


@dataclass
class FolderSource:
    """A source root bound to its manifest (or to a generic description when none fits)."""

    root: Path
    manifest: Manifest

    @property
    def id(self) -> str:
        return self.manifest.id

    def _candidate_files(self) -> list[str]:
        root = self.root.resolve()
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            base = Path(dirpath)
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                full = base / name
                if full.is_symlink() and not _is_inside(root, full):
                    continue
                rel = full.relative_to(root).as_posix()
                if self._wanted(rel, full):
                    found.append(rel)
        return found

    def _wanted(self, rel: str, full: Path) -> bool:
        if self.manifest.include:
            return any(fnmatch.fnmatchcase(rel, pattern) for pattern in self.manifest.include)
        suffix = full.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return True
        if suffix == "":
            try:
                with open_regular(full) as f:
                    return sniff_format(f.read(132)) == "dicom"
            except OSError:
                return False
        return False

    def _read_table(self, table: MetadataTable, required: bool) -> dict[str, dict[str, str]]:
        path = self.root / table.path
        if not os.path.lexists(path):
            if required:
                raise SourceError(f"{path}: metadata table named by {self.manifest.origin} is missing")
            return {}
        _check_table_file(self.root, path)
        rows: dict[str, dict[str, str]] = {}
        first_line: dict[str, int] = {}
        try:
            with open_regular(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
                # strict: an unterminated quote is an error, not a field swallowing the rest of the file
                reader = csv.DictReader(f, delimiter=table.delimiter, strict=True)
                line = 1
                if reader.fieldnames is None or table.key not in reader.fieldnames:
                    columns = ", ".join(repr(c[:40]) for c in (reader.fieldnames or [])[:20])
                    raise SourceError(f"{path}: no {table.key!r} column (columns: {columns or 'none'})")
                line = reader.line_num + 1
                for row in reader:
                    key = row.get(table.key) or ""
                    if table.match == "relpath":
                        key = _safe_relpath(key, str(path), line)
                    if key in first_line:
                        raise SourceError(
                            f"{path}: line {line}: {table.key} {key!r} is also on line {first_line[key]}; "
                            "one row per file"
                        )
                    first_line[key] = line
                    if table.columns:
                        values = {ours: (row.get(theirs) or "").strip() for ours, theirs in table.columns.items()}
                    else:
                        values = {k: (v or "").strip() for k, v in row.items() if k and k != table.key}
                    rows[key] = values
                    line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
        except csv.Error as exc:
            problem = "unterminated quoted field (runs to the end of the file)" if "end of data" in str(exc) else exc
            raise SourceError(f"{path}: line {line}: malformed CSV: {problem}") from exc
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the table: {exc.strerror or exc}") from exc
        return rows

    def items(self) -> Iterator[SourceItem]:
        """The source's items in sorted order, with their metadata merged.

        One item per image file (layout.item = "file"), per DICOM series ("series": the files of
        one SeriesInstanceUID), or per folder ("folder": a primary file matching the include globs
        plus the companion files beside it, e.g. a CT and its organ masks).
        """
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: source folder does not exist or is not a folder")
        tables = [(t, self._read_table(t, required=True)) for t in self.manifest.tables]
        tables.append((LABELS_TABLE, self._read_table(LABELS_TABLE, required=False)))
        for key, files in self._grouped(self._candidate_files()):
            first = PurePosixPath(files[0])
            lookup = {
                "relpath": files[0],
                "name": first.name,
                "stem": first.stem.removesuffix(".nii"),
                "folder": first.parent.as_posix(),
            }
            metadata = dict(self.manifest.defaults)
            if self.manifest.label_map:
                metadata["label_map"] = json.dumps({str(k): v for k, v in sorted(self.manifest.label_map.items())})
            for table, rows in tables:
                metadata.update({k: v for k, v in rows.get(lookup[table.match], {}).items() if v != ""})
            yield SourceItem(
                key=f"{self.id}/{display_name(key)}",
                source_id=self.id,
                root=self.root,
                files=tuple(files),
                metadata=metadata,
            )

    def _grouped(self, candidates: list[str]) -> Iterator[tuple[str, list[str]]]:
        kind = self.manifest.item
        if kind in ("file", "folder"):
            for rel in candidates:
                files = [rel, *self._companions(rel)]
                yield (rel if kind == "file" else PurePosixPath(rel).parent.as_posix()), files
        else:  # series
            from ..readers.volume_dicom import group_series

            groups, _problems = group_series([self.root / rel for rel in candidates])
            by_folder: dict[str, list[tuple[str, list[str]]]] = {}
            for uid, paths in groups.items():
                files = sorted(p.relative_to(self.root).as_posix() for p in paths)
                by_folder.setdefault(_common_folder(files), []).append((str(uid), files))
            for folder in sorted(by_folder):
                series = sorted(by_folder[folder], key=lambda s: s[1])
                for uid, files in series:
                    # Several series in one folder: told apart by a hash of the UID, never the UID itself.
                    key = folder if len(series) == 1 else f"{folder}#series-{stable_hash(uid, length=10)}"
                    yield key, files

    def _companions(self, rel: str) -> list[str]:
        """Files belonging with `rel` by the manifest's companion patterns.

        Patterns are globs relative to the primary file's folder and may use {name} (its file
        name), {stem} (name without extension) and {number} (its last integer, matched whatever the
        zero padding, e.g. 12_color.png with 0012_depth.tiff). Results stay inside the root.
        """
        if not self.manifest.companions:
            return []
        root = self.root.resolve()
        primary = PurePosixPath(rel)
        stem = _stem(primary.name)
        numbers = re.findall(r"\d+", stem)
        base = self.root / primary.parent
        found: set[str] = set()
        for pattern in self.manifest.companions:
            if "{number}" in pattern and not numbers:
                continue
            filled = pattern.replace("{name}", primary.name).replace("{stem}", stem)
            regex = None
            if "{number}" in filled:
                regex = re.compile(
                    fnmatch.translate(filled.replace("{number}", "NUMBERSLOT")).replace(
                        "NUMBERSLOT", rf"(?<!\d)0*{int(numbers[-1])}(?!\d)"
                    )
                )
                filled = re.sub(r"\*+", "*", filled.replace("{number}", "*"))
            for match in base.glob(filled):
                if not match.is_file() or match.name.startswith(".") or not _is_inside(root, match):
                    continue
                if regex is not None and not regex.match(Path(os.path.relpath(match, base)).as_posix()):
                    continue
                found.add(Path(os.path.relpath(match.resolve(), root)).as_posix())
        found.discard(rel)
        return sorted(found)


def _stem(name: str) -> str:
    for suffix in (".nii.gz", ".tar.gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return PurePosixPath(name).stem


def _common_folder(files: list[str]) -> str:
    parts = [PurePosixPath(f).parent.parts for f in files]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common) or "."
