"""The contrast attributes of a CT/MR header, coded ones included, as plain JSON-able facts.

Read here (the format's knowledge); what they mean for a task is the recipe's business:

- the legacy Contrast/Bolus module: ContrastBolusAgent (free text), ContrastBolusRoute,
  ContrastBolusStartTime, ContrastBolusIngredient (CS: IODINE, GADOLINIUM, ...), and the coded
  ContrastBolusAgentSequence / ContrastBolusAdministrationRouteSequence (code value, scheme, meaning);
- the Enhanced Contrast/Bolus module of enhanced multi-frame images: the agent sequence with its
  nested route and ingredient code sequences, and per frame (Shared or Per-Frame Functional
  Groups) the ContrastBolusUsageSequence: ContrastBolusAgentAdministered / Detected (YES/NO) and
  ContrastBolusAgentPhase (PRE_CONTRAST, ARTERIAL, PORTAL_VENOUS, DELAYED, ...);
- the frame type of enhanced CT/MR frames (CT/MR Image Frame Type Sequence: FrameType), so a
  caller can tell DERIVED frames (perfusion maps, MPR, MIP) as well as from ImageType.

Usage is summarised over frames as the distinct (agent, administered, detected, phase) statements
with the number of frames making each, so a caller can see whether frames agree.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_FRAME_TYPE_SEQUENCES = ("CTImageFrameTypeSequence", "MRImageFrameTypeSequence")


def _code(item: Any) -> dict[str, str]:
    return {
        "code_value": str(item.get("CodeValue", "") or "").strip(),
        "coding_scheme": str(item.get("CodingSchemeDesignator", "") or "").strip(),
        "code_meaning": str(item.get("CodeMeaning", "") or "").strip(),
    }


def _items(seq: Any) -> list[Any]:
    """The dataset items of a sequence value; anything else (an unparsed UN value, text) gives none."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    if not isinstance(seq, (Sequence, list)):
        return []
    return [item for item in seq if isinstance(item, Dataset)]


def _seq(ds: Any, keyword: str) -> list[Any]:
    try:
        return _items(ds.get(keyword)) if ds is not None else []
    except Exception:  # a malformed element pydicom cannot convert: no evidence, never a crash
        return []


def _codes(seq: Any) -> list[dict[str, str]]:
    return [_code(item) for item in _items(seq)]


def _meanings(seq: Any) -> list[str]:
    """Code meanings (else code values) of a code sequence."""
    return [c["code_meaning"] or c["code_value"] for c in _codes(seq)]


def _cs(item: Any, keyword: str) -> str | None:
    value = item.get(keyword) if item is not None else None
    if value is None:
        return None
    return str(value).strip().upper()


def _group_items(group: Any, keyword: str) -> list[Any]:
    """Items of macro `keyword` in one functional-groups item (empty when absent)."""
    return _seq(group, keyword)


def _frame_groups(ds: Any) -> list[tuple[Any, Any]]:
    """(per-frame item or None, shared item or None) for each frame; one pair for a legacy file."""
    shared_seq = _seq(ds, "SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = _seq(ds, "PerFrameFunctionalGroupsSequence")
    if per_frame:
        return [(per, shared) for per in per_frame]
    return [(None, shared)] if shared is not None else []


def _frame_macro(per: Any, shared: Any, keyword: str) -> list[Any]:
    items = _group_items(per, keyword)
    return items if items else _group_items(shared, keyword)


def contrast_attributes(ds: Any) -> dict[str, Any]:
    """The contrast facts of dataset `ds` (see the module docstring); absent attributes are left out."""
    out: dict[str, Any] = {}
    if "ContrastBolusIngredient" in ds:
        out["ContrastBolusIngredient"] = str(ds.ContrastBolusIngredient or "").strip().upper()
    agents = []
    for item in _seq(ds, "ContrastBolusAgentSequence"):
        agent = _code(item)
        agent["agent_number"] = str(item.get("ContrastBolusAgentNumber", "") or "")
        agent["routes"] = [
            c["code_meaning"] or c["code_value"] for c in _codes(item.get("ContrastBolusAdministrationRouteSequence"))
        ]
        agent["ingredients"] = [
            c["code_meaning"] or c["code_value"] for c in _codes(item.get("ContrastBolusIngredientCodeSequence"))
        ]
        agents.append(agent)
    if "ContrastBolusAgentSequence" in ds:
        out["ContrastBolusAgentSequence"] = agents
    if "ContrastBolusAdministrationRouteSequence" in ds:
        out["ContrastBolusAdministrationRouteSequence"] = _meanings(ds.ContrastBolusAdministrationRouteSequence)

    frames = _frame_groups(ds)
    usage: Counter[tuple[str, str | None, str | None, str | None]] = Counter()
    frame_types: Counter[str] = Counter()
    frames_with_usage = 0
    for per, shared in frames:
        items = _frame_macro(per, shared, "ContrastBolusUsageSequence")
        frames_with_usage += bool(items)
        for item in items:
            usage[
                (
                    str(item.get("ContrastBolusAgentNumber", "") or ""),
                    _cs(item, "ContrastBolusAgentAdministered"),
                    _cs(item, "ContrastBolusAgentDetected"),
                    _cs(item, "ContrastBolusAgentPhase"),
                )
            ] += 1
        for keyword in _FRAME_TYPE_SEQUENCES:
            for item in _frame_macro(per, shared, keyword):
                value = item.get("FrameType")
                if value:
                    first = value if isinstance(value, str) else value[0]
                    frame_types[str(first).split("\\")[0].strip().upper()] += 1
    if usage:
        out["ContrastBolusUsage"] = {
            "frames": len(frames),
            "frames_with_usage": frames_with_usage,
            "statements": [
                {"agent_number": a, "administered": adm, "detected": det, "phase": ph, "frames": n}
                for (a, adm, det, ph), n in sorted(usage.items(), key=lambda kv: tuple(str(v) for v in kv[0]))
            ],
        }
    if frame_types:
        out["FrameTypeValue1"] = sorted(frame_types)
    return out
