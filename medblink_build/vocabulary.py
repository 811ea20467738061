"""The allow-list: which values taken from a source may be written to the output as they are.

A build writes recipe vocabulary, numbers it computed, digests and source-declared names. Values
read from a labels.csv or metadata table are evidence; one copied into a row must be made of
controlled words (anatomy, modality, view, phase, ...), or the item is skipped
(`not_in_vocabulary`, naming the column, never the value). Columns that are identifying by their
name (patient, name, ID, birth date, MRN, ...) and controlled columns holding an uncontrolled
value feed the value gate instead (`privacy.metadata_identifiers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

#: Words a controlled value may be made of (case-insensitive; digits, punctuation and single
#: letters such as patient-orientation codes are always allowed).
WORDS = frozenset(
    """
    chest thorax thoracic lung lungs heart cardiac abdomen abdominal pelvis pelvic hip hips hand hands
    wrist leg legs knee foot feet ankle shoulder elbow arm spine spinal cervical lumbar head neck brain
    skull liver kidney kidneys renal spleen pancreas colon bowel breast skin teeth tooth dental
    jaw mouth oral eye retina bone bones whole body phantom unknown simulated synthetic tissue
    x ray xray ct mr mri ultrasound us echocardiography echo endoscopy colonoscopy histology
    pathology dermoscopy radiograph radiography panoramic fluoroscopy mammography b mode
    from of and or with without in on the a
    pa ap ll rl lat lateral frontal oblique axial sagittal coronal supine prone erect portable view
    left right bilateral unpaired
    arterial venous portal portal_venous delayed native non non_contrast contrast phase enhanced
    yes no true false none
    male female other
    """.split()
)

#: Metadata columns whose value may reach a row as it is, and so must be controlled.
CONTROLLED_COLUMNS = frozenset(
    {"anatomy", "modality", "view", "phase", "contrast", "laterality", "orientation", "body_part", "sex"}
)


@cache
def _manifest_words() -> frozenset[str]:
    """Words the shipped source manifests declare (their modality, anatomy, label maps)."""
    from .manifests import builtin_manifests

    words: set[str] = set()
    for m in builtin_manifests().values():
        for text in (m.modality, m.anatomy, *m.label_map.values()):
            words.update(_words(text))
    return frozenset(words)


@cache
def _task_words() -> frozenset[str]:
    """Vocabulary the recipes' task helpers define and may write (e.g. the known contrast agents)."""
    from .tasks.contrast_evidence import KNOWN_AGENTS

    words = {w for agent, brands in KNOWN_AGENTS.items() for name in (agent, *brands) for w in _words(name)}
    return frozenset(words)


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", str(text).lower()) if len(w) > 1]


def is_controlled(value: Any) -> bool:
    """True when every word of `value` is vocabulary (numbers and codes of single letters pass)."""
    allowed = WORDS | _manifest_words() | _task_words()
    return all(w in allowed for w in _words(str(value)))


def uncontrolled(example: Any, item: Any) -> str | None:
    """Why `example` may not be written as it is (a column copied out of vocabulary), or None."""
    for name in ("anatomy", "modality"):
        value = getattr(example, name, "")
        if value and not is_controlled(value):
            return f"the {name} value is not in the vocabulary"
    copied = {
        str(v).strip().casefold(): k
        for k, v in item.metadata.items()
        if str(v).strip() and (k.lower() in CONTROLLED_COLUMNS or _identifying(k))
    }
    for text in [*strings_in(example.label), *example.question.choices]:
        column = copied.get(text.strip().casefold())
        if column is not None and not is_controlled(text) and not _number(text):
            return f"a value of the metadata column {column} is copied out of the vocabulary"
    return None


def _identifying(column: str) -> bool:
    return bool(IDENTIFYING_COLUMN.search(column.lower()) or re.search(r"(^|_)id$", column.lower()))


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Metadata column names that say the column identifies a person or an encounter.
IDENTIFYING_COLUMN = re.compile(r"patient|name|physician|doctor|institution|hospital|mrn|accession|dob|birth|address")


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)
    elif value is not None and not isinstance(value, (bytes, bytearray)):
        yield str(value)
