"""Laundering an export the way a published copy differs from a build (for the align tests and benchmark)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from medblink_build.release.align import published_choices

LAUNDERED_SIDE = 512


def launder(export_dir: Path, out: Path, replace: int, seed: int = 7) -> dict[str, dict[str, Any]]:
    """Write `out` (one parquet file): every image as JPEG with the longer side LAUNDERED_SIDE px,
    new random question ids, rows shuffled, `replace` answers swapped for another choice of the same
    question. Returns new question id -> {"original": old id, "replaced": bool, "answer": published}."""
    rng = random.Random(seed)
    rows = pq.read_table(sorted((export_dir / "data").glob("*.parquet"))[0]).to_pylist()
    rng.shuffle(rows)
    replaced = set(rng.sample(range(len(rows)), replace))
    truth: dict[str, dict[str, Any]] = {}
    out_rows = []
    for i, row in enumerate(rows):
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        scale = LAUNDERED_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        answer = row["answer"]
        if i in replaced:
            answer = rng.choice([c for c in published_choices(row["question"]) if c != answer])
        new_id = f"q{rng.getrandbits(48):012x}"
        truth[new_id] = {"original": row["question_id"], "replaced": i in replaced, "answer": answer}
        out_rows.append(
            {
                "task": row["task"],
                "question_id": new_id,
                "question": row["question"],
                "answer": answer,
                "image": {"bytes": buffer.getvalue(), "path": f"{new_id}.jpg"},
            }
        )
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema(
        [(c, pa.string()) for c in ("task", "question_id", "question", "answer")] + [("image", image_type)]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(out_rows, schema=schema), out)
    return truth
