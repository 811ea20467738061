"""`medblink-build explain OUT ROW_ID`: the provenance of one row, as a person reads it.

Rows of a source whose paths are not public name their inputs by keyed pseudonyms. Given the
local copy (`--source PATH`) and the same pseudonym key, `explain` maps each input back to the
local file: it recomputes the pseudonyms of the copy's files, never stores a mapping.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import OutputError
from .verify import find_row


def local_files(source_spec: str, source_id: str) -> dict[str, str]:
    """Pseudonym -> local relative path for the files of the local copy `source_spec` (with the current key)."""
    from ..sources.resolve import resolve_source

    source = resolve_source(source_spec)
    if source.id != source_id:
        raise OutputError(
            f"{source_spec}: this copy is source {source.id!r}, the row came from {source_id!r} "
            "(another folder, or another pseudonym key)"
        )
    found: dict[str, str] = {}
    for item in source.items():
        for index, rel in enumerate(item.files):
            found[item.shown_name(index)] = rel
    return found


def explain(folder: Path, example_id: str, local_copy: str | None = None) -> str:
    row = find_row(folder, example_id)
    if row is None:
        raise OutputError(f"{folder}: no row with id {example_id!r}")
    prov = json.loads(row["provenance"])
    label = json.loads(row["label"])
    source = prov.get("source", {})
    lines = [
        f"{row['id']}  ({row['task']})",
        "",
        row["prompt"],
        f"answer: {row['answer']}",
        "",
        f"source dataset: {source.get('name')} [{source.get('id')}], license {source.get('license')}"
        + (" (synthetic)" if source.get("synthetic") else ""),
        "input files:",
        *[f"  {i['path']}  sha256 {i['sha256']}" for i in prov.get("inputs", [])],
        *_local_lines(prov, local_copy),
        "transforms, in order:",
        *[
            f"  {n}. {t['name']} {json.dumps(t.get('params', {}), sort_keys=True)}"
            for n, t in enumerate(prov.get("transforms", []), start=1)
        ],
        f"label derivation: {prov.get('label_derivation')}",
        f"label: {json.dumps(label, sort_keys=True)}",
        f"built by {prov['tool']['name']} {prov['tool']['version']}, recipe {prov['recipe']['name']} "
        f"{prov['recipe']['version']}, seed {prov['seed']}",
    ]
    return "\n".join(lines)


def _local_lines(prov: dict, source: str | None) -> list[str]:
    if source is None:
        return []
    found = local_files(source, prov.get("source", {}).get("id", ""))
    lines = ["local files (from --source, with the pseudonym key):"]
    for entry in prov.get("inputs", []):
        local = found.get(entry["path"])
        lines.append(f"  {entry['path']} -> {local if local is not None else 'not found in this copy'}")
    return lines
