"""Imaging orientation: how has an X-ray been rotated from its standard display?

Configs `imaging_orientation_cxr` (chest) and `imaging_orientation_pelvic` (pelvis). Each image is
first brought to the standard display of a frontal radiograph (head up, patient's right on the
viewer's left) from its DICOM PatientOrientation (or a labels.csv `orientation`), then rotated by
one of the four rotations of the square, drawn from the item's seeded generator. The answer is
the rotation that was applied.

Why rotations only, not the whole dihedral group: a left-right mirror of a pelvis is not visible
without a side marker, and of a chest only through the side of the heart (and situs inversus
exists), so mirrored choices would test anatomy knowledge or luck rather than perception.
"""

from __future__ import annotations

from typing import ClassVar

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.geometry import FRONTAL_DISPLAY, FRONTAL_VIEWS, GeometryError, parse_patient_orientation, to_display
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.transforms import Transform, apply, dihedral, resize_to_fit

#: Output images are resized (Lanczos) so the longer side is at most this many pixels.
MAX_SIDE = 1024

#: The rotations asked about, with the choice text for each (clockwise as seen on screen).
ROTATIONS: dict[str, str] = {
    "identity": "Upright: shown in the standard orientation",
    "rot90cw": "Rotated 90 degrees clockwise",
    "rot180": "Upside down: rotated 180 degrees",
    "rot90ccw": "Rotated 90 degrees counter-clockwise",
}

#: Anatomy words (labels.csv `anatomy` or DICOM BodyPartExamined) to task ids.
TASK_BY_ANATOMY = {
    "chest": "imaging_orientation_cxr",
    "pelvis": "imaging_orientation_pelvic",
    "hip": "imaging_orientation_pelvic",
}

QUESTION = (
    "This {noun} may have been rotated after acquisition. Relative to the standard radiographic "
    "display (patient's head at the top), how is the image shown?"
)
NOUNS = {"imaging_orientation_cxr": "chest X-ray", "imaging_orientation_pelvic": "pelvic X-ray"}


class Orientation(Recipe):
    name = "orientation"
    version = "1.1.0"  # 1.1.0: only human projection X-rays (Modality, SOP class, species checked)
    description = (
        "Each frontal radiograph is canonicalised to the standard display from its DICOM "
        "PatientOrientation (or a labels.csv `orientation`; when neither exists the source's stored "
        "display is taken as standard and provenance says so), then rotated by 0, 90, 180 or 270 "
        "degrees chosen by a generator seeded with (seed, task, item key). The label is that rotation. "
        f"Images are resized to at most {MAX_SIDE} px on the longer side. Lateral and other non-frontal "
        "views, and images whose anatomy is neither chest nor pelvis, are skipped with a reason."
    )
    tasks = (
        TaskInfo(
            "imaging_orientation_cxr",
            "X-ray",
            "chest",
            "Orientation of a frontal chest radiograph after a seeded rotation.",
            QUESTION.format(noun="chest X-ray"),
        ),
        TaskInfo(
            "imaging_orientation_pelvic",
            "X-ray",
            "pelvis",
            "Orientation of an AP pelvic radiograph after a seeded rotation.",
            QUESTION.format(noun="pelvic X-ray"),
        ),
    )
    sample_sources = ("medblink-sample-xray",)
    accepts = Accepts({"xray"}, human=True)
    align_family: ClassVar[dict[str, tuple[str, ...]]] = {"rotation": tuple(ROTATIONS)}

    def select(self, items):  # type: ignore[no-untyped-def]
        for item in items:
            anatomy = item.metadata.get("anatomy", "").lower()
            if anatomy and anatomy not in TASK_BY_ANATOMY:
                continue  # a source that says what it is, and it is not ours: not even a skip
            yield item

    def filter_reason(self, item: SourceItem) -> str:
        return "not_this_recipe_anatomy"

    def expected_task(self, item: SourceItem) -> str | None:
        """From the anatomy a labels table or the manifest states; None when only the file can tell."""
        return TASK_BY_ANATOMY.get(item.metadata.get("anatomy", "").lower())

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        image = ctx.read_image()
        geometry = image.geometry
        anatomy = (item.metadata.get("anatomy") or geometry.body_part or "").lower()
        task = TASK_BY_ANATOMY.get(anatomy)
        stated, body = item.metadata.get("anatomy", "").lower(), (geometry.body_part or "").lower()
        if stated and TASK_BY_ANATOMY.get(body, task) != task:
            raise SkipItem("metadata_conflict", f"metadata anatomy {stated!r}, DICOM BodyPartExamined {body.upper()}")
        if task is None:
            raise SkipItem("anatomy_unknown", f"anatomy {anatomy or 'not stated'!r} is not chest or pelvis")
        view = (geometry.view_position or item.metadata.get("view") or "").upper()
        if view and view not in FRONTAL_VIEWS:
            raise SkipItem("not_frontal_view", f"view position {view} is not PA or AP")

        transforms: list[Transform] = []
        canonical = "identity"
        stored = geometry.patient_orientation
        evidence = "DICOM PatientOrientation"
        if stored is None and item.metadata.get("orientation"):
            try:
                stored = parse_patient_orientation(item.metadata["orientation"])
            except GeometryError as exc:
                raise SkipItem("orientation_malformed", str(exc)) from None
            evidence = "labels.csv orientation"
        if stored is None:
            evidence = "none: the source's stored display was taken as standard"
        else:
            try:
                canonical = to_display(stored, FRONTAL_DISPLAY)
            except GeometryError as exc:
                raise SkipItem("orientation_not_frontal", str(exc)) from None
            if canonical != "identity":
                transforms.append(dihedral(canonical))

        resize = resize_to_fit(image.pixels.shape, MAX_SIDE)
        if resize is not None:
            transforms.append(resize)
        rotation = ctx.choice(
            "rotation", lambda: list(ROTATIONS)[int(ctx.rng(task).integers(len(ROTATIONS)))], ROTATIONS
        )
        transforms.append(dihedral(rotation))

        pixels = image.pixels
        for t in transforms:
            pixels = apply(t, pixels)

        choices = tuple(ROTATIONS.values())
        return Example(
            task=task,
            key=item.key,
            images=[png_bytes(pixels)],
            question=Question(QUESTION.format(noun=NOUNS[task]), choices, list(ROTATIONS).index(rotation)),
            label={
                "rotation": rotation,
                "answer_text": ROTATIONS[rotation],
                "stored_orientation": list(stored) if stored else None,
                "canonicalised_by": canonical,
                "view_position": view or None,
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"Upright display established from {evidence}; the recipe then applied the seeded "
                f"rotation '{rotation}' (last transform), so the answer is '{ROTATIONS[rotation]}'."
            ),
            details={"decode": image.decode, "geometry": geometry.to_json()},
            modality="X-ray",
            anatomy="chest" if task.endswith("cxr") else "pelvis",
        )
