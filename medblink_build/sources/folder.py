"""A local copy of a source: files found under a root folder, with per-file metadata.

Files are found recursively in sorted order, filtered by the manifest's include globs or, without
them, by image or slide suffix or by DICOM content (the `DICM` marker or a preamble-less header,
whatever the name: `CT.1.3.12.2.1107...` and `IM0001` are DICOM). Every regular file under the
root is inventoried, so the build can account for it: the files left out here carry the reason
(`hidden`, `metadata_table`, `not_included`, `not_an_image`, `symlink_outside_root`, ...).
Metadata comes from the manifest's defaults, then its metadata tables (e.g. the NIH
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
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from ..errors import SourceError
from ..fsnames import display_name, file_kind, open_regular
from ..manifests import Manifest, MetadataTable, is_glob
from ..model import Skipped, SourceItem
from ..pseudonym import file_pseudonym, load_key, pseudonym
from ..readers import IMAGE_SUFFIXES, looks_like_dicom
from ..readers.wsi import SLIDE_SUFFIXES
from ..seeding import stable_hash

LABELS_FILE = "labels.csv"
LABELS_TABLE = MetadataTable(path=LABELS_FILE, key="path", match="relpath")
#: Reasons `group_series` gives for a file it cannot put in a series, as skip reasons.
SERIES_PROBLEMS = (
    ("without SeriesInstanceUID", "series_uid_missing"),
    ("DICOM without an image", "dicom_without_image"),
)


@dataclass
class Scan:
    """What a source holds: its items, every file with the discovery filter it met (None for a
    candidate), and the candidates that became no item (e.g. DICOM without SeriesInstanceUID)."""

    items: list[SourceItem]
    inventory: dict[str, str | None]
    problems: list[Skipped]


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

    def shown_path(self, rel: str) -> str:
        """A file of this source as outputs name it: its relative path when the manifest declares
        its names public, else its keyed pseudonym (`pseudonym.py`)."""
        if self.manifest.paths_public:
            return display_name(rel)  # non-UTF-8 bytes as \xNN escapes
        if not hasattr(self, "_key"):
            self._key = load_key()  # read once per source, not once per file
        return file_pseudonym(self._key, rel)

    def inventory(self) -> dict[str, str | None]:
        """Every file under the root (sorted, relative POSIX path) -> None for a candidate input,
        else the reason it is not one. Hidden folders are walked too, so nothing goes uncounted."""
        root = self.root.resolve()
        tables = {t.path for t in self.manifest.tables} | {LABELS_FILE, "source.toml"}
        found: dict[str, str | None] = {}
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            base = Path(dirpath)
            hidden_dir = any(part.startswith(".") for part in base.relative_to(root).parts)
            for name in sorted(filenames):
                full = base / name
                rel = full.relative_to(root).as_posix()
                found[rel] = self._filter(rel, full, root, hidden_dir or name.startswith("."), tables)
        return found

    def _filter(self, rel: str, full: Path, root: Path, hidden: bool, tables: set[str]) -> str | None:
        if hidden:
            return "hidden"
        if full.is_symlink() and not _is_inside(root, full):
            return "symlink_outside_root"
        if not full.is_file():  # a FIFO, socket or device (never opened), or a link to a folder
            return "not_a_regular_file"
        if rel in tables or any(is_glob(t) and fnmatch.fnmatchcase(rel, t) for t in tables):
            return "metadata_table"  # a manifest table's path may be a glob (NBIA's manifest-*/metadata.csv)
        if self.manifest.include:
            return None if any(fnmatch.fnmatchcase(rel, p) for p in self.manifest.include) else "not_included"
        suffix = full.suffix.lower()
        if suffix in IMAGE_SUFFIXES or suffix in SLIDE_SUFFIXES:
            return None
        try:  # by content whatever the name: `CT.1.3.12...` has the bogus suffix ".12..."
            with open_regular(full) as f:
                if looks_like_dicom(f.read(132)):
                    return None
        except OSError:
            return None  # left to the reader, which records the problem as a skip
        if full.parent.with_suffix(".mrxs").is_file():
            return "slide_companion"  # the data folder beside a MIRAX slide
        return "not_an_image"

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
                    if table.columns:
                        values = {ours: (row.get(theirs) or "").strip() for ours, theirs in table.columns.items()}
                    else:
                        values = {k: (v or "").strip() for k, v in row.items() if k and k != table.key}
                    if key in first_line and rows[key] != values:
                        # Repeated keys are fine where the columns read agree (RSNA's one row per box,
                        # Target constant per patient); disagreeing rows would silently keep one.
                        raise SourceError(
                            f"{path}: line {line}: {table.key} {key!r} is also on line {first_line[key]} with other "
                            "values; one row per file"
                        )
                    first_line.setdefault(key, line)
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

    def _tables(self, table: MetadataTable) -> list[tuple[MetadataTable, dict[str, dict[str, str]]]]:
        """Every file a manifest table names (its path may be a glob), keyed as items are looked up.

        Path keys (relpath / folder matches) are normalised ("./a\\b/" -> "a/b"), and for tables
        relative to their own folder (NBIA metadata.csv) prefixed with that folder.
        """
        if not is_glob(table.path):
            if table.optional and not (self.root / table.path).exists():
                return []
            paths = [table.path]
        else:
            root = self.root.resolve()
            paths = sorted(
                p.relative_to(self.root).as_posix()
                for p in self.root.glob(table.path)
                if p.is_file() and _is_inside(root, p)
            )
            if not paths and not table.optional:
                raise SourceError(
                    f"{self.root / table.path}: metadata table named by {self.manifest.origin} is missing "
                    "(no file matches)"
                )
        out = []
        for rel in paths:
            one = replace(table, path=rel)
            rows = self._read_table(one, required=True)
            if table.match in ("relpath", "folder"):
                base = PurePosixPath(rel).parent.as_posix() if table.relative_to == "table" else "."
                rows = {_table_path(base, key): values for key, values in rows.items()}
            out.append((one, rows))
        return out

    def items(self) -> Iterator[SourceItem]:
        """The source's items in sorted order, with their metadata merged.

        One item per image file (layout.item = "file"), per DICOM series ("series": the files of
        one SeriesInstanceUID; "series-folder": the files of one folder, one series per folder), or
        per folder ("folder": a primary file matching the include globs plus the companion files
        beside it, e.g. a CT and its organ masks).
        """
        yield from self.scan().items

    def scan(self) -> Scan:
        """Items, the inventory of every file and the grouping problems, in one walk."""
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: source folder does not exist or is not a folder")
        inventory = self.inventory()
        problems: list[Skipped] = []
        candidates = [rel for rel, reason in inventory.items() if reason is None]
        items = list(self._items(self._grouped(candidates, problems)))
        return Scan(items, inventory, problems)

    def _items(self, groups: Iterator[tuple[str, list[str]]]) -> Iterator[SourceItem]:
        tables = [pair for t in self.manifest.tables for pair in self._tables(t)]
        key_bytes = None if self.manifest.paths_public else load_key()
        tables.append((LABELS_TABLE, self._read_table(LABELS_TABLE, required=False)))
        for key, files in groups:
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
            hidden = {}  # names may identify: outputs see keyed pseudonyms (pseudonym.py)
            if key_bytes is not None:
                hidden = {"shown": tuple(file_pseudonym(key_bytes, f) for f in files), "local_key": key}
            yield SourceItem(
                key=f"{self.id}/{display_name(key) if key_bytes is None else pseudonym(key_bytes, key)}",
                source_id=self.id,
                root=self.root,
                files=tuple(files),
                metadata=metadata,
                synthetic=self.manifest.synthetic or self.manifest.access == "generated",
                **hidden,  # type: ignore[arg-type]
            )

    def _grouped(self, candidates: list[str], problems: list[Skipped]) -> Iterator[tuple[str, list[str]]]:
        kind = self.manifest.item
        if kind in ("file", "folder"):
            resolved: dict[Path, str | None] = {}  # folder -> its root-relative resolved path, this scan
            for rel in candidates:
                files = [rel, *self._companions(rel, resolved)]
                yield (rel if kind == "file" else PurePosixPath(rel).parent.as_posix()), files
        elif kind == "series-folder":  # one series per folder: listed without parsing a header
            folders: dict[str, list[str]] = {}
            for rel in candidates:
                folders.setdefault(PurePosixPath(rel).parent.as_posix(), []).append(rel)
            for folder in sorted(folders):
                yield folder, sorted(folders[folder])
        else:  # series
            from ..readers.volume_dicom import group_series_files

            groups, failed = group_series_files([self.root / rel for rel in candidates])
            for path, problem in failed:
                rel = path.relative_to(self.root).as_posix()
                reason = next((r for text, r in SERIES_PROBLEMS if text in problem), "unreadable")
                shown = self.shown_path(rel)
                problems.append(Skipped(f"{self.id}/{shown}", reason, f"{shown}: {problem}", files=(rel,)))
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

    def _companions(self, rel: str, resolved: dict[Path, str | None]) -> list[str]:
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
                if match.name.startswith("."):
                    continue
                if regex is not None and not regex.match(Path(os.path.relpath(match, base)).as_posix()):
                    continue
                inside = _inside_rel(root, match, resolved)
                if inside is not None:
                    found.add(inside)
        found.discard(rel)
        return sorted(found)

def _inside_rel(root: Path, match: Path, resolved: dict[Path, str | None]) -> str | None:
    """`match` as a root-relative POSIX path once resolved, if it is a regular file inside the
    root; else None. A plain file is placed by its folder's resolved path, which is worked out
    once per folder (a TotalSegmentator subject has 117 companions in one folder: resolving
    each fully cost more syscalls than the listing's walk); a symlink is resolved itself."""
    try:
        mode = os.lstat(match).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        if not match.is_file() or not _is_inside(root, match):
            return None
        return Path(os.path.relpath(match.resolve(), root)).as_posix()
    if not stat.S_ISREG(mode):
        return None
    if match.parent not in resolved:
        real = match.parent.resolve()
        resolved[match.parent] = Path(os.path.relpath(real, root)).as_posix() if real.is_relative_to(root) else None
    folder = resolved[match.parent]
    if folder is None:
        return None
    return match.name if folder == "." else f"{folder}/{match.name}"


def _table_path(base: str, key: str) -> str:
    """A table's path key as a root-relative POSIX path: backslashes, "./" and trailing "/" removed."""
    parts = [p for p in key.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if base not in ("", "."):
        parts = [*PurePosixPath(base).parts, *parts]
    return "/".join(parts)


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
