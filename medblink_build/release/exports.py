"""Export views of a release for existing evaluation harnesses, as Hub-ready dataset folders.

Two formats:

- `medblink`: the published MedBLINK shape (`MahtabBg/MedBLINK`): one dataset (a single `default`
  config), split `val`, every task's rows in one table with exactly the columns `task, question_id,
  question, answer, image`, loading with `datasets.load_dataset(DIR, split="val")`. `question_id`
  is the row id (or, for a pinned regeneration, the published question id its provenance
  carries); `answer` is the answer *text* (the correct choice, e.g. "Marker B"), as published.
  With no `choices` column, `question` carries the lettered choices: it is the row's `prompt`
  without the closing "Answer with the option's letter ..." instruction. `image` is the first
  image. Only when some row has more than one image is a sixth column `images` added: all images
  of a multi-image row in order (the first is also `image`), an empty list for single-image rows.
- `blink`: one parquet config per task config, `load_dataset(DIR, name=CONFIG, split="test")`,
  with the BLINK benchmark's columns `idx, question, sub_task, image_1..image_4, choices,
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
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
#: The one config of the published MedBLINK shape.
DEFAULT_CONFIG = "default"

_STRING = {"dtype": "string", "_type": "Value"}
_IMAGE_FEATURE = {"_type": "Image"}
_IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@dataclass(frozen=True)
class _Format:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, kind) with kind in string / image / strings / images
    convert: Callable[[dict[str, Any]], dict[str, Any]]  # release row -> export row
    description: str
    split: str = SPLIT
    single_config: bool = False  # all task configs in one `default` config (the published shape)
    multi_image_column: tuple[str, str] | None = None  # added only when some row has several images

    def schema(self, columns: tuple[tuple[str, str], ...] | None = None) -> pa.Schema:
        columns = columns or self.columns
        types = {
            "string": pa.string(),
            "image": _IMAGE_TYPE,
            "strings": pa.list_(pa.string()),
            "images": pa.list_(_IMAGE_TYPE),
        }
        features = {
            "string": _STRING,
            "image": _IMAGE_FEATURE,
            "strings": {"feature": _STRING, "_type": "List"},
            "images": {"feature": _IMAGE_FEATURE, "_type": "List"},
        }
        fields = [pa.field(name, types[kind]) for name, kind in columns]
        info = {"info": {"features": {name: features[kind] for name, kind in columns}}}
        return pa.schema(fields, metadata={"huggingface": json.dumps(info, sort_keys=False)})


def medblink_question(row: Mapping[str, Any]) -> str:
    """The question with its lettered choices, without the closing answer instruction."""
    return format_prompt(row["question"], tuple(row["choices"])).removesuffix("\n" + PROMPT_SUFFIX)


def medblink_answer(row: Mapping[str, Any]) -> str:
    """The answer text: the choice the row's answer letter names."""
    return str(row["choices"][LETTERS.index(row["answer"])])


def published_question_id(row: Mapping[str, Any]) -> str:
    """The published question id a pinned regeneration's provenance carries, else the row id."""
    published = json.loads(row["provenance"]).get("published") or {}
    return str(published.get("question_id") or row["id"])


def _medblink_row(row: dict[str, Any]) -> dict[str, Any]:
    images = row["images"] or []
    out = {
        "task": row["task"],
        "question_id": published_question_id(row),
        "question": medblink_question(row),
        "answer": medblink_answer(row),
        "image": images[0] if images else None,
        "images": list(images) if len(images) > 1 else [],
    }
    return out


def _blink_row(row: dict[str, Any]) -> dict[str, Any]:
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
    return out


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
        "The published MedBLINK shape: one `default` config, split `val`, columns `task, question_id, question, "
        "answer, image`. `question_id` is the release row id (a pinned regeneration keeps the published id); "
        "`question` holds the question and its lettered choices (`(A) ...` lines, no answer instruction); "
        "`answer` is the answer text (the correct choice, not its letter); `image` is the row's first image.",
        split="val",
        single_config=True,
        multi_image_column=("images", "images"),
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
    columns = spec.columns
    if spec.multi_image_column and _max_images(folder, manifest) > 1:
        columns = (*columns, spec.multi_image_column)
    keep = [name for name, _ in columns]
    with StagedFolder(Path(out), EXPORT_MARKER, EXPORT_FORMAT, "export") as staging:
        schema = spec.schema(columns)
        names = list(manifest["configs"])
        groups = {DEFAULT_CONFIG: names} if spec.single_config else {c: [c] for c in names}
        for group, configs in groups.items():
            target = staging / "data" if spec.single_config else staging / "data" / group
            writer = _ExportShards(target, schema)
            for config in configs:
                before = writer.rows
                for row in iter_rows(folder, manifest["configs"][config]):
                    converted = spec.convert(row)
                    writer.add({k: converted[k] for k in keep}, sum(len(img["bytes"]) for img in _images(converted)))
                summary.counts[config] = writer.rows - before
            files[group] = [
                {"path": p.relative_to(staging).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
                for p in _named_for_split(writer.close(), spec.split)
            ]
        (staging / "README.md").write_text(_card(manifest, spec, summary, columns), encoding="utf-8")
        marker = {
            "format": EXPORT_FORMAT,
            "format_version": 1,
            "export_format": fmt,
            "split": spec.split,
            "columns": keep,
            "tool": {"name": "medblink-build", "version": __version__},
            "source": {
                "release": manifest.get("release") or None,
                "tool": manifest.get("tool"),
                "sample": bool(manifest.get("sample")),
                "manifest_sha256": sha256_file(folder / MANIFEST_NAME),
            },
            "configs": {
                group: {
                    "rows": sum(summary.counts[c] for c in configs),
                    "tasks": {c: summary.counts[c] for c in configs},
                    "files": files[group],
                }
                for group, configs in groups.items()
            },
        }
        (staging / EXPORT_MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _max_images(folder: Path, manifest: Mapping[str, Any]) -> int:
    """The largest number of images of any row (reads only the images column)."""
    most = 0
    for info in manifest["configs"].values():
        for entry in info["files"]:
            for batch in pq.ParquetFile(folder / entry["path"]).iter_batches(batch_size=64, columns=["images"]):
                lengths = pc.list_value_length(batch.column(0))
                most = max(most, pc.max(lengths).as_py() or 0)
    return most


def _named_for_split(paths: list[Path], split: str) -> list[Path]:
    """Shards are written as `test-*.parquet`; a format with another split renames them."""
    if split == SPLIT:
        return paths
    renamed = []
    for path in paths:
        target = path.with_name(split + path.name.removeprefix(SPLIT))
        path.rename(target)
        renamed.append(target)
    return renamed


def _images(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = [v for k, v in row.items() if k.startswith("image_") and isinstance(v, dict)]
    return found + (row["images"] if row.get("images") else [row["image"]] if row.get("image") else [])


def _card(
    manifest: Mapping[str, Any], spec: _Format, summary: ExportSummary, columns: tuple[tuple[str, str], ...]
) -> str:
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
            {
                "config_name": DEFAULT_CONFIG,
                "data_files": [{"split": spec.split, "path": f"data/{spec.split}-*.parquet"}],
            }
        ]
        if spec.single_config
        else [
            {"config_name": c, "data_files": [{"split": spec.split, "path": f"data/{c}/{spec.split}-*.parquet"}]}
            for c in configs
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
        "Columns: " + ", ".join(f"`{name}`" for name, _ in columns) + ".",
    ]
    if ("images", "images") in columns:
        lines += [
            "Some rows have more than one image: `images` holds all of a multi-image row's images in order "
            "(the first is also `image`) and is an empty list for single-image rows.",
        ]
    lines += [
        "",
        "## Tasks" if spec.single_config else "## Configs",
        "",
        f"| {'task' if spec.single_config else 'config'} | rows | license | modality | anatomy |",
        "|---|---|---|---|---|",
    ]
    for config, info in configs.items():
        lines.append(
            f"| `{config}` | {summary.counts.get(config, 0)} | {info.get('license', 'unknown')} | "
            f"{info.get('modality', '')} | {info.get('anatomy', '')} |"
        )
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
    load = f"split={spec.split!r}" if spec.single_config else f"name={first!r}, split={spec.split!r}"
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        f"ds = datasets.load_dataset(PATH_OR_REPO, {load})",
        "```",
        "",
    ]
    return "\n".join(lines)
