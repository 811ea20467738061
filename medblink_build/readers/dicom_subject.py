"""What a DICOM header says about the imaged subject: Modality, SOP Class and species.

Readers attach this to what they return (`DisplayImage.subject`, `Volume.subject`) so a recipe
can check that the file is of the modality and species its task means without parsing formats.
Only coded values are kept: Modality, the SOP Class UID and the species code; the free-text
PatientSpeciesDescription is kept upper-cased only to be compared with the human values.
"""

from __future__ import annotations

from typing import Any

from ..model import Subject


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element must not make the subject unreadable
        return None
    text = "" if value is None else str(value).strip().upper()
    return text or None


def _species(ds: Any) -> str | None:
    """The coded species ("SCHEME:VALUE") when the code sequence has one, else the description."""
    try:
        codes = ds.get("PatientSpeciesCodeSequence")
    except Exception:
        codes = None
    if codes:
        item = codes[0]
        value = str(item.get("CodeValue") or item.get("LongCodeValue") or "").strip()
        scheme = str(item.get("CodingSchemeDesignator") or "").strip().upper()
        if value:
            return f"{scheme}:{value}" if scheme else value
    return _text(ds, "PatientSpeciesDescription")


def subject_of(ds: Any) -> Subject:
    """The Subject a parsed DICOM dataset states (None for each attribute it lacks)."""
    return Subject(modality=_text(ds, "Modality"), sop_class_uid=_text(ds, "SOPClassUID"), species=_species(ds))
