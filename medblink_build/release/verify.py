"""Checking an output folder: against its own manifest, or against a published one.

`verify_folder` re-hashes every parquet file and recomputes every example digest from the rows, so
a changed byte anywhere (image, label, provenance) is found and named. `compare_manifests` is how
someone with their own credentialed copy of the sources proves they rebuilt the same benchmark:
the first example whose digest differs is reported with the local provenance, and the published
one when the published folder (not only its manifest) is at hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..bounds import image_problem
from ..errors import OutputError
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME, is_our_output
from ..output.rows import row_digest


@dataclass
class Difference:
    config: str
    example_id: str
    problem: str
    local_provenance: dict[str, Any] | None = None
    other_provenance: dict[str, Any] | None = None


@dataclass
class VerifyReport:
    checked_files: int = 0
    checked_examples: int = 0
    problems: list[str] = field(default_factory=list)
    first_difference: Difference | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.first_difference is None


def load_manifest(folder_or_file: Path) -> tuple[dict[str, Any], Path | None]:
    """A manifest and, when given a folder, the folder it describes."""
    path = folder_or_file / MANIFEST_NAME if folder_or_file.is_dir() else folder_or_file
    if folder_or_file.is_dir() and not is_our_output(folder_or_file):
        raise OutputError(f"{folder_or_file}: not a medblink-build output (no valid {MANIFEST_NAME})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read manifest: {exc}") from exc
    if not isinstance(manifest, dict) or "configs" not in manifest:
        raise OutputError(f"{path}: not a medblink-build manifest (no configs)")
    return manifest, (folder_or_file if folder_or_file.is_dir() else None)


def iter_rows(folder: Path, config_info: dict[str, Any], columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of one config in manifest order, one record batch in memory at a time (only `columns` if given)."""
    for entry in config_info["files"]:
        parquet = pq.ParquetFile(folder / entry["path"])
        for batch in parquet.iter_batches(batch_size=64, columns=columns):
            yield from batch.to_pylist()


def find_row(folder: Path, example_id: str) -> dict[str, Any] | None:
    manifest, _ = load_manifest(folder)
    config = example_id.rsplit("-", 1)[0]
    info = manifest["configs"].get(config)
    if info is None:
        return None
    for row in iter_rows(folder, info):
        if row["id"] == example_id:
            return row
    return None


def verify_folder(folder: Path) -> VerifyReport:
    manifest, _ = load_manifest(folder)
    report = VerifyReport()
    listed = set()
    for config, info in sorted(manifest["configs"].items()):
        for entry in info["files"]:
            listed.add(entry["path"])
            path = folder / entry["path"]
            if not path.is_file():
                report.problems.append(f"{entry['path']}: missing")
                continue
            report.checked_files += 1
            if sha256_file(path) != entry["sha256"]:
                report.problems.append(f"{entry['path']}: sha256 differs from manifest.json")
        if any(p.startswith(f"{entry['path']}: missing") for p in report.problems):
            continue
        expected = info["examples"]
        try:
            rows = list(_digests(folder, info))
        except Exception as exc:  # a corrupt parquet file: name it
            report.problems.append(f"data/{config}: cannot read rows: {type(exc).__name__}: {exc}")
            continue
        for i, (example_id, digest, provenance, image_problems) in enumerate(rows):
            report.checked_examples += 1
            report.problems.extend(f"data/{config}: {example_id} {problem}" for problem in image_problems)
            if i >= len(expected) or expected[i] != [example_id, digest]:
                if report.first_difference is None:
                    report.first_difference = Difference(
                        config, example_id, "example digest differs from manifest.json", provenance
                    )
        if len(rows) != len(expected):
            report.problems.append(f"data/{config}: {len(rows)} rows, manifest lists {len(expected)}")
    data = folder / "data"
    if data.is_dir():
        for path in sorted(data.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in listed:
                report.problems.append(f"{rel}: not listed in manifest.json")
    return report


def _digests(folder: Path, info: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], list[str]]]:
    """Per row: id, digest, provenance, and what is wrong with its images (each opened in full)."""
    for row in iter_rows(folder, info):
        images = [(n, image_problem(image["bytes"])) for n, image in enumerate(row["images"])]
        problems = [f"image {n}: {problem}" for n, problem in images if problem is not None]
        yield row["id"], row_digest(row), json.loads(row["provenance"]), problems


def compare_manifests(local: Path, published: Path) -> VerifyReport:
    """Compare a local build with a published manifest (or folder), example by example.

    A local folder is first checked against its own manifest (parquet sha256s, example digests
    recomputed from the rows): comparing manifests alone would pass a folder whose data was changed.
    """
    mine, mine_folder = load_manifest(local)
    theirs, theirs_folder = load_manifest(published)
    report = verify_folder(mine_folder) if mine_folder is not None else VerifyReport()
    report.problems = [f"local: {p}" for p in report.problems]
    report.checked_examples = 0
    for config in sorted(set(mine["configs"]) | set(theirs["configs"])):
        a = mine["configs"].get(config)
        b = theirs["configs"].get(config)
        if a is None or b is None:
            report.problems.append(f"config {config}: only in {'the published' if a is None else 'the local'} build")
            continue
        theirs_digests = {example_id: digest for example_id, digest in b["examples"]}
        for example_id, digest in a["examples"]:
            report.checked_examples += 1
            if theirs_digests.get(example_id) == digest:
                continue
            problem = "not in the published build" if example_id not in theirs_digests else "example digest differs"
            if report.first_difference is None:
                report.first_difference = Difference(
                    config,
                    example_id,
                    problem,
                    _provenance(mine_folder, example_id),
                    _provenance(theirs_folder, example_id),
                )
            else:
                report.problems.append(f"{config}/{example_id}: {problem}")
        missing = set(theirs_digests) - {e for e, _ in a["examples"]}
        if missing:
            report.problems.append(f"config {config}: {len(missing)} published example(s) absent locally")
    return report


def _provenance(folder: Path | None, example_id: str) -> dict[str, Any] | None:
    if folder is None:
        return None
    row = find_row(folder, example_id)
    return json.loads(row["provenance"]) if row else None
