"""Contrast-enhancement detection: was this CT acquired with intravenous contrast?

Config `image_enhancement_detection`. The label comes from evidence, in this order:

1. a labels table shipped with the source (the item's `contrast` metadata, e.g. the
   `Contrast` column of the Kaggle/TCIA overview.csv: 1/0, yes/no, true/false);
2. DICOM attributes read by the series reader (`readers.dicom_contrast`): the Enhanced CT
   ContrastBolusUsageSequence (ContrastBolusAgentAdministered / Detected YES or NO, in every frame,
   and ContrastBolusAgentPhase), the coded ContrastBolusAgentSequence (a known agent such as
   iohexol, with its route), ContrastBolusIngredient (IODINE, GADOLINIUM), ContrastBolusAgent
   (free text: a known agent, another agent, or a negation such as "NONE"), an intravenous
   ContrastBolusRoute, ContrastBolusStartTime;
3. contrast-phase wording in SeriesDescription ("non-contrast", "w/o", "arterial", "portal venous", ...).

Header text is evidence only, never output: the label, derivation and provenance say which
attribute matched which vocabulary term (`SeriesDescription names the phase "arterial"`,
`ContrastBolusAgentSequence code meaning is the known agent "iohexol"`), and the volume facts in
provenance are numbers and coded values only (`_PROVENANCE_META`).

An explicit ContrastBolusAgentAdministered NO in every frame is evidence of no contrast: it is an
enumerated statement the modality makes per frame (enhanced MR/CT writers fill it for plain scans
too), unlike an empty or missing free-text tag. It must not meet other evidence: a known agent in
ContrastBolusAgentSequence, Detected YES, or frames that disagree make the item a recorded skip;
an agent item naming no known agent is then taken as a placeholder. Administered YES with Detected
NO (frames before the bolus arrives) is skipped too: the image may not show the contrast.
Oral/rectal contrast alone (route or agent) is not intravenous contrast: skipped
(`contrast_not_intravenous`). A derived image (ImageType or FrameType value 1 DERIVED: perfusion
maps, MPR, MIP) is not an acquired CT image: skipped (`derived_image`).

An empty or missing tag is *no evidence*, not "non-contrast". An item with no evidence is skipped
(`no_contrast_evidence`); evidence that disagrees is skipped (`conflicting_contrast_evidence`).

The slice shown does not depend on the label: for a volume, the axial slice in the central 60 %
of the scan with the largest area of soft tissue (-100..300 HU) inside the body, i.e. the
mid-abdomen/mediastinum level where enhancing vessels and organs are seen; a single-slice source
shows its slice. Soft-tissue window W400/L40, square pixels.
"""

from __future__ import annotations

import numpy as np

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Question
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.contrast_evidence import TRUE_WORDS, derived_reason, evidence_from_table, evidence_from_tags
from medblink_build.tasks.ct_windows import ct_window
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

#: Volume facts that may appear in provenance: numbers and coded values, never header free text
#: (SeriesDescription, ContrastBolusAgent, ProtocolName, times, manufacturer strings).
_PROVENANCE_META = (
    "format",
    "Modality",
    "BodyPartExamined",
    "PatientPosition",
    "ImageType",
    "FrameTypeValue1",
    "SliceThickness",
    "slice_step_mm",
    "slice_step_source",
    "gantry_tilt_degrees",
    "n_slices",
    "transfer_syntax",
    "value_dtype",
    "stored_orientation",
    "obliquity_degrees",
)


def representative_slice(volume: Volume) -> int:
    """The label-independent slice choice described in the module docstring."""
    depth = volume.shape[0]
    if depth == 1:
        return 0
    lo = int(np.floor(depth * (1 - CENTRAL_FRACTION) / 2))
    hi = max(lo + 1, int(np.ceil(depth * (1 + CENTRAL_FRACTION) / 2)))
    areas = [np.count_nonzero((plane > -100) & (plane < 300)) for plane in volume.data[lo:hi]]  # one plane at a time
    return lo + int(np.argmax(areas))


class Enhancement(Recipe):
    name = "enhancement"
    version = "1.2.0"  # 1.2.0: coded and Enhanced CT evidence, derived images skipped, no header text out, CT only
    description = (
        "The label is taken from evidence in order: the source's labels table (e.g. a Contrast column), "
        "then DICOM contrast attributes (Enhanced CT ContrastBolusUsageSequence administered YES/NO, the coded "
        "ContrastBolusAgentSequence, ContrastBolusIngredient, ContrastBolusAgent, an intravenous "
        "ContrastBolusRoute, ContrastBolusStartTime), then contrast-phase wording in SeriesDescription; "
        "provenance names the attribute and the vocabulary term it matched, never the header text. "
        "Empty or missing tags are no evidence: such series are skipped, as are series whose evidence "
        "conflicts, oral-only contrast and derived images (perfusion maps, MPR, MIP). The slice shown is "
        "chosen without looking at the label (largest soft-tissue area in "
        "the central 60 % of the scan), soft-tissue window W400/L40. For sources that label contrast "
        "phases (phase_labels = yes) every item is asked its phase instead (non-contrast, arterial, portal "
        "venous, delayed), from a labels-table `phase` column or SeriesDescription wording; a contrast "
        "series whose phase is not stated is skipped."
    )
    tasks = (TaskInfo(TASK, "CT", "abdomen", "Whether a CT slice was acquired with IV contrast.", QUESTION),)
    sample_sources = ("medblink-sample-ct-series",)
    #: CT only: an MR series with ContrastBolusAgent set is `wrong_modality`, never a CT question.
    accepts = Accepts({"ct"}, human=True)
    align_search = ("slice_index",)

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        table = evidence_from_table(item.metadata.get("contrast"))
        volume = ctx.read_volume()
        derived = derived_reason(volume.meta)
        if derived:
            raise SkipItem("derived_image", derived)
        tags, phase, reasons = evidence_from_tags(volume.meta)
        if table is not None and tags is not None and table != tags:
            raise SkipItem("conflicting_contrast_evidence", f"labels table says {table}, tags: {'; '.join(reasons)}")
        contrast = table if table is not None else tags
        if contrast is None:
            raise SkipItem("no_contrast_evidence", "no labels-table value and no informative contrast tag")
        evidence = "labels table contrast column" if table is not None else "; ".join(reasons)

        phase_labelled = item.metadata.get("phase_labels", "").strip().lower() in TRUE_WORDS
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
        ctx.check_image(pixels)  # e.g. a slice all air or all one value in the window: degenerate_image
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
                "volume": {
                    "shape": list(volume.shape),
                    "spacing_mm": list(volume.spacing),
                    **{k: volume.meta[k] for k in _PROVENANCE_META if volume.meta.get(k) is not None},
                },
                "warnings": volume.warnings,
                "slice_index": k,
            },
            modality="CT",
            anatomy="abdomen",
        )
