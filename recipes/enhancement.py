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

import re
from typing import Any

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

#: Intravenous contrast agents by generic name, with the brand names they are sold under. A header
#: naming one is matched to the generic name: provenance names the vocabulary term, never the text.
KNOWN_AGENTS: dict[str, tuple[str, ...]] = {
    "iohexol": ("omnipaque",),
    "iopamidol": ("isovue", "iopamiro", "niopam"),
    "iodixanol": ("visipaque",),
    "ioversol": ("optiray",),
    "iopromide": ("ultravist",),
    "iomeprol": ("iomeron",),
    "iobitridol": ("xenetix",),
    "ioxaglate": ("hexabrix",),
    "ioxilan": ("oxilan",),
    "gadodiamide": ("omniscan",),
    "gadopentetate": ("magnevist",),
    "gadoterate": ("dotarem", "clariscan"),
    "gadobutrol": ("gadovist", "gadavist"),
    "gadoteridol": ("prohance",),
    "gadobenate": ("multihance",),
    "gadoxetate": ("eovist", "primovist"),
}
#: Agents and words that mean oral or rectal contrast, which is not what the question asks about.
_ENTERIC = re.compile(r"\b(oral|rectal|barium|gastrografin|e-?z-?paque|readi-?cat|enteric|po)\b", re.IGNORECASE)
_IV_ROUTE = re.compile(r"\b(iv|i\.v\.?|intravenous(\s+route)?|intra-?venous)\b", re.IGNORECASE)
#: ContrastBolusIngredient (CS) values that name a contrast ingredient.
_INGREDIENTS = {"IODINE": "iodine", "GADOLINIUM": "gadolinium", "CARBON DIOXIDE": "carbon dioxide", "BARIUM": "barium"}
#: ContrastBolusAgentPhase (CS, Enhanced CT/MR) values -> this recipe's phases ("non_contrast" = no contrast yet).
_CODED_PHASES = {
    "PRE_CONTRAST": "non_contrast",
    "ARTERIAL": "arterial",
    "PORTAL_VENOUS": "portal_venous",
    "DELAYED": "delayed",
}
#: Words in SeriesDescription: (vocabulary term, pattern); the term is what provenance names.
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


def evidence_from_table(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise SkipItem("contrast_label_malformed", "the labels table contrast value is neither yes nor no")


def known_agent(text: str) -> str | None:
    """The generic name of the known agent `text` names (generic or brand), else None."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    for generic, brands in KNOWN_AGENTS.items():
        if generic in words or words.intersection(brands):
            return generic
    return None


class _Votes:
    """Contrast yes/no statements with the controlled phrase saying which attribute gave each."""

    def __init__(self) -> None:
        self.votes: set[bool] = set()
        self.reasons: list[str] = []
        self.phases: set[str] = set()
        self.enteric: list[str] = []

    def add(self, vote: bool, reason: str) -> None:
        self.votes.add(vote)
        self.reasons.append(reason)


def _usage_evidence(usage: dict[str, Any], v: _Votes) -> None:
    """ContrastBolusUsageSequence (Enhanced CT/MR functional groups), over all frames.

    YES/NO of ContrastBolusAgentAdministered is an enumerated statement the modality writes per
    frame, not an empty free-text tag, so NO in every frame is taken as evidence of no contrast.
    Frames that disagree, or an agent administered but not detected (e.g. frames of a dynamic scan
    before the bolus arrives), leave the image ambiguous: skipped.
    """
    statements = usage.get("statements") or []
    administered = {s["administered"] for s in statements} - {None}
    detected = {s["detected"] for s in statements} - {None}
    frames = f"{usage.get('frames_with_usage')} of {usage.get('frames')} frame(s)"
    if len(administered) > 1 or len(detected) > 1:
        raise SkipItem(
            "conflicting_contrast_evidence",
            f"ContrastBolusUsageSequence: frames disagree on ContrastBolusAgentAdministered/Detected ({frames})",
        )
    if administered == {"YES"} and detected == {"NO"}:
        raise SkipItem(
            "conflicting_contrast_evidence",
            "ContrastBolusUsageSequence states the agent administered YES but detected NO: the image may not show it",
        )
    if administered == {"YES"} or detected == {"YES"}:
        which = "ContrastBolusAgentAdministered" if administered == {"YES"} else "ContrastBolusAgentDetected"
        v.add(True, f"ContrastBolusUsageSequence states {which} YES ({frames})")
    elif administered == {"NO"}:
        v.add(False, f"ContrastBolusUsageSequence states ContrastBolusAgentAdministered NO ({frames})")
    for phase in sorted({s["phase"] for s in statements} - {None}):
        mapped = _CODED_PHASES.get(phase)
        if mapped == "non_contrast":
            v.add(False, f"ContrastBolusAgentPhase is {phase}")
        elif mapped:
            v.phases.add(mapped)
            v.reasons.append(f"ContrastBolusAgentPhase is {phase}")


def _agent_evidence(meta: dict[str, Any], v: _Votes) -> None:
    for agent in meta.get("ContrastBolusAgentSequence") or []:
        meaning = agent.get("code_meaning") or ""
        generic = known_agent(meaning)
        if _ENTERIC.search(meaning):
            v.enteric.append("ContrastBolusAgentSequence code meaning")
        elif generic:
            v.add(True, f'ContrastBolusAgentSequence code meaning is the known agent "{generic}"')
        elif not isinstance(meta.get("ContrastBolusUsage"), dict):
            # With per-frame usage statements, an item naming no known agent is a placeholder: the
            # frames' Administered YES/NO decides. Without them, an agent item means an agent.
            v.add(True, "ContrastBolusAgentSequence has an agent item (code meaning not in the agent vocabulary)")
        for route in agent.get("routes") or []:
            _route(route, "ContrastBolusAdministrationRouteSequence code meaning", v)
    for route in meta.get("ContrastBolusAdministrationRouteSequence") or []:
        _route(route, "ContrastBolusAdministrationRouteSequence code meaning", v)
    ingredient = meta.get("ContrastBolusIngredient")
    if isinstance(ingredient, str) and ingredient in _INGREDIENTS:
        if ingredient == "BARIUM":
            v.enteric.append("ContrastBolusIngredient")
        else:
            v.add(True, f'ContrastBolusIngredient is "{_INGREDIENTS[ingredient]}"')
    text = meta.get("ContrastBolusAgent")
    if isinstance(text, str) and text.strip():
        if _NEGATED_AGENT.match(text):
            v.add(False, "ContrastBolusAgent states no agent (a negation)")
        elif _ENTERIC.search(text):
            v.enteric.append("ContrastBolusAgent")
        elif known_agent(text):
            v.add(True, f'ContrastBolusAgent names the known agent "{known_agent(text)}"')
        else:
            v.add(True, "ContrastBolusAgent is set (not a negation; agent not in the vocabulary)")


def _route(text: str, attribute: str, v: _Votes) -> None:
    if _IV_ROUTE.search(text):
        v.add(True, f'{attribute} names the route "intravenous"')
    elif _ENTERIC.search(text):
        v.enteric.append(attribute)


def evidence_from_tags(meta: dict[str, object]) -> tuple[bool | None, str | None, list[str]]:
    """(contrast?, phase, reasons) from DICOM attributes; None when they say nothing.

    Each reason names the attribute and the vocabulary term it matched, never the header's text.
    """
    v = _Votes()
    usage = meta.get("ContrastBolusUsage")
    if isinstance(usage, dict):
        _usage_evidence(usage, v)
    _agent_evidence(meta, v)  # type: ignore[arg-type]
    route = meta.get("ContrastBolusRoute")
    if isinstance(route, str) and route.strip():
        _route(route, "ContrastBolusRoute", v)
    start = meta.get("ContrastBolusStartTime")
    if isinstance(start, str) and start.strip():
        v.add(True, "ContrastBolusStartTime is recorded")
    if v.enteric and True not in v.votes:
        raise SkipItem(
            "contrast_not_intravenous",
            f"{', '.join(sorted(set(v.enteric)))} names oral/rectal contrast and nothing states intravenous contrast",
        )
    description = meta.get("SeriesDescription")
    if isinstance(description, str) and description.strip():
        if _NON_CONTRAST_WORDS.search(description):
            v.add(False, 'SeriesDescription says "non-contrast"')
        else:
            for name, pattern in _PHASE_WORDS.items():
                if pattern.search(description):
                    if name == "contrast_unspecified":
                        v.add(True, 'SeriesDescription says "with contrast"')
                    else:
                        v.add(True, f'SeriesDescription names the phase "{name.replace("_", " ")}"')
                        v.phases.add(name)
                    break
    if len(v.votes) > 1:
        raise SkipItem("conflicting_contrast_evidence", "; ".join(v.reasons))
    if len(v.phases) > 1:
        raise SkipItem("conflicting_contrast_evidence", "; ".join(v.reasons))
    phase = next(iter(v.phases)) if v.phases else None
    return (v.votes.pop() if v.votes else None), phase, v.reasons


def derived_reason(meta: dict[str, Any]) -> str | None:
    """Why the volume is a derived image (perfusion map, MPR, MIP...), from ImageType / FrameType value 1."""
    image_type = meta.get("ImageType")
    first = image_type[0] if isinstance(image_type, list) and image_type else image_type
    if isinstance(first, str) and first.strip().upper() == "DERIVED":
        return "ImageType value 1 is DERIVED (a parametric map, reformat or projection), not an acquired image"
    if "DERIVED" in (meta.get("FrameTypeValue1") or []):
        return "FrameType value 1 of the functional groups is DERIVED, not an acquired image"
    return None


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
    version = "1.2.0"  # 1.2.0: coded/Enhanced CT evidence, derived images skipped, no header text in output
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

        k = representative_slice(volume)
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
