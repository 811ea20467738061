"""The release as one VLMEvalKit multiple-choice TSV (`export --format vlmevalkit`).

VLMEvalKit keeps a benchmark as one TSV file (open-compass/VLMEvalKit:docs/en/Development.md,
"Prepare your benchmark tsv file"; read with `pandas.read_csv(sep="\\t")`) and runs any `$LMUData/NAME.tsv` that has
`question`, `A`, `B` and `image` columns as a custom multiple-choice dataset
(`vlmeval/dataset/__init__.py: build_dataset` -> `CustomMCQDataset`). Columns written:

- `index`: an integer, unique per line (the docs' requirement), in release order;
- `image`: the base64 of the row's PNG; a row with several images holds a list of base64 strings
  (`["...", "..."]`), which VLMEvalKit's `toliststr` reads, as in its BLINK TSV;
- `question`: the bare question (VLMEvalKit adds "Options:" and the `A. ...` lines itself);
- `A`, `B`, ...: the choices, as many columns as the longest row needs, empty (NaN) beyond a
  row's own choices; `answer`: the correct letter; `category`: the config name, by which
  VLMEvalKit reports accuracy;
- `id`: the release row id, which VLMEvalKit carries into its prediction file, so
  `medblink-build score OUT PRED.tsv` scores that file (`PRED_FORMAT=tsv`) directly.

A value that pandas would read as missing (`None`, `NA`, an empty string, ...) would silently drop
a choice, so such a row is refused with its id.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..questions import LETTERS
from .export_base import ExportSummary
from .harness_export import exportable_manifest, file_record, staged_export, write_marker
from .verify import iter_rows

TSV_NAME = "MedBLINK.tsv"

#: pandas' default `na_values` (pandas._libs.parsers.STR_NA_VALUES): read back as NaN, not text.
PANDAS_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


def _image_field(images: list[dict[str, Any]]) -> str:
    encoded = [base64.b64encode(img["bytes"]).decode("ascii") for img in images]
    return encoded[0] if len(encoded) == 1 else json.dumps(encoded)


def export_vlmevalkit(folder: Path, out: Path) -> ExportSummary:
    folder = Path(folder)
    manifest = exportable_manifest(folder, out)
    width = max(
        len(row["choices"])
        for info in manifest["configs"].values()
        for row in iter_rows(folder, info, columns=["choices"])
    )
    header = ["index", "image", "question", *LETTERS[:width], "answer", "category", "id"]
    summary = ExportSummary(Path(out), "vlmevalkit")
    with staged_export(out) as staging:
        tsv = staging / TSV_NAME
        with tsv.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(header)
            index = 0
            for config, info in manifest["configs"].items():
                for row in iter_rows(folder, info):
                    choices = list(row["choices"])
                    for value in (row["question"], *choices):
                        if value.strip() in PANDAS_NA:
                            raise OutputError(f"{row['id']}: {value!r} would be read by VLMEvalKit (pandas) as missing")
                    if not row["images"]:
                        raise OutputError(f"{row['id']}: no image; a VLMEvalKit MCQ row needs one")
                    padded = choices + [""] * (width - len(choices))
                    writer.writerow(
                        [index, _image_field(row["images"]), row["question"], *padded, row["answer"], config, row["id"]]
                    )
                    index += 1
                    summary.counts[config] = summary.counts.get(config, 0) + 1
        (staging / "README.md").write_text(_readme(manifest, summary), encoding="utf-8")
        record = file_record(staging, tsv)
        write_marker(
            staging,
            "vlmevalkit",
            folder,
            manifest,
            {config: {"rows": n, "files": [record]} for config, n in summary.counts.items()},
        )
    return summary


def _readme(manifest: dict[str, Any], summary: ExportSummary) -> str:
    name = TSV_NAME.removesuffix(".tsv")
    rows = ", ".join(f"`{c}` {n}" for c, n in summary.counts.items())
    return "\n".join(
        [
            f"# {name} — VLMEvalKit TSV",
            "",
            f"`{TSV_NAME}`: {sum(summary.counts.values())} rows ({rows}); `category` is the config.",
            "Exported by medblink-build from a release"
            + (" (sample build: synthetic phantoms, not MedBLINK)" if manifest.get("sample") else "")
            + "; `export.json` names the release manifest's sha256.",
            "",
            "```bash",
            f'cp {TSV_NAME} "$LMUData/"            # VLMEvalKit\'s data folder (default ~/LMUData)',
            f"PRED_FORMAT=tsv python run.py --data {name} --model MODEL   # a custom MCQ dataset",
            f"medblink-build score OUT outputs/MODEL/.../MODEL_{name}.tsv   # rows matched by `id`",
            "```",
            "",
        ]
    )
