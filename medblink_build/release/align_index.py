"""The candidate index of `align`: every image a release's recipes can make from the local sources,
as perceptual fingerprints, built once and cached on disk.

For each source item the recipe is run once, with the release's seed, exactly as `build` runs it;
its image is one candidate, with the parameters the recipe recorded (`ItemContext.choice`). A
recipe whose `align_family` names a parameter applied as the image's last (dihedral) transform,
e.g. orientation's `rotation` or relative-position's `view_transform`, gives one candidate per
value of that parameter: the drawn transform is undone and each value applied instead, which is
what running the recipe with each value pinned would draw (the transform is a pure pixel
permutation), at the cost of one run. A parameter in `align_search` (an integer drawn from a
range, e.g. enhancement's CT `slice_index`) gives one candidate per value, each rendered by the
recipe with the value pinned (windowing, resizing and view as for its own choice); the volume is
read once per item (`ItemContext.explore`).

A fingerprint is a 256-bit pHash and a 256-bit dHash (imagehash, on the greyscale image) for the
shortlist, a 32 x 32 greyscale thumbnail for the final comparison, and the aspect ratio (rotations
by 90 degrees change it). All are unchanged by re-encoding (JPEG), resizing and renaming, which is
how a published copy differs from a build.

Cache: one `.npz` (fingerprints) and one `.json` (candidate parameters, item signatures) per
recipe, version, seed and source under the cache folder. An item is rebuilt only when its files'
sizes or modification times changed, so a second `align` over a 100k-image source reads the cache.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image

from ..build.executors import make_executor
from ..build.pipeline import BuildFailed, RecipeRun, ordered_items
from ..build.worker import Failed, Job, build_one, recipe_instance
from ..errors import OutputError
from ..model import Example, Skipped, SourceItem
from ..output.lettering import lettered_variants
from ..seeding import stable_hash
from ..sources.folder import FolderSource
from ..transforms import apply, dihedral, dihedral_inverse

HASH_SIZE = 16  # bits per side of each perceptual hash (256 bits each)
THUMB = 32  # side of the greyscale thumbnail compared last
INDEX_FORMAT = 1


@dataclass(frozen=True)
class Fingerprint:
    bits: np.ndarray  # packed pHash + dHash, uint8 (2 * HASH_SIZE**2 / 8,)
    thumb: np.ndarray  # uint8 (THUMB * THUMB,)
    aspect: float  # width / height


def fingerprint(image: Image.Image) -> Fingerprint:
    """The perceptual fingerprint of one image (any mode, any size)."""
    grey = image.convert("L")
    ph = imagehash.phash(grey, hash_size=HASH_SIZE).hash.ravel()
    dh = imagehash.dhash(grey, hash_size=HASH_SIZE).hash.ravel()
    thumb = np.asarray(grey.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.uint8).ravel()
    return Fingerprint(np.packbits(np.concatenate([ph, dh])), thumb, grey.width / grey.height)


@dataclass
class Candidate:
    task: str
    key: str
    params: dict[str, Any]


@dataclass
class CandidateIndex:
    """Fingerprints of every candidate image, and what made each one."""

    candidates: list[Candidate] = field(default_factory=list)
    bits: np.ndarray = field(default_factory=lambda: np.zeros((0, HASH_SIZE * HASH_SIZE // 4), np.uint8))
    thumbs: np.ndarray = field(default_factory=lambda: np.zeros((0, THUMB * THUMB), np.uint8))
    aspects: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    items: dict[str, SourceItem] = field(default_factory=dict)  # item key -> item (for the rebuild)
    skipped: dict[str, str] = field(default_factory=dict)  # item key -> why the recipe made no image
    recipe_of: dict[str, RecipeRun] = field(default_factory=dict)  # item key -> its run
    reused: int = 0  # items whose fingerprints came from the cache
    built: int = 0  # items run through the recipe now

    def extend(self, other: CandidateIndex) -> None:
        self.candidates += other.candidates
        self.bits = np.concatenate([self.bits, other.bits])
        self.thumbs = np.concatenate([self.thumbs, other.thumbs])
        self.aspects = np.concatenate([self.aspects, other.aspects])
        self.items.update(other.items)
        self.skipped.update(other.skipped)
        self.recipe_of.update(other.recipe_of)
        self.reused += other.reused
        self.built += other.built


def candidate_images(
    example: Example, family: dict[str, tuple[str, ...]]
) -> Iterator[tuple[dict[str, Any], Image.Image]]:
    """(parameters, image) for the example and, for a dihedral family parameter, each other value;
    an example with lettered markers once per letter assignment the writer could have planned."""
    for shown in lettered_variants(example):
        yield from _family_images(shown, family)


def _family_images(
    example: Example, family: dict[str, tuple[str, ...]]
) -> Iterator[tuple[dict[str, Any], Image.Image]]:
    chosen = dict(example.details.get("parameters", {}))
    chosen.pop("choices", None)  # the letter order is the writer's, not the image's
    image = Image.open(io.BytesIO(example.images[0]))
    last = example.transforms[-1] if example.transforms else {}
    for name, values in family.items():
        drawn = chosen.get(name)
        if last.get("name") == "dihedral" and last.get("params", {}).get("element") == drawn:
            base = apply(dihedral(dihedral_inverse(str(drawn))), np.asarray(image))
            for value in values:
                yield {**chosen, name: value}, Image.fromarray(apply(dihedral(value), base))
            return
    yield chosen, image


def _searched(run: RecipeRun, seed: int, item: SourceItem, example: Example, names: tuple[str, ...]) -> list[Example]:
    """The item built again with every other value of each searched parameter pinned (e.g. every
    CT slice, windowed and shown as the recipe shows its own), in this process so the volume
    is read once (`ItemContext.explore`)."""
    ranges = example.details.get("parameter_ranges", {})
    drawn = {k: v for k, v in example.details.get("parameters", {}).items() if k != "choices"}
    found = []
    for name in names:
        if name not in ranges or name not in drawn:
            continue
        for value in range(*ranges[name]):
            if value != drawn[name]:
                job = Job(run.ref, seed, pins={item.key: {"params": {**drawn, name: value}}}, explore=True)
                result = build_one(job, item)
                if isinstance(result, Example):
                    found.append(result)
    return found


def _signature(item: SourceItem) -> list[Any]:
    parts: list[Any] = []
    for rel in item.files:
        try:
            stat = (item.root / rel).stat()
        except OSError:
            return []
        parts.append([rel, stat.st_size, stat.st_mtime_ns])
    return parts


def _cache_paths(cache_dir: Path, run: RecipeRun, source: FolderSource, seed: int) -> tuple[Path, Path]:
    recipe = recipe_instance(run.ref)
    name = f"{recipe.name}-{recipe.version}-seed{seed}-{source.id}-{stable_hash(str(source.root.resolve()), length=8)}"
    return cache_dir / f"{name}.json", cache_dir / f"{name}.npz"


def build_index(
    run: RecipeRun,
    seed: int,
    cache_dir: Path | None,
    workers: int = 1,
    progress: Callable[[int], Any] | None = None,
) -> CandidateIndex:
    """The candidates of one recipe run over its sources, reusing cached fingerprints."""
    index = CandidateIndex()
    for source in run.sources:
        index.extend(_source_index(run, source, seed, cache_dir, workers, progress))
    return index


def _source_index(
    run: RecipeRun,
    source: FolderSource,
    seed: int,
    cache_dir: Path | None,
    workers: int,
    progress: Callable[[int], Any] | None,
) -> CandidateIndex:
    recipe = recipe_instance(run.ref)
    items = ordered_items([source], recipe.name, seed, recipe.select)
    cached: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    if cache_dir is not None:
        meta_path, npz_path = _cache_paths(cache_dir, run, source, seed)
        if meta_path.is_file() and npz_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                with np.load(npz_path) as npz:
                    arrays = {k: npz[k] for k in ("bits", "thumbs", "aspects")}
                if meta.get("format") == INDEX_FORMAT:
                    cached = meta["items"]
            except (OSError, ValueError, KeyError):
                cached = {}  # a damaged cache is rebuilt, never trusted
    index = CandidateIndex()
    rows: dict[str, list[tuple[Candidate, np.ndarray, np.ndarray, float]]] = {}
    todo: list[SourceItem] = []
    for item in items:
        index.items[item.key] = item
        index.recipe_of[item.key] = run
        entry = cached.get(item.key)
        if entry is not None and entry["signature"] == _signature(item) and arrays:
            index.reused += 1
            if entry.get("skipped"):
                index.skipped[item.key] = entry["skipped"]
            rows[item.key] = [
                (
                    Candidate(c["task"], item.key, c["params"]),
                    arrays["bits"][i],
                    arrays["thumbs"][i],
                    float(arrays["aspects"][i]),
                )
                for c, i in zip(entry["candidates"], entry["rows"], strict=True)
            ]
        else:
            todo.append(item)
    job = Job(run.ref, seed, explore=True)
    executor = make_executor("process", workers)
    try:
        for item, result in zip(todo, executor.map_ordered(functools.partial(build_one, job), iter(todo)), strict=True):
            index.built += 1
            if progress is not None:
                progress(1)
            if isinstance(result, Failed):
                raise BuildFailed(result.message, result.detail)
            if isinstance(result, Skipped):
                index.skipped[item.key] = result.reason
                rows[item.key] = []
                continue
            found = []
            for example in [result, *_searched(run, seed, item, result, recipe.align_search)]:
                for params, image in candidate_images(example, recipe.align_family):
                    fp = fingerprint(image)
                    canonical = json.loads(json.dumps(params, sort_keys=True))  # as the cache gives it back
                    found.append((Candidate(example.task, item.key, canonical), fp.bits, fp.thumb, fp.aspect))
            rows[item.key] = found
    finally:
        executor.close()
    flat = [(key, c) for key in (i.key for i in items) for c in rows.get(key, [])]
    index.candidates = [c[0] for _, c in flat]
    if flat:
        index.bits = np.stack([c[1] for _, c in flat])
        index.thumbs = np.stack([c[2] for _, c in flat])
        index.aspects = np.array([c[3] for _, c in flat], dtype=np.float32)
    if cache_dir is not None:
        _save(cache_dir, run, source, seed, items, index, flat)
    return index


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    return {"task": candidate.task, "params": candidate.params}


def _save(
    cache_dir: Path,
    run: RecipeRun,
    source: FolderSource,
    seed: int,
    items: list[SourceItem],
    index: CandidateIndex,
    flat: list[tuple[str, tuple[Candidate, np.ndarray, np.ndarray, float]]],
) -> None:
    meta_path, npz_path = _cache_paths(cache_dir, run, source, seed)
    positions: dict[str, list[int]] = {}
    for i, (key, _) in enumerate(flat):
        positions.setdefault(key, []).append(i)
    meta = {
        "format": INDEX_FORMAT,
        "items": {
            item.key: {
                "signature": _signature(item),
                "skipped": index.skipped.get(item.key),
                "rows": positions.get(item.key, []),
                "candidates": [_candidate_json(flat[i][1][0]) for i in positions.get(item.key, [])],
            }
            for item in items
        },
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = npz_path.with_name(npz_path.stem + ".partial.npz")
        np.savez(tmp, bits=index.bits, thumbs=index.thumbs, aspects=index.aspects)
        tmp.replace(npz_path)
        meta_tmp = meta_path.with_name(meta_path.name + ".partial")
        meta_tmp.write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        meta_tmp.replace(meta_path)
    except OSError as exc:
        raise OutputError(f"{cache_dir}: cannot write the align cache: {exc.strerror or exc}") from exc
