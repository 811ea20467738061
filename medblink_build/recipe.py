"""The recipe contract: what a task declares, and the two things it does.

A recipe is a class with its task metadata on it (name, version, tasks, sample source) and two
methods: `select` (which source items it can use, cheap) and `build` (one item -> one Example, or
`SkipItem` with a reason). Everything else - reading inputs with digests, seeding, letters,
writing, parallelism - is the toolkit's, so a new task is one small file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from .fsnames import display_name, read_regular
from .hashing import background_digests, sha256_bytes
from .model import DisplayImage, Example, InputFile, SourceItem, Subject
from .seeding import rng_for
from .subject import Accepts, check_subject
from .volume import Volume

T = TypeVar("T")


@dataclass(frozen=True)
class TaskInfo:
    """One output config (a MedBLINK task id) and what the card says about it."""

    task_id: str
    modality: str
    anatomy: str
    description: str
    question: str  # the question template, as asked
    answer_type: str = "multiple choice"


class Param(NamedTuple):
    """A recipe parameter (`Recipe.params`): its type, default (None: not set) and help text.

    `--param NAME=VALUE` is converted with `type` before the build; unknown names and values the
    type refuses stop the build with the valid names listed."""

    type: type
    default: Any
    help: str


class ItemContext:
    """What `Recipe.build` gets besides the item: seeded generators and digest-recording reads."""

    def __init__(
        self,
        item: SourceItem,
        seed: int,
        params: dict[str, Any],
        accepts: Accepts | None = None,
        pinned: dict[str, Any] | None = None,
        explore: bool = False,
    ) -> None:
        self.item = item
        self.seed = seed
        self.params = params
        self.accepts = accepts
        self.pinned: dict[str, Any] = dict(pinned or {})  # parameter name -> value a release pins
        self.chosen: dict[str, Any] = {}  # parameter name -> value used (recorded in provenance)
        self.ranges: dict[str, list[int]] = {}  # parameter name -> [start, stop) of an integer choice
        self.explore = explore  # `align` runs one item with many pinned values: keep its last volume
        self.inputs: list[InputFile] = []
        self.headers: dict[Path, Any] = {}  # DICOM headers the readers parsed (the privacy gate reuses them)
        self._empty_volumes: Any = None  # readers.volume_nifti.EmptyVolumes, made at the first NIfTI read

    def check_subject(self, subject: Subject, index: int = 0) -> None:
        """SkipItem unless what input `index` states (modality, SOP class, species) fits the recipe's
        `accepts` and agrees with the item's metadata. `read_image` and `read_volume` call it; a
        recipe that reads through another reader calls it with what that reader returned."""
        check_subject(self.accepts, self.item.metadata, subject, self.item.shown_name(index))

    def rng(self, task: str) -> np.random.Generator:
        """The generator for this item in `task`, seeded by (seed, task, item key)."""
        return rng_for(self.seed, task, self.item.key)

    def _check_header(self, index: int, path: Path, data: bytes) -> None:
        if self.accepts is not None:
            from .readers.dicom_image import read_subject

            subject, header = read_subject(path, data)
            if header is not None:
                self.headers.setdefault(path, header)
            if subject is not None:
                self.check_subject(subject, index)

    def choice(self, name: str, draw: Callable[[], T], allowed: Collection[Any] | None = None) -> T:
        """A parameter the recipe draws (rotation, view transform, slice, markers, ...): the value a
        pinned release gives for `name`, else `draw()`. Either way it is recorded under `name` in
        the row's provenance (`parameters`), so a release can be pinned from its own rows.

        A pinned value replaces the draw, which is then not run: pin all of an item's parameters
        (as `align` does), since later draws would otherwise come from a generator in another
        state. Values are JSON-like (str, int, float, bool, lists, dicts of them); a pinned value
        outside `allowed` is an error naming the valid ones.
        """
        from .errors import RecipeError

        if isinstance(allowed, range):
            self.ranges[name] = [allowed.start, allowed.stop]
        if name in self.pinned:
            value = self.pinned[name]
            if allowed is not None and value not in allowed:
                valid = ", ".join(map(str, allowed))
                raise RecipeError(f"item {self.item.key}: pinned {name} {value!r} is not one of {valid}")
        else:
            value = draw()
        self.chosen[name] = value
        return value  # type: ignore[no-any-return]

    def read_bytes(self, index: int = 0) -> tuple[Path, bytes]:
        """Read input file `index` once, recording its sha256 for provenance."""
        path, data = self._read_raw(index)
        self._add_input(index, sha256_bytes(data))
        return path, data

    def _read_raw(self, index: int) -> tuple[Path, bytes]:
        from .errors import ReaderError

        path = self.item.path(index)
        try:
            return path, read_regular(path)
        except OSError as exc:
            raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc

    def _add_input(self, index: int, digest: str) -> None:
        self.inputs.append(InputFile(self.item.source_id, display_name(self.item.shown_name(index)), digest))

    def read_volume(self, index: int | None = None) -> Volume:
        """Read input `index` as a volume file, or (no index) all the item's files as one volume,
        e.g. the slices of a DICOM series. Every file's digest is recorded.

        DICOM files are streamed: each is read once, hashed and parsed from the same bytes, and
        decoded into the volume before the next is read; their headers stay in `headers`.
        NIfTI files are read once too (hashed and parsed from the same bytes); NRRD/MHA files are
        hashed, then read again by SimpleITK, which takes paths.
        """
        from .readers import VOLUME_SUFFIXES, read_volume

        indices = range(len(self.item.files)) if index is None else [index]
        memo_key = self._memo_key(indices) if self.explore else None
        if memo_key is not None and memo_key in _VOLUME_MEMO:
            volume, inputs = _VOLUME_MEMO[memo_key]
            self.inputs.extend(inputs)
            return volume
        if index is not None and self.item.files[index].lower().endswith((".nii.gz", ".nii")):
            return self._read_nifti(index, memo_key)
        before = len(self.inputs)
        paths = [self.item.path(i) for i in indices]
        volume_files = {i for i in indices if self.item.files[i].lower().endswith(VOLUME_SUFFIXES)}
        dicom = {path: i for path, i in zip(paths, indices, strict=True) if i not in volume_files}
        for i in sorted(volume_files):
            self.record(i)

        read_order: list[int] = []

        def read(path: Path) -> bytes:  # DICOM files: hashed and parsed from the same bytes, one at a time
            i = dicom[path]
            _, raw = self._read_raw(i)
            digests.add(raw)  # in a thread, while the file is parsed and decoded
            read_order.append(i)
            if len(read_order) == 1:  # the first file's header: refuse other modalities before decoding
                self._check_header(i, path, raw)
            return raw

        with background_digests() as digests:
            volume = read_volume(paths, read if dicom else None, self.headers)
            for i, digest in zip(read_order, digests.digests(), strict=True):
                self._add_input(i, digest)
        self.check_subject(volume.subject, indices[0])
        if memo_key is not None:
            _VOLUME_MEMO.clear()
            _VOLUME_MEMO[memo_key] = (volume, self.inputs[before:])
        return volume

    def _read_nifti(self, index: int, memo_key: tuple[Any, ...] | None) -> Volume:
        """A .nii/.nii.gz input, read once: its digest and nibabel's parse come from the same bytes.
        An all-zero volume whose bytes were already decoded in this item (TotalSegmentator's empty
        masks) is not decoded again."""
        from .readers.volume_nifti import EmptyVolumes, read_nifti

        path, data = self.read_bytes(index)
        if self._empty_volumes is None:
            self._empty_volumes = EmptyVolumes()
        digest = self.inputs[-1].sha256
        volume = self._empty_volumes.get(digest)  # an empty mask met before in this item: not decoded again
        if volume is None:
            volume = read_nifti(path, data)
            self._empty_volumes.add(digest, volume)
        self.check_subject(volume.subject, index)
        if memo_key is not None:
            _VOLUME_MEMO.clear()
            _VOLUME_MEMO[memo_key] = (volume, self.inputs[-1:])
        return volume

    def _memo_key(self, indices: Iterable[int]) -> tuple[Any, ...] | None:
        try:
            return tuple((str(self.item.path(i)), *_stat(self.item.path(i))) for i in indices)
        except OSError:
            return None

    def record(self, index: int) -> None:
        """Record the digest of input `index` without keeping its bytes (for readers that take paths)."""
        from .errors import ReaderError
        from .hashing import sha256_file

        path = self.item.path(index)
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
        self.inputs.append(InputFile(self.item.source_id, display_name(self.item.shown_name(index)), digest))

    def read_image(self, index: int = 0, *, frame: int | None = None, burned_in: str = "skip") -> DisplayImage:
        """Read and decode input `index` as a 2-D display image (one read, digest recorded).

        An image whose header says BurnedInAnnotation = YES may carry identifying text in its
        pixels: it is skipped (`burned_in_annotation`) unless the recipe passes burned_in="keep"
        because it crops to a region that excludes such text (and records that it did). A
        degenerate image (tiny, a strip, constant) is skipped (`degenerate_image`).
        """
        from .readers import read_image

        path, data = self.read_bytes(index)
        self._check_header(index, path, data)
        image = read_image(path, data, frame=frame)
        self.check_subject(image.subject, index)
        if image.geometry.burned_in_annotation == "YES" and burned_in != "keep":
            from .errors import SkipItem

            raise SkipItem("burned_in_annotation", f"{self.item.shown_name(index)}: BurnedInAnnotation = YES")
        self.check_image(image.pixels, index)
        return image

    def check_image(self, pixels: np.ndarray, index: int = 0) -> None:
        """Skip (`degenerate_image`) an image too small, a strip or (nearly) constant: see
        `readers.degenerate`. `read_image` calls it; recipes that decode otherwise call it too."""
        from .readers.degenerate import degenerate_reason

        reason = degenerate_reason(pixels)
        if reason is not None:
            from .errors import SkipItem

            raise SkipItem("degenerate_image", f"{self.item.shown_name(index)}: {reason}")


#: The last volume an exploring context read (one per process), with the inputs it recorded.
_VOLUME_MEMO: dict[tuple[Any, ...], tuple[Volume, list[InputFile]]] = {}


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class Recipe:
    """Base class of every recipe. Subclasses set the class attributes and implement `build`."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    tasks: ClassVar[tuple[TaskInfo, ...]]
    sample_sources: ClassVar[tuple[str, ...]] = ()
    #: The modalities the task means and whether it needs a human subject (`subject.py`); None
    #: checks nothing (plugins written before the check existed).
    accepts: ClassVar[Accepts | None] = None
    params: ClassVar[dict[str, Param]] = {}  # the parameters `ctx.params` may hold, by name
    release_notes: ClassVar[dict[str, str]] = {}
    #: Parameters applied as the image's last (dihedral) transform, with every value they take:
    #: `align` renders each value from one build (e.g. {"rotation": ("identity", "rot90cw", ...)}).
    align_family: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: The parameter holding drawn markers ([{x, y, letter}]), which `align` recovers from an image.
    align_markers: ClassVar[str | None] = None
    #: Parameters that change only the question text, with every value (e.g. {"ask": (...)}):
    #: `align` tries each when the published question is not the one the draw gives.
    align_question_family: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Integer parameters drawn from a range (`ctx.choice(..., allowed=range(...))`) whose every
    #: value `align` renders, e.g. enhancement's `slice_index` (the CT slice is searched).
    align_search: ClassVar[tuple[str, ...]] = ()

    def task(self, task_id: str) -> TaskInfo:
        for info in self.tasks:
            if info.task_id == task_id:
                return info
        raise KeyError(task_id)

    def select(self, items: Iterable[SourceItem]) -> Iterable[SourceItem]:
        """The items this recipe can try; the default takes all. Must not read pixel data.

        Items left out are recorded as filtered with `filter_reason(item)`; items whose metadata
        states another modality are filtered before `select` sees them (`accepts`).
        """
        return items

    def filter_reason(self, item: SourceItem) -> str:
        """Why `select` left `item` out, for the build's accounting (a short snake_case reason)."""
        return "not_selected"

    def expected_task(self, item: SourceItem) -> str | None:
        """The task `item` will feed, if metadata alone tells (no file reads); None when unknown.

        Lets a limited build skip items of full tasks and stop early. It must never be wrong: a
        build fails if `build` then makes an example for another task. One-task recipes know.
        """
        return self.tasks[0].task_id if len(self.tasks) == 1 else None

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:  # pragma: no cover - abstract
        raise NotImplementedError
