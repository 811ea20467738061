"""Contrast evidence for a CT series: what its labels table and DICOM attributes say, as votes.

The vocabulary (known agents, routes, phase words) and the voting rules of the enhancement task:
header text is matched against the vocabulary and never returned; every reason names the
attribute and the vocabulary term it matched (`SeriesDescription names the phase "arterial"`).
The attributes themselves are read by `readers.dicom_contrast`; see recipes/enhancement.py for
the order in which evidence is taken and what makes it conflict.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SkipItem

TRUE_WORDS = {"1", "yes", "y", "true", "t", "contrast", "enhanced", "with"}
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


def evidence_from_table(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v in TRUE_WORDS:
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
