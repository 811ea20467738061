"""`medblink-build explain OUT ROW_ID`: the provenance of one row, as a person reads it."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import OutputError
from .verify import find_row


def explain(folder: Path, example_id: str) -> str:
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
