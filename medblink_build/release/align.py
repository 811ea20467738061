"""`align`: recover which source items and recipe parameters a published release used, and audit
its labels against the raw evidence.

1. The published copy (a folder of parquet files or one parquet file in the `medblink` export
   shape: `task, question_id, question, answer, image`) is read row by row; images may have been
   re-encoded, resized, shuffled or renamed.
2. Every recipe of the release definition is run over the local sources (`align_index`: one
   candidate image per item and parameter value of the recipe's transform family and searched
   parameters, e.g. every CT slice; fingerprinted and cached on disk).
3. Each published row is matched within its task: the candidates whose aspect ratio agrees are
   shortlisted by perceptual-hash distance and the closest 32 x 32 thumbnail wins, if its mean
   absolute difference is at most MAX_THUMB_DIFF grey levels. Rows and items are paired one to
   one, best pairs first.
4. Each matched item is built again with its parameters pinned (and the published letter order of
   the choices) and compared with the published image block by block (`local_difference`). When
   they differ, markers are recovered from the published image (`align_markers`) and the recipe's
   question family (e.g. `ask`) is tried until image and question agree; a row that still differs
   is unmatched. The rebuilt example's correct choice is the `derived_answer`, from the raw
   evidence through the recipe; `label_agrees` compares it with the published answer text when the
   published question is the recipe's.

Parameters neither the image nor the question shows are the recipe's seeded draw at the release's
seed (recorded in provenance): relative-position's slice and structure pair,
morphology-count's choice window, histology's tile and markers (pinnable, not recovered).
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from ..build.executors import make_executor
from ..build.pipeline import BuildFailed, RecipeRun
from ..build.worker import Failed, Job, build_one, recipe_instance
from ..errors import SourceError
from ..model import Example
from ..output.lettering import as_drawn
from ..questions import LETTERS
from ..recipe import Recipe
from .align_index import CandidateIndex, build_index, fingerprint
from .align_markers import recover_markers
from .definition import Pin, ReleaseDefinition
from .pins import PinnedTask, pins_toml
from .plan import plan_release

COLUMNS = ("task", "question_id", "question", "answer", "image")
#: Candidates compared by thumbnail after the hash shortlist.
SHORTLIST = 8
#: A candidate's thumbnail may differ from the published one by at most this mean (grey levels).
MAX_THUMB_DIFF = 12.0
#: Aspect ratios (width / height) may differ by this factor (resizing rounds sides to pixels).
ASPECT_TOLERANCE = 0.06
#: After the rebuild, the published image and the rebuilt one may differ by at most this much
#: (mean grey levels over LOCAL_BLOCK-px blocks at LOCAL_SIDE px); re-encoding stays under ~35.
LOCAL_SIDE = 128
LOCAL_BLOCK = 4
LOCAL_MAX_DIFF = 45.0
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
_CHOICE_LINE = re.compile(r"^\(([A-J])\) (.*)$")


@dataclass
class PublishedRow:
    position: int  # order in the published copy
    task: str
    question_id: str
    question: str
    answer: str
    image: bytes | None


@dataclass
class AuditRow:
    question_id: str
    task: str
    status: str  # matched | unmatched
    item_key: str | None = None
    score: float | None = None
    published_answer: str = ""
    derived_answer: str | None = None
    label_agrees: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {
            "question_id": self.question_id,
            "task": self.task,
            "status": self.status,
            "item_key": self.item_key,
            "score": self.score,
            "published_answer": self.published_answer,
            "derived_answer": self.derived_answer,
            "label_agrees": self.label_agrees,
        }
        if self.params:
            out["params"] = self.params
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class AlignResult:
    rows: list[AuditRow]
    pins_text: str
    summary: dict[str, Any]

    def report(self) -> dict[str, Any]:
        return {"rows": [r.to_json() for r in self.rows], "summary": self.summary}


def read_published(path: Path) -> list[PublishedRow]:
    """The rows of a published copy: one parquet file, or every parquet file under a folder."""
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise SourceError(f"{path}: no parquet files (expected the published release's data files)")
    rows: list[PublishedRow] = []
    for file in files:
        try:
            parquet = pq.ParquetFile(file)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"{file}: not a readable parquet file: {exc}") from None
        missing = [c for c in COLUMNS if c not in parquet.schema_arrow.names]
        if missing:
            raise SourceError(f"{file}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
        for batch in parquet.iter_batches(batch_size=64, columns=list(COLUMNS)):
            for record in batch.to_pylist():
                image = record["image"]
                data = image.get("bytes") if isinstance(image, dict) else image
                rows.append(
                    PublishedRow(
                        len(rows),
                        str(record["task"]),
                        str(record["question_id"]),
                        str(record["question"] or ""),
                        str(record["answer"] or ""),
                        data,
                    )
                )
    return rows


def published_choices(question: str) -> list[str]:
    """The `(A) ...` lines of a published question, in order (empty when it lists none)."""
    found = [m.groups() for line in question.splitlines() if (m := _CHOICE_LINE.match(line.strip()))]
    letters = [g[0] for g in found]
    return [g[1] for g in found] if letters == list(LETTERS[: len(letters)]) else []


def _same_answer(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _match_task(rows: list[PublishedRow], index: CandidateIndex, task: str) -> dict[int, tuple[int, float]]:
    """Row position -> (candidate index, thumbnail difference), one to one by item key."""
    pool = np.array([i for i, c in enumerate(index.candidates) if c.task == task], dtype=np.int64)
    if pool.size == 0:
        return {}
    bits, thumbs, aspects = index.bits[pool], index.thumbs[pool].astype(np.int16), index.aspects[pool]
    pairs: list[tuple[float, int, int, int]] = []
    for row in rows:
        try:
            fp = fingerprint(Image.open(io.BytesIO(row.image or b"")))
        except (UnidentifiedImageError, OSError):
            continue
        distance = _POPCOUNT[bits ^ fp.bits].sum(axis=1).astype(np.float64)
        distance[np.abs(np.log(aspects / fp.aspect)) > ASPECT_TOLERANCE] = np.inf
        for j in np.argsort(distance, kind="stable")[:SHORTLIST]:
            if np.isfinite(distance[j]):
                diff = float(np.abs(thumbs[j] - fp.thumb.astype(np.int16)).mean())
                if diff <= MAX_THUMB_DIFF:
                    pairs.append((diff, int(distance[j]), row.position, int(pool[j])))
    pairs.sort()
    taken_rows: set[int] = set()
    taken_items: set[str] = set()
    found: dict[int, tuple[int, float]] = {}
    for diff, _bits, position, cand in pairs:
        key = index.candidates[cand].key
        if position in taken_rows or key in taken_items:
            continue
        taken_rows.add(position)
        taken_items.add(key)
        found[position] = (cand, diff)
    return found


def _derive(
    run: RecipeRun, seed: int, pins: dict[str, dict[str, Any]], index: CandidateIndex, workers: int
) -> dict[str, Example | str]:
    """Build each pinned item with its pinned parameters: item key -> example, or why it is skipped."""
    todo = [index.items[key] for key in pins]
    out: dict[str, Example | str] = {}
    job = Job(run.ref, seed, pins=pins)
    executor = make_executor("process", workers)
    try:
        results = executor.map_ordered(functools.partial(build_one, job), iter(todo))
        for item, result in zip(todo, results, strict=True):
            if isinstance(result, Failed):
                raise BuildFailed(result.message, result.detail)
            out[item.key] = result if isinstance(result, Example) else f"{result.reason}: {result.detail}"
    finally:
        executor.close()
    return out


@dataclass(frozen=True)
class _Check:
    local: float
    image_ok: bool
    question_ok: bool


def _check(row: PublishedRow, example: Example | str) -> _Check:
    if isinstance(example, str):
        return _Check(float("inf"), False, False)
    shown = as_drawn(example).images[0]  # lettered markers are the writer's to draw: drawn here as pinned
    local = local_difference(Image.open(io.BytesIO(row.image or b"")), Image.open(io.BytesIO(shown)))
    return _Check(local, local <= LOCAL_MAX_DIFF, question_stem(row.question) == example.question.text.strip())


def _variants(
    recipe: Recipe, params: dict[str, Any], row: PublishedRow, example: Example | str
) -> list[dict[str, Any]]:
    """Other parameter sets worth trying when the rebuild does not reproduce the published row:
    markers recovered from the published image, and each value of the recipe's question family."""
    base = dict(params)
    if recipe.align_markers and recipe.align_markers in params and isinstance(example, Example):
        found = recover_markers(
            Image.open(io.BytesIO(row.image or b"")),
            Image.open(io.BytesIO(example.images[0])),
            params[recipe.align_markers],
        )
        if found is not None:
            base[recipe.align_markers] = found
    options = [base]
    for name, values in recipe.align_question_family.items():
        if name in params:
            options = [{**o, name: v} for o in options for v in values]
    return [o for o in options if o != params]


def _refine(
    run: RecipeRun,
    seed: int,
    pins: dict[str, dict[str, Any]],
    index: CandidateIndex,
    workers: int,
    published: dict[str, PublishedRow],
) -> dict[str, tuple[dict[str, Any], Example | str, _Check]]:
    """Item key -> (parameters, rebuilt example or skip reason, check against the published row):
    the candidate's parameters, or the first variant that reproduces the published image and
    question when they do not."""
    recipe = recipe_instance(run.ref)
    first = _derive(run, seed, pins, index, workers)
    best = {key: (pins[key]["params"], ex, _check(published[key], ex)) for key, ex in first.items()}
    todo = {
        key: _variants(recipe, pins[key]["params"], published[key], ex)
        for key, (_, ex, check) in best.items()
        if not (check.image_ok and check.question_ok)
    }
    for attempt in range(max((len(v) for v in todo.values()), default=0)):
        trial = {key: {"params": v[attempt]} for key, v in todo.items() if attempt < len(v)}
        for key, ex in _derive(run, seed, trial, index, workers).items():
            check = _check(published[key], ex)
            if (check.image_ok, check.question_ok) > (best[key][2].image_ok, best[key][2].question_ok):
                best[key] = (trial[key]["params"], ex, check)
        todo = {k: v for k, v in todo.items() if not (best[k][2].image_ok and best[k][2].question_ok)}
    return best


def local_difference(published: Image.Image, rebuilt: Image.Image) -> float:
    """The largest mean difference (grey levels, RGB) over LOCAL_BLOCK-pixel blocks of the two images
    brought to LOCAL_SIDE px: small for a re-encoded, resized copy of the same image, large where a
    marker (or any detail a few percent of the image wide) differs."""
    w, h = rebuilt.size
    scale = LOCAL_SIDE / max(w, h)
    size = tuple(max(LOCAL_BLOCK, round(v * scale) // LOCAL_BLOCK * LOCAL_BLOCK) for v in (w, h))
    a, b = (np.asarray(im.convert("RGB").resize(size, Image.Resampling.BOX), np.float32) for im in (published, rebuilt))
    diff = np.abs(a - b).mean(axis=2)
    rows, cols = diff.shape[0] // LOCAL_BLOCK, diff.shape[1] // LOCAL_BLOCK
    return float(diff.reshape(rows, LOCAL_BLOCK, cols, LOCAL_BLOCK).mean(axis=(1, 3)).max())


def question_stem(question: str) -> str:
    """A published question without its `(A) ...` lines."""
    lines = question.strip().splitlines()
    keep = [line for line in lines if not _CHOICE_LINE.match(line.strip())]
    return "\n".join(keep).strip()


def align(
    published: Path,
    definition: ReleaseDefinition,
    sources_root: Path,
    cache_dir: Path | None,
    workers: int = 1,
    report_name: str = "AUDIT.json",
) -> AlignResult:
    """Match every published row to a source item and parameters; derive its answer; pin them."""
    rows = read_published(published)
    plan = plan_release(definition, sources_root)
    by_task: dict[str, list[PublishedRow]] = {}
    for row in rows:
        by_task.setdefault(row.task, []).append(row)
    audit = {r.position: AuditRow(r.question_id, r.task, "unmatched", published_answer=r.answer) for r in rows}
    known = {t.id for t in definition.tasks}
    for row in rows:
        if row.task not in known:
            audit[row.position].note = f"task {row.task!r} is not in release {definition.name}"
        elif row.task in plan.missing:
            audit[row.position].note = plan.missing[row.task]
        elif not row.image:
            audit[row.position].note = "the row has no image"
    stats: dict[str, Any] = {"candidates": 0, "items": 0, "items_built": 0, "items_from_cache": 0, "items_skipped": 0}
    pinned: dict[str, list[Pin]] = {}
    for run in plan.runs:
        index = build_index(run, definition.seed, cache_dir, workers)
        stats["candidates"] += len(index.candidates)
        stats["items"] += len(index.items)
        stats["items_built"] += index.built
        stats["items_from_cache"] += index.reused
        stats["items_skipped"] += len(index.skipped)
        matches: dict[int, tuple[int, float]] = {}
        for task in run.limits:
            matches.update(_match_task(by_task.get(task, []), index, task))
        if not matches:
            continue
        pins: dict[str, dict[str, Any]] = {}
        for position, (cand, _diff) in matches.items():
            candidate = index.candidates[cand]
            params = dict(candidate.params)
            choices = published_choices(rows[position].question)
            if choices:
                params["choices"] = choices
            pins[candidate.key] = {"params": params}
        derived = _refine(
            run,
            definition.seed,
            pins,
            index,
            workers,
            {index.candidates[c].key: rows[p] for p, (c, _) in matches.items()},
        )
        for position, (cand, diff) in sorted(matches.items()):
            candidate, row, entry = index.candidates[cand], rows[position], audit[position]
            entry.status, entry.item_key = "matched", candidate.key
            entry.score = round(1.0 - diff / 255.0, 4)
            params, example, check = derived[candidate.key]
            entry.params = params
            if isinstance(example, str):
                entry.note = f"the recipe skips this item with these parameters ({example})"
                continue
            if not check.image_ok:  # the same image, but e.g. markers elsewhere: parameters not recovered
                entry.status, entry.score, entry.item_key, entry.params = "unmatched", None, None, {}
                entry.note = (
                    f"looks like {candidate.key} but differs locally (block difference {check.local:.0f} > "
                    f"{LOCAL_MAX_DIFF:g}): a parameter the index does not vary (e.g. marker positions) differs"
                )
                continue
            entry.derived_answer = example.question.choices[example.question.correct]
            pinned.setdefault(row.task, []).append(
                Pin(candidate.key, params, row.question_id, row.question, row.answer)
            )
            if not check.question_ok:
                entry.note = "the published question is not the recipe's with these parameters: answers not compared"
                continue
            entry.label_agrees = _same_answer(entry.derived_answer, row.answer)
    ordered = [audit[r.position] for r in rows]
    summary = _summary(ordered, definition, stats)
    disagreements = [
        {k: r.to_json()[k] for k in ("question_id", "task", "item_key", "published_answer", "derived_answer")}
        for r in ordered
        if r.label_agrees is False
    ]
    tasks = [PinnedTask(t.id, t.recipe, t.sources, pinned.get(t.id, [])) for t in definition.tasks]
    regeneration = {
        "published": published.name,
        "report": report_name,
        "rows": len(rows),
        "matched": summary["matched"],
        "disagreements": disagreements,
    }
    comment = (
        f"Pinned by `medblink-build align {published.name}` against release {definition.name} {definition.version}:\n"
        "each selection entry is a published row (question_id, question, answer) and the source item and\n"
        "recipe parameters that reproduce it. Build it with `build --release THIS_FILE --sources-root DIR`."
    )
    return AlignResult(ordered, pins_toml(definition, tasks, regeneration, comment), summary)


def _summary(rows: list[AuditRow], definition: ReleaseDefinition, stats: dict[str, Any]) -> dict[str, Any]:
    per_task: dict[str, Counter[str]] = {}
    for r in rows:
        c = per_task.setdefault(r.task, Counter())
        c["rows"] += 1
        c[r.status] += 1
        if r.label_agrees is True:
            c["agreeing"] += 1
        elif r.label_agrees is False:
            c["disagreeing"] += 1
        elif r.status == "matched":
            c["not_derived"] += 1
    fields = ("rows", "matched", "agreeing", "disagreeing", "not_derived", "unmatched")
    return {
        "release": {"name": definition.name, "version": definition.version, "seed": definition.seed},
        "rows": len(rows),
        "matched": sum(r.status == "matched" for r in rows),
        "agreeing": sum(r.label_agrees is True for r in rows),
        "disagreeing": sum(r.label_agrees is False for r in rows),
        "unmatched": sum(r.status == "unmatched" for r in rows),
        "tasks": {t: {f: c[f] for f in fields} for t, c in sorted(per_task.items())},
        "index": stats,
        "method": {
            "fingerprint": "imagehash pHash + dHash (256 bits each) shortlist, then 32 x 32 greyscale thumbnail",
            "shortlist": SHORTLIST,
            "max_thumbnail_difference": MAX_THUMB_DIFF,
            "aspect_tolerance": ASPECT_TOLERANCE,
            "parameters": "transform family rendered per value (align_family); markers recovered from the image "
            "(align_markers); question family tried (align_question_family); the rest from the recipe's seeded draw "
            "at the release seed; every match rebuilt and compared locally with the published image",
        },
    }


def summary_table(summary: dict[str, Any]) -> str:
    """The per-task table `align` prints."""
    columns = ("rows", "matched", "agreeing", "disagreeing", "unmatched")
    head = f"{'task':32s}" + "".join(f" {c:>11s}" for c in columns)
    lines = [head, "-" * len(head)]
    for task, counts in [*summary["tasks"].items(), ("total", summary)]:
        lines.append(f"{task:32s}" + "".join(f" {counts[c]:11d}" for c in columns))
    return "\n".join(lines)


def write_report(path: Path, result: AlignResult) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(result.report(), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
