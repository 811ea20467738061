"""Export views of a release for existing evaluation harnesses, as Hub-ready dataset folders.

Two formats, one parquet config per task config, each loading with
`datasets.load_dataset(DIR, name=CONFIG, split="test")`:

- `medblink`: exactly the columns `task, question_id, question, answer, image`.
  `question_id` is the row id; `answer` is the answer letter (as in the release; whether MedBLINK's
  own release uses a letter or the answer text is not documented in anything this tool has, so the
  letter, which is what the release and harness prompts ask for, is kept). With no `choices`
  column, `question` carries the lettered choices: it is the row's `prompt` without the closing
  "Answer with the option's letter ..." instruction, so a harness adds its own. `image` is the first
  image; rows with more images are counted and the card says so (use `blink` for those).
- `blink`: the BLINK benchmark's columns `idx, question, sub_task, image_1..image_4, choices,
  answer, prompt`: `idx` is the row id, `sub_task` the config name, `image_k` the k-th image or
  None, `answer` the letter in parentheses ("(A)"), `question` the bare question and `prompt` the
  row's prompt (question, "(A) ..." lines, instruction). More than 4 images is an error.

Parquet is written by the release's own `ShardWriter` with a schema of the export's columns (same
compression, row groups, shard naming), with the Hugging Face feature metadata written literally
as in `output.schema`, so the bytes depend on the inputs only. The folder also holds a README.md
(Hub YAML configs, licenses, sources from the release manifest) and `export.json` (what was
exported from which release, parquet sha256s).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from ..errors import MedblinkError, OutputError
from ..hashing import sha256_file
from ..output.card import MEDBLINK_CITATION, hub_license, public_text
from ..output.folder import MANIFEST_NAME
from ..output.shards import SPLIT, ShardWriter
from ..questions import LETTERS, PROMPT_SUFFIX, format_prompt
from ..version import __version__
from .export_base import EXPORT_FORMAT, EXPORT_MARKER, ExportSummary
from .staging import StagedFolder, check_outside
from .verify import iter_rows, load_manifest

BLINK_MAX_IMAGES = 4

_STRING = {"dtype": "string", "_type": "Value"}
_IMAGE_FEATURE = {"_type": "Image"}
_IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@dataclass(frozen=True)
class _Format:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, kind) with kind in string / image / strings
    convert: Callable[[dict[str, Any]], tuple[dict[str, Any], int]]  # row -> (export row, images dropped)
    description: str

    def schema(self) -> pa.Schema:
        types = {"string": pa.string(), "image": _IMAGE_TYPE, "strings": pa.list_(pa.string())}
        features = {
            "string": _STRING,
            "image": _IMAGE_FEATURE,
            "strings": {"feature": _STRING, "_type": "List"},
        }
        fields = [pa.field(name, types[kind]) for name, kind in self.columns]
        info = {"info": {"features": {name: features[kind] for name, kind in self.columns}}}
        return pa.schema(fields, metadata={"huggingface": json.dumps(info, sort_keys=False)})


def medblink_question(row: Mapping[str, Any]) -> str:
    """The question with its lettered choices, without the closing answer instruction."""
    return format_prompt(row["question"], tuple(row["choices"])).removesuffix("\n" + PROMPT_SUFFIX)


def _medblink_row(row: dict[str, Any]) -> tuple[dict[str, Any], int]:
    images = row["images"] or []
    out = {
        "task": row["task"],
        "question_id": row["id"],
        "question": medblink_question(row),
        "answer": row["answer"],
        "image": images[0] if images else None,
    }
    return out, max(len(images) - 1, 0)


def _blink_row(row: dict[str, Any]) -> tuple[dict[str, Any], int]:
    images = row["images"] or []
    if len(images) > BLINK_MAX_IMAGES:
        raise OutputError(
            f"{row['id']}: {len(images)} images; the blink format holds at most {BLINK_MAX_IMAGES} (image_1..image_4)"
        )
    if row["answer"] not in LETTERS:
        raise OutputError(f"{row['id']}: answer {row['answer']!r} is not a letter A..{LETTERS[-1]}")
    out: dict[str, Any] = {"idx": row["id"], "question": row["question"], "sub_task": row["task"]}
    for k in range(BLINK_MAX_IMAGES):
        out[f"image_{k + 1}"] = images[k] if k < len(images) else None
    out.update({"choices": list(row["choices"]), "answer": f"({row['answer']})", "prompt": row["prompt"]})
    return out, 0


FORMATS: dict[str, _Format] = {
    "medblink": _Format(
        "medblink",
        (
            ("task", "string"),
            ("question_id", "string"),
            ("question", "string"),
            ("answer", "string"),
            ("image", "image"),
        ),
        _medblink_row,
        "MedBLINK-style columns `task, question_id, question, answer, image`. `question_id` is the release row id; "
        "`question` holds the question and its lettered choices (`(A) ...` lines, no answer instruction); "
        "`answer` is the correct letter (`A`, `B`, ...); `image` is the row's first image.",
    ),
    "blink": _Format(
        "blink",
        (
            ("idx", "string"),
            ("question", "string"),
            ("sub_task", "string"),
            *((f"image_{k}", "image") for k in range(1, BLINK_MAX_IMAGES + 1)),
            ("choices", "strings"),
            ("answer", "string"),
            ("prompt", "string"),
        ),
        _blink_row,
        "BLINK-style columns `idx, question, sub_task, image_1..image_4, choices, answer, prompt`. `idx` is the "
        "release row id; `sub_task` the config name; `image_k` the k-th image or null; `answer` the correct letter "
        "in parentheses (`(A)`); `prompt` the question with `(A) ...` lines and the answer instruction.",
    ),
}


class _ExportShards(ShardWriter):
    """The release's shard writer with an export schema instead of the row schema."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        super().__init__(folder)
        self.schema = schema


def export(folder: Path, fmt: str, out: Path) -> ExportSummary:
    """Write release FOLDER as a Hub-ready folder OUT in format FMT ("medblink" or "blink"); the harness
    formats are `export_formats.export`'s."""
    if fmt not in FORMATS:
        raise MedblinkError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    folder = Path(folder)
    manifest, _ = load_manifest(folder)
    if not manifest["configs"]:
        raise OutputError(f"{folder}: the release has no task configs to export")
    check_outside(folder, out, "the export folder")
    summary = ExportSummary(Path(out), fmt)
    files: dict[str, list[dict[str, Any]]] = {}
    with StagedFolder(Path(out), EXPORT_MARKER, EXPORT_FORMAT, "export") as staging:
        schema = spec.schema()
        for config, info in manifest["configs"].items():
            writer = _ExportShards(staging / "data" / config, schema)
            dropped = 0
            for row, lost in _converted(folder, info, spec):
                writer.add(row, sum(len(img["bytes"]) for img in _images(row)))
                dropped += lost > 0
            paths = writer.close()
            summary.counts[config] = writer.rows
            if dropped:
                summary.dropped_images[config] = dropped
            files[config] = [
                {"path": p.relative_to(staging).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                for p in paths
            ]
        (staging / "README.md").write_text(_card(manifest, spec, summary), encoding="utf-8")
        marker = {
            "format": EXPORT_FORMAT,
            "format_version": 1,
            "export_format": fmt,
            "tool": {"name": "medblink-build", "version": __version__},
            "source": {
                "release": manifest.get("release") or None,
                "tool": manifest.get("tool"),
                "sample": bool(manifest.get("sample")),
                "manifest_sha256": sha256_file(folder / MANIFEST_NAME),
            },
            "configs": {
                config: {
                    "rows": summary.counts[config],
                    "rows_with_images_left_out": summary.dropped_images.get(config, 0),
                    "files": files[config],
                }
                for config in manifest["configs"]
            },
        }
        (staging / EXPORT_MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _converted(folder: Path, info: Mapping[str, Any], spec: _Format) -> Iterator[tuple[dict[str, Any], int]]:
    for row in iter_rows(folder, info):
        yield spec.convert(row)


def _images(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for k, v in row.items() if k.startswith("image") and isinstance(v, dict)]


def _card(manifest: Mapping[str, Any], spec: _Format, summary: ExportSummary) -> str:
    configs = manifest["configs"]
    licenses = [part for info in configs.values() for part in str(info.get("license", "unknown")).split(" AND ")]
    sample = bool(manifest.get("sample"))
    release = manifest.get("release") or {}
    name = f"{release.get('name', 'MedBLINK')} {release.get('version', '')}".strip()
    header: dict[str, Any] = {
        "pretty_name": f"{name} ({spec.name} format" + (", sample build)" if sample else ")"),
        "license": hub_license(licenses),
        "language": ["en"],
        "task_categories": ["visual-question-answering", "multiple-choice"],
        "tags": ["medical", "perception", "benchmark", "medblink", f"{spec.name}-format"]
        + (["synthetic", "sample"] if sample else []),
        "configs": [
            {"config_name": c, "data_files": [{"split": SPLIT, "path": f"data/{c}/{SPLIT}-*.parquet"}]} for c in configs
        ],
    }
    tool = manifest.get("tool", {})
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {name} — {spec.name} format", ""]
    if sample:
        lines += [
            "> **Sample build.** Every image here is a synthetic phantom generated by medblink-build, not",
            "> patient data and not the MedBLINK benchmark.",
            "",
        ]
    lines += [
        f"An export of a release built by {tool.get('name', 'medblink-build')} {tool.get('version', '?')} "
        f"(seed {manifest.get('seed', '?')}), rewritten for harnesses that expect the {spec.name} layout.",
        "The release folder (with `manifest.json`, per-row `label` and `provenance`) is the reference; "
        "`export.json` records which release this came from (its manifest's sha256).",
        "",
        spec.description,
        "",
        "## Configs",
        "",
        "| config | rows | license | modality | anatomy |",
        "|---|---|---|---|---|",
    ]
    for config, info in configs.items():
        lines.append(
            f"| `{config}` | {summary.counts.get(config, 0)} | {info.get('license', 'unknown')} | "
            f"{info.get('modality', '')} | {info.get('anatomy', '')} |"
        )
    if summary.dropped_images:
        lines += [
            "",
            "Rows with more than one image keep only the first here: "
            + ", ".join(f"`{c}` {n}" for c, n in summary.dropped_images.items())
            + ". The `blink` export keeps up to four.",
        ]
    lines += ["", "## Sources", ""]
    for s in manifest.get("sources", []):
        lines.append(
            f"- {s.get('name', s.get('id'))} (`{s.get('id')}`): license **{s.get('license', 'unknown')}**"
            + (f" — {public_text(s['license_note'])}" if s.get("license_note") else "")
            + (f"; {s['homepage']}" if s.get("homepage") else "")
        )
        if s.get("citation"):
            lines += ["", "  ```bibtex", *[f"  {c}" for c in s["citation"].splitlines()], "  ```"]
    first = next(iter(configs))
    lines += ["", "## Citation", "", "```bibtex", MEDBLINK_CITATION, "```"]
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        f"ds = datasets.load_dataset(PATH_OR_REPO, name={first!r}, split={SPLIT!r})",
        "```",
        "",
    ]
    return "\n".join(lines)
