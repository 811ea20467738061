"""Source manifests: what a public source is, its license, how to get it and how it is laid out.

One TOML file per source in `data_manifests/` (shipped inside the package). They are parsed as
data with `tomllib`, never executed. Each layout fact is recorded
either under `[[verified]]` (the fact and where it was checked: a URL or repository:path) or under
`unverified` (what is assumed and why it could not be checked), so a reader knows which facts to
confirm before trusting a build.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import SourceError

ACCESS_KINDS = ("open", "registration", "credentialed", "request", "agreement", "generated")

#: License ids (SPDX where one exists) whose terms forbid commercial use.
NON_COMMERCIAL = frozenset({"CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0", "CC-BY-NC-SA-3.0"})


@dataclass(frozen=True)
class MetadataTable:
    """A per-file metadata table shipped with a source (e.g. Data_Entry_2017.csv, labels.csv)."""

    path: str
    key: str  # column naming the file
    match: str = "relpath"  # how the key matches an item: one of TABLE_MATCHES
    delimiter: str = ","
    columns: dict[str, str] = field(default_factory=dict)  # our field -> table column
    # Key paths are relative to the source root, or ("table") to the table's own folder, as the
    # NBIA Data Retriever's metadata.csv `File Location` (./<Collection>/<Patient>/...) is.
    relative_to: str = "root"
    optional: bool = False  # a missing table (or a glob path matching none) is not an error
    #: `path` may be a glob (e.g. "manifest-*/metadata.csv"): every match is read, in sorted order.


@dataclass(frozen=True)
class Verification:
    """One layout fact and where it was verified (a URL, or repository:path of a loader)."""

    fact: str
    where: str


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    homepage: str
    license: str
    access: str
    how_to_obtain: str
    citation: str
    modality: str
    anatomy: str
    license_note: str = ""
    redistributable: bool | None = None
    synthetic: bool = False
    tasks: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    detect: tuple[str, ...] = ()
    item: str = "file"  # what one item is: a file, a DICOM series, or a folder (primary + companions)
    companions: tuple[str, ...] = ()  # for item = "folder": globs relative to the primary's folder
    layout: str = ""
    defaults: dict[str, str] = field(default_factory=dict)
    tables: tuple[MetadataTable, ...] = ()
    unverified: tuple[str, ...] = ()
    verified: tuple[Verification, ...] = ()
    generator: str | None = None  # built-in sample generator name, for generated sources
    label_map: dict[int, str] = field(default_factory=dict)  # label value -> structure, for label-map masks
    files: dict[str, str] = field(default_factory=dict)  # expected relpath -> sha256
    origin: str = ""  # the file this manifest was read from

    @property
    def non_commercial(self) -> bool:
        return self.license in NON_COMMERCIAL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "homepage": self.homepage,
            "license": self.license,
            "license_note": self.license_note,
            "access": self.access,
            "synthetic": self.synthetic,
            "citation": self.citation,
        }


def is_glob(pattern: str) -> bool:
    """Whether a manifest path (metadata table, detect marker) is a glob rather than one path."""
    return any(c in pattern for c in "*?[")


def _inside_root(path: str, origin: str, field_name: str) -> str:
    """A manifest path must name something inside the source root: no absolute path, no '..'."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if not path.strip() or posix.is_absolute() or ".." in posix.parts or re.match(r"^[A-Za-z]:", path):
        raise SourceError(f"{origin}: {field_name} {path!r} is empty or escapes the source root")
    return str(posix)


ITEM_KINDS = ("file", "series", "folder")
#: How a metadata table's key column matches an item: its relative path, file name, file stem, or
#: (for folder items) the item's folder relative to the root.
TABLE_MATCHES = ("relpath", "name", "stem", "folder")
TABLE_BASES = ("root", "table")


def _item_kind(value: object, origin: str) -> str:
    if value not in ITEM_KINDS:
        raise SourceError(f"{origin}: layout.item {value!r} is not one of {', '.join(ITEM_KINDS)}")
    return str(value)


def _label_map(table: object, origin: str) -> dict[int, str]:
    if not isinstance(table, dict):
        raise SourceError(f"{origin}: label_map must be a table of label value = structure name")
    out: dict[int, str] = {}
    for key, name in table.items():
        try:
            value = int(key)
        except ValueError:
            raise SourceError(f"{origin}: label_map key {key!r} is not an integer label value") from None
        if value <= 0 or not isinstance(name, str) or not name:
            raise SourceError(f"{origin}: label_map {key} = {name!r}: values must be > 0 and names non-empty")
        out[value] = name
    return out


def _verified(entries: object, origin: str) -> tuple[Verification, ...]:
    if not isinstance(entries, list):
        raise SourceError(f"{origin}: verified must be an array of tables ([[verified]] fact = ..., where = ...)")
    out = []
    for i, entry in enumerate(entries):
        fact, where = (entry.get("fact"), entry.get("where")) if isinstance(entry, dict) else (None, None)
        if not isinstance(fact, str) or not fact.strip() or not isinstance(where, str) or not where.strip():
            raise SourceError(f"{origin}: verified[{i}] needs a non-empty fact and where (a URL or repository:path)")
        out.append(Verification(fact.strip(), where.strip()))
    return tuple(out)


_REQUIRED = ("id", "name", "license", "access", "how_to_obtain", "modality", "anatomy")
_REQUIRED_UNLESS_GENERATED = ("homepage", "citation")


def parse_manifest(text: str, origin: str) -> Manifest:
    """Parse and validate one manifest; errors name the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{origin}: invalid TOML: {exc}") from exc
    required = _REQUIRED + (() if data.get("access") == "generated" else _REQUIRED_UNLESS_GENERATED)
    missing = [k for k in required if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise SourceError(f"{origin}: missing or empty field(s): {', '.join(missing)}")
    if data["access"] not in ACCESS_KINDS:
        raise SourceError(f"{origin}: access {data['access']!r} is not one of {', '.join(ACCESS_KINDS)}")
    layout = data.get("layout", {})
    tables = []
    for i, table in enumerate(data.get("metadata_table", [])):
        try:
            tables.append(
                MetadataTable(
                    path=_inside_root(str(table["path"]), origin, f"metadata_table[{i}].path"),
                    key=str(table["key"]),
                    match=str(table.get("match", "relpath")),
                    delimiter=str(table.get("delimiter", ",")),
                    columns={str(k): str(v) for k, v in table.get("columns", {}).items()},
                    relative_to=str(table.get("relative_to", "root")),
                    optional=bool(table.get("optional", False)),
                )
            )
        except KeyError as exc:
            raise SourceError(f"{origin}: metadata_table[{i}] lacks {exc.args[0]!r}") from None
        if tables[-1].match not in TABLE_MATCHES:
            raise SourceError(f"{origin}: metadata_table[{i}].match must be one of {', '.join(TABLE_MATCHES)}")
        if tables[-1].relative_to not in TABLE_BASES:
            raise SourceError(f"{origin}: metadata_table[{i}].relative_to must be one of {', '.join(TABLE_BASES)}")
        if len(tables[-1].delimiter) != 1:
            raise SourceError(f"{origin}: metadata_table[{i}].delimiter must be one character (e.g. ';' or '\\t')")
    files = {}
    for entry in data.get("files", []):
        if "path" not in entry or "sha256" not in entry:
            raise SourceError(f"{origin}: each [[files]] entry needs path and sha256")
        files[_inside_root(str(entry["path"]), origin, "[[files]] path")] = str(entry["sha256"])
    return Manifest(
        id=data["id"],
        name=data["name"],
        homepage=str(data.get("homepage", "")),
        license=data["license"],
        access=data["access"],
        how_to_obtain=data["how_to_obtain"].strip(),
        citation=str(data.get("citation", "")).strip(),
        modality=data["modality"],
        anatomy=data["anatomy"],
        license_note=str(data.get("license_note", "")).strip(),
        redistributable=data.get("redistributable"),
        synthetic=bool(data.get("synthetic", False)),
        tasks=tuple(data.get("tasks", ())),
        include=tuple(layout.get("include", ())),
        detect=tuple(layout.get("detect", ())),
        item=_item_kind(layout.get("item", "file"), origin),
        companions=tuple(layout.get("companions", ())),
        layout=str(layout.get("description", "")).strip(),
        defaults={str(k): str(v) for k, v in data.get("defaults", {}).items()},
        tables=tuple(tables),
        unverified=tuple(data.get("unverified", ())),
        verified=_verified(data.get("verified", []), origin),
        generator=data.get("generator"),
        label_map=_label_map(data.get("label_map", {}), origin),
        files=files,
        origin=origin,
    )


@cache
def builtin_manifests() -> dict[str, Manifest]:
    """Every manifest shipped with the package, by id."""
    found: dict[str, Manifest] = {}
    folder = resources.files("medblink_build.data_manifests")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        manifest = parse_manifest(entry.read_text(encoding="utf-8"), f"data_manifests/{entry.name}")
        if manifest.id in found:
            raise SourceError(f"data_manifests/{entry.name}: duplicate source id {manifest.id!r}")
        found[manifest.id] = manifest
    return found


def get_manifest(source_id: str) -> Manifest:
    manifests = builtin_manifests()
    try:
        return manifests[source_id]
    except KeyError:
        raise SourceError(f"unknown source {source_id!r}; known: {', '.join(sorted(manifests))}") from None


def load_manifest_file(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read manifest: {exc.strerror or exc}") from exc
    return parse_manifest(text, str(path))
