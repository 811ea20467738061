"""Contrast-enhancement detection: was this CT acquired with intravenous contrast?

Config `image_enhancement_detection`. The label comes from evidence, in this order:

1. a labels table shipped with the source (the item's `contrast` metadata, e.g. the
   `Contrast` column of the Kaggle/TCIA overview.csv: 1/0, yes/no, true/false);
2. DICOM tags read by the series reader: ContrastBolusAgent (a non-empty agent that is not a
   negation such as "NONE"), ContrastBolusRoute, ContrastBolusStartTime;
3. contrast-phase wording in SeriesDescription ("non-contrast", "w/o", "arterial", "portal venous", ...).

An empty or missing tag is *no evidence*, not "non-contrast". An item with no evidence is skipped
(`no_contrast_evidence`); evidence that disagrees is skipped (`conflicting_contrast_evidence`).

The slice shown does not depend on the label: for a volume, the axial slice in the central 60 %
of the scan with the largest area of soft tissue (-100..300 HU) inside the body, i.e. the
mid-abdomen/mediastinum level where enhancing vessels and organs are seen; a single-slice source
shows its slice. Soft-tissue window W400/L40, square pixels.
"""

from __future__ import annotations

import re

import numpy as np

from medblink_build.ct_windows import ct_window
from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.transforms import Transform, apply
from medblink_build.volume import Volume

TASK = "image_enhancement_detection"
WINDOW = "soft_tissue"
CENTRAL_FRACTION = 0.6

QUESTION = "Was this CT image acquired after intravenous contrast administration?"
CHOICES = ("Yes: contrast-enhanced", "No: non-contrast")

#: Sources that label phases (manifest default or labels.csv `phase_labels = yes`) get this
#: question for every item, non-contrast ones included, so the question never hints at the answer.
PHASE_QUESTION = "In which contrast phase was this CT image acquired?"
PHASES: dict[str, str] = {
    "non_contrast": "Non-contrast (no intravenous contrast)",
    "arterial": "Arterial phase",
    "portal_venous": "Portal venous phase",
    "delayed": "Delayed phase",
}

_TRUE = {"1", "yes", "y", "true", "t", "contrast", "enhanced", "with"}
_FALSE = {"0", "no", "n", "false", "f", "none", "non-contrast", "without"}
_NEGATED_AGENT = re.compile(r"^\s*(none|no|n/?a|nil|-+|0)\s*$", re.IGNORECASE)
_NON_CONTRAST_WORDS = re.compile(
    r"\b(non[-\s]?con(trast)?|w/?o\s*(contrast|con|iv)?|without\s+contrast|pre[-\s]?con(trast)?|plain|native|unenhanced)\b",
    re.IGNORECASE,
)
_PHASE_WORDS = {
    "arterial": re.compile(r"\b(arterial|art\.?|angio|cta)\b", re.IGNORECASE),
    "portal_venous": re.compile(r"\b(portal|pv|venous|ven\.?)\b", re.IGNORECASE),
    "delayed": re.compile(r"\b(delayed|delay|excretory|urographic|nephrographic)\b", re.IGNORECASE),
    "contrast_unspecified": re.compile(
        r"(\bw/\s*(contrast|con|iv)\b|\bwith\s+contrast\b|\bpost[-\s]?con|\bc\+|\+c\b)", re.IGNORECASE
    ),
}


def evidence_from_table(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise SkipItem("contrast_label_malformed", f"labels table contrast value {value!r} is neither yes nor no")


def evidence_from_tags(meta: dict[str, object]) -> tuple[bool | None, str | None, list[str]]:
    """(contrast?, phase, reasons) from DICOM tags; None when the tags say nothing."""
    reasons: list[str] = []
    votes: set[bool] = set()
    phase = None
    agent = meta.get("ContrastBolusAgent")
    if isinstance(agent, str) and agent.strip():
        if _NEGATED_AGENT.match(agent):
            votes.add(False)
            reasons.append(f"ContrastBolusAgent={agent.strip()!r} (a negation)")
        else:
            votes.add(True)
            reasons.append(f"ContrastBolusAgent={agent.strip()!r}")
    for keyword in ("ContrastBolusRoute", "ContrastBolusStartTime"):
        value = meta.get(keyword)
        if isinstance(value, str) and value.strip():
            votes.add(True)
            reasons.append(f"{keyword}={value.strip()!r}")
    description = meta.get("SeriesDescription")
    if isinstance(description, str) and description.strip():
        if _NON_CONTRAST_WORDS.search(description):
            votes.add(False)
            reasons.append(f"SeriesDescription {description.strip()!r} says non-contrast")
        else:
            for name, pattern in _PHASE_WORDS.items():
                if pattern.search(description):
                    votes.add(True)
                    phase = name if name != "contrast_unspecified" else None
                    reasons.append(f"SeriesDescription {description.strip()!r} names a contrast phase")
                    break
    if len(votes) > 1:
        raise SkipItem("conflicting_contrast_evidence", "; ".join(reasons))
    return (votes.pop() if votes else None), phase, reasons


def representative_slice(volume: Volume) -> int:
    """The label-independent slice choice described in the module docstring."""
    depth = volume.shape[0]
    if depth == 1:
        return 0
    lo = int(np.floor(depth * (1 - CENTRAL_FRACTION) / 2))
    hi = max(lo + 1, int(np.ceil(depth * (1 + CENTRAL_FRACTION) / 2)))
    soft = (volume.data[lo:hi] > -100) & (volume.data[lo:hi] < 300)
    areas = soft.reshape(hi - lo, -1).sum(axis=1)
    return lo + int(np.argmax(areas))


class Enhancement(Recipe):
    name = "enhancement"
    version = "1.1.0"  # 1.1.0: the phase question for sources that label phases
    description = (
        "The label is taken from evidence in order: the source's labels table (e.g. a Contrast column), "
        "then DICOM ContrastBolusAgent/Route/StartTime, then contrast-phase wording in SeriesDescription. "
        "Empty or missing tags are no evidence: such series are skipped, as are series whose evidence "
        "conflicts. The slice shown is chosen without looking at the label (largest soft-tissue area in "
        "the central 60 % of the scan), soft-tissue window W400/L40. For sources that label contrast "
        "phases (phase_labels = yes) every item is asked its phase instead (non-contrast, arterial, portal "
        "venous, delayed), from a labels-table `phase` column or SeriesDescription wording; a contrast "
        "series whose phase is not stated is skipped."
    )
    tasks = (TaskInfo(TASK, "CT", "abdomen", "Whether a CT slice was acquired with IV contrast.", QUESTION),)
    sample_sources = ("medblink-sample-ct-series",)
    align_search = ("slice_index",)

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        table = evidence_from_table(item.metadata.get("contrast"))
        volume = ctx.read_volume()
        tags, phase, reasons = evidence_from_tags(volume.meta)
        if table is not None and tags is not None and table != tags:
            raise SkipItem("conflicting_contrast_evidence", f"labels table says {table}, tags: {'; '.join(reasons)}")
        contrast = table if table is not None else tags
        if contrast is None:
            raise SkipItem("no_contrast_evidence", "no labels-table value and no informative contrast tag")
        evidence = "labels table contrast column" if table is not None else "; ".join(reasons)

        phase_labelled = item.metadata.get("phase_labels", "").strip().lower() in _TRUE
        if phase_labelled:
            stated = (item.metadata.get("phase") or "").strip().lower().replace(" ", "_") or None
            phase = stated or phase
            if not contrast:
                phase = "non_contrast"
            if phase not in PHASES or (contrast and phase == "non_contrast"):
                raise SkipItem("phase_unknown", f"contrast series without a stated phase ({evidence})")
            choices = tuple(PHASES.values())
            question = Question(PHASE_QUESTION, choices, list(PHASES).index(phase))
        else:
            question = Question(QUESTION, CHOICES, 0 if contrast else 1)

        k = ctx.choice("slice_index", lambda: representative_slice(volume), range(volume.shape[0]))
        hu = volume.data[k]
        transforms: list[Transform] = [ct_window(WINDOW)]
        sy, sx = volume.spacing[1], volume.spacing[2]
        if abs(sy - sx) > 1e-6:
            h, w = hu.shape
            size = [w, round(h * sy / sx)] if sy > sx else [round(w * sx / sy), h]
            transforms.append(Transform("resize", {"size": size, "filter": "lanczos"}))
        pixels = hu
        for t in transforms:
            pixels = apply(t, pixels)
        return Example(
            task=TASK,
            key=item.key,
            images=[png_bytes(pixels)],
            question=question,
            label={
                "contrast": contrast,
                "phase": phase if contrast else "non_contrast",
                "slice_index": k,
                "evidence": evidence,
                "question": "phase" if phase_labelled else "contrast",
            },
            inputs=list(ctx.inputs),
            transforms=[t.to_json() for t in transforms],
            derivation=f"Contrast {'given' if contrast else 'not given'} according to: {evidence}.",
            details={
                "volume": {"shape": list(volume.shape), "spacing_mm": list(volume.spacing), **volume.meta},
                "warnings": volume.warnings,
                "slice_index": k,
            },
            modality="CT",
            anatomy="abdomen",
        )
