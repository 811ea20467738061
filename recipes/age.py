"""Age estimation: which age group does the patient in this X-ray belong to?

Config `age_estimation`. The age comes from metadata, never from the pixels, in this order:

1. the item's metadata table: `age` in years (e.g. NIH ChestX-ray14 `Patient Age`; a DICOM Age
   String there is read as one), else `bone_age_months` (RSNA Pediatric Bone Age `boneage`: a
   skeletal age read by radiologists, recorded as such in the label);
2. DICOM PatientAge (Age String nnnD/W/M/Y);
3. DICOM PatientBirthDate with StudyDate (age at the study, to the day).

When PatientAge and the dates are both present and disagree by more than a year, the item is
skipped (`age_conflict`). A recorded value stands for an interval (nnnY: nnn to under nnn+1 years);
the group is the bin holding the whole interval, and items whose interval comes within
`MARGIN_YEARS` of a bin boundary are skipped (`age_near_boundary`), so the answer is never a
coin flip on a birthday. Bins (years): child 0-12, adolescent 13-17, adult 18-64, older adult 65+.
With integer years and a 1-year margin, ages 12-13, 17-18 and 64-65 are therefore skipped.
Ages below 0 or above 120 years are skipped (`age_implausible`); malformed values are skipped
(`age_malformed`) with the problem named, never the value; files whose DICOM Modality or
Secondary Capture SOP class is not a projection X-ray are skipped (`wrong_modality`), and
non-human subjects (PatientSpeciesDescription / code, or a `species` column) as `non_human_subject`.

Privacy: the age, birth date and study date never reach the output. The label keeps the group,
the evidence kind and the bins; provenance holds only decode and geometry facts; skip details
name the problem but not the value, and not which boundary an age was near. Item keys are the
source's own relative paths: a source whose file names encode the age would expose it through row
ids and provenance, so such a source needs renaming first (none of the age sources here does).

The four groups are given with `shuffle=True`: the writer places the correct group at a letter
planned per config, so letters are balanced whatever the age distribution of the source (adult
chest X-rays would otherwise make one letter the answer most of the time), at the cost of the
groups not always being listed in age order.
"""

from __future__ import annotations

import warnings
from typing import Any

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.readers.dicom_image import read_dicom_header
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.age import AgeFormatError, AgeValue, age_from_dates, parse_age_number, parse_age_string
from medblink_build.transforms import Transform, apply, resize_to_fit

TASK = "age_estimation"

#: Output images are resized (Lanczos) so the longer side is at most this many pixels.
MAX_SIDE = 1024
#: Recorded ages below 0 or above this many years are implausible (skipped).
MAX_PLAUSIBLE_AGE = 120.0
#: (id, choice text, lower bound inclusive, upper bound exclusive), in years.
BINS: tuple[tuple[str, str, float, float], ...] = (
    ("child", "Child (0-12 years)", 0.0, 13.0),
    ("adolescent", "Adolescent (13-17 years)", 13.0, 18.0),
    ("adult", "Adult (18-64 years)", 18.0, 65.0),
    ("older_adult", "Older adult (65 years or older)", 65.0, MAX_PLAUSIBLE_AGE + 1.0),
)
BOUNDARIES = tuple(b[2] for b in BINS[1:])
#: Items whose recorded age interval comes closer than this to a bin boundary are skipped.
MARGIN_YEARS = 1.0
#: PatientAge and the birth/study dates may differ by this much before the item is skipped.
CONFLICT_YEARS = 1.0

QUESTION = "Based on this X-ray, which age group does the patient belong to?"


def age_group(value: AgeValue) -> str:
    """The bin id holding the whole interval of `value`, or SkipItem (implausible / near a boundary)."""
    if value.low < 0 or value.low > MAX_PLAUSIBLE_AGE:
        raise SkipItem("age_implausible", f"the recorded age is outside 0-{MAX_PLAUSIBLE_AGE:.0f} years")
    high = max(value.high, value.low)
    for boundary in BOUNDARIES:
        if value.low < boundary + MARGIN_YEARS and high > boundary - MARGIN_YEARS:
            raise SkipItem("age_near_boundary", f"the recorded age is within {MARGIN_YEARS:g} year of a bin boundary")
    for bin_id, _text, low, high_bound in BINS:
        if low <= value.low < high_bound:
            return bin_id
    raise AssertionError("bins cover 0..MAX_PLAUSIBLE_AGE")  # pragma: no cover


def _tag(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _gap(a: AgeValue, b: AgeValue) -> float:
    """Distance in years between two age intervals (0 when they overlap)."""
    return max(0.0, max(a.low, b.low) - min(max(a.high, a.low), max(b.high, b.low)))


def age_from_dicom(ds: Any) -> tuple[AgeValue, str]:
    """(age, evidence) from a DICOM header, or SkipItem."""
    patient_age = _tag(ds, "PatientAge")
    birth, study = _tag(ds, "PatientBirthDate"), _tag(ds, "StudyDate")
    try:
        stated = parse_age_string(patient_age) if patient_age else None
        dated = age_from_dates(birth, study) if birth and study else None
    except AgeFormatError as exc:
        raise SkipItem("age_malformed", str(exc)) from None
    if stated is not None and dated is not None:
        if _gap(stated, dated) > CONFLICT_YEARS:
            raise SkipItem(
                "age_conflict",
                f"PatientAge and the age from PatientBirthDate/StudyDate differ by more than {CONFLICT_YEARS:g} year",
            )
        return stated, "DICOM PatientAge (consistent with PatientBirthDate and StudyDate)"
    if stated is not None:
        return stated, "DICOM PatientAge"
    if dated is not None:
        return dated, "DICOM PatientBirthDate and StudyDate"
    if birth or study:
        present = "PatientBirthDate" if birth else "StudyDate"
        raise SkipItem("no_age", f"no PatientAge, and {present} without the other date")
    raise SkipItem("no_age", "no age in the metadata table and no PatientAge or PatientBirthDate/StudyDate")


class Age(Recipe):
    name = "age"
    version = "1.1.0"  # 1.1.0: modality and species through Recipe.accepts (wrong_modality, non_human_subject)
    description = (
        "The age group comes from metadata: a table column (`age` in years, e.g. NIH ChestX-ray14 Patient Age; "
        "else `bone_age_months`, e.g. RSNA Bone Age, a skeletal age), else DICOM PatientAge (nnnD/W/M/Y), else "
        "PatientBirthDate with StudyDate (PatientAge and dates that disagree by more than a year are skipped). "
        "Bins: child 0-12, adolescent 13-17, adult 18-64, older adult 65+ years. A recorded value stands for an "
        "interval (nnnY = nnn to under nnn+1 years); items whose interval comes within 1 year of a boundary (13, 18, "
        "65) are skipped, so with whole years ages 12-13, 17-18 and 64-65 never appear. Ages outside 0-120 years, "
        "malformed values and non-X-ray DICOM modalities are skipped with a reason that never repeats the value. "
        "Neither the age nor any date is written to the output: the label holds the group only. The groups are "
        "shuffled and the correct one placed by the writer's balanced letter plan (so letters are balanced, "
        f"groups not always in age order). Images are resized to at most {MAX_SIDE} px on the longer side."
    )
    tasks = (
        TaskInfo(
            TASK,
            "X-ray",
            "chest",
            "The patient's age group (child, adolescent, adult, older adult) from a radiograph; truth from metadata.",
            QUESTION,
        ),
    )
    sample_sources = ("medblink-sample-age",)
    #: Projection radiography and fluoroscopy; Modality OT or none is taken on the source's word.
    accepts = Accepts({"xray", "fluoroscopy"}, human=True)

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        # Modality, SOP class and species are checked there (accepts), as is BurnedInAnnotation = YES.
        image = ctx.read_image(0)
        ds = None
        if image.decode.get("format") == "DICOM":
            with warnings.catch_warnings():  # malformed values are reported by this recipe, not pydicom
                warnings.simplefilter("ignore")
                ds = read_dicom_header(item.path(0), pixels=False)

        kind = "chronological"
        try:
            if item.metadata.get("age", "").strip():
                value, evidence = parse_age_number(item.metadata["age"], "metadata column age"), "metadata column age"
            elif item.metadata.get("bone_age_months", "").strip():
                value = parse_age_number(item.metadata["bone_age_months"], "metadata column bone_age_months", "months")
                evidence, kind = "metadata column bone_age_months", "bone age (skeletal maturity read by radiologists)"
            elif ds is not None:
                value, evidence = age_from_dicom(ds)
            else:
                raise SkipItem("no_age", "no age column in the metadata and the file is not DICOM")
        except AgeFormatError as exc:
            raise SkipItem("age_malformed", str(exc)) from None
        group = age_group(value)

        transforms: list[Transform] = []
        resize = resize_to_fit(image.pixels.shape, MAX_SIDE)
        if resize is not None:
            transforms.append(resize)
        pixels = image.pixels
        for t in transforms:
            pixels = apply(t, pixels)

        ids = [b[0] for b in BINS]
        texts = {b[0]: b[1] for b in BINS}
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=Question(QUESTION, tuple(texts.values()), ids.index(group), shuffle=True),
            label={
                "age_group": group,
                "answer_text": texts[group],
                "age_kind": kind,
                "evidence": evidence,
                "bins_years": {b[0]: [b[2], None if b[0] == "older_adult" else b[3]] for b in BINS},
                "boundary_margin_years": MARGIN_YEARS,
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=(
                f"Age group from {evidence}: the recorded age lies in '{texts[group]}' at least "
                f"{MARGIN_YEARS:g} year from every bin boundary. The age itself is not recorded here."
            ),
            details={"decode": image.decode, "geometry": image.geometry.to_json()},
            modality="X-ray",
            anatomy=(item.metadata.get("anatomy") or image.geometry.body_part or "unknown").lower(),
        )
