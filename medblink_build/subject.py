"""The task's subject: which modalities a recipe means, and whether it needs a human subject.

A recipe declares `accepts = Accepts({"xray"}, human=True)`; the toolkit then checks, before any
label is derived:

- metadata alone (the manifest default or a labels.csv `modality` / `species` column, no file
  read): a stated modality the recipe does not take is a recorded filter
  (`not_this_recipe_modality`); a stated non-human species is a skip (`non_human_subject`);
- what the reader read (`Subject` on the image or volume: DICOM Modality, SOP Class UID,
  PatientSpeciesCodeSequence / PatientSpeciesDescription): a file of another modality, or a
  Secondary Capture (a screen image) where the recipe wants an acquisition, is skipped
  (`wrong_modality`); a file whose modality contradicts the one the metadata states is skipped
  (`metadata_conflict`); a non-human species is skipped (`non_human_subject`).

An absent species means human, as in DICOM (PatientSpeciesDescription is only required for
veterinary patients). An absent modality (a PNG, a NIfTI, a DICOM without Modality or with OT)
is taken on the metadata's word, else accepted: the source's manifest then says what it holds.
Skip details name the attribute and the coded value only, never other header text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from .errors import SkipItem
from .model import Subject

#: Modality families and the words (case-folded, without spaces, dashes, underscores or dots)
#: that a manifest or labels.csv `modality` column, or a DICOM Modality code, may use for each.
FAMILY_WORDS: dict[str, frozenset[str]] = {
    "xray": frozenset(
        {"xray", "radiograph", "radiography", "cr", "dx", "dr", "rg", "mg", "mammography", "io", "px", "panoramic"}
    ),
    "fluoroscopy": frozenset({"xa", "rf", "angiography", "fluoroscopy"}),
    "ct": frozenset({"ct", "computedtomography", "cta"}),
    "mr": frozenset({"mr", "mri", "magneticresonance", "magneticresonanceimaging"}),
    "us": frozenset({"us", "ultrasound", "sonography", "echocardiography", "ivus"}),
    "endoscopy": frozenset({"es", "endoscopy", "colonoscopy", "gastroscopy", "laparoscopy"}),
    "histology": frozenset({"sm", "histology", "histopathology", "pathology", "wsi", "microscopy"}),
    "nuclear": frozenset({"nm", "pt", "pet", "spect", "nuclearmedicine"}),
    "ophthalmic": frozenset({"op", "opt", "fundus", "oct"}),
    "other": frozenset({"seg", "rtdose", "rtstruct", "rtplan", "sr", "pr", "ko", "doc"}),
}
_FAMILY_OF = {word: family for family, words in FAMILY_WORDS.items() for word in words}

#: Families that do not contradict each other when metadata names one and the file the other.
_CONFLICT_GROUP = {"fluoroscopy": "xray"}

#: How the card names each family, with its DICOM Modality codes.
FAMILY_NAMES: dict[str, str] = {
    "xray": "projection X-ray (DICOM Modality CR, DX, RG, MG, IO, PX)",
    "fluoroscopy": "fluoroscopy / angiography (XA, RF)",
    "ct": "CT (Modality CT)",
    "mr": "MR (Modality MR)",
    "us": "ultrasound (Modality US)",
    "endoscopy": "endoscopy (Modality ES, or a source that says endoscopy)",
    "histology": "histology slides and tiles (Modality SM, slide formats, or a source that says histology)",
    "nuclear": "nuclear medicine (NM, PT)",
    "ophthalmic": "ophthalmic photography / OCT (OP, OPT)",
    "other": "non-image DICOM objects",
}

#: Suffixes only whole-slide images use (a .tif or .dcm may be a slide too, but not always).
WHOLE_SLIDE_SUFFIXES = frozenset({".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide"})

#: DICOM Modality codes that state nothing about the acquisition (Other, and no value).
UNSTATED_MODALITIES = frozenset({"OT", ""})

#: Secondary Capture SOP classes: screen captures and digitised images, not acquisitions.
SECONDARY_CAPTURE_UIDS = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)

#: Values meaning a human subject: PatientSpeciesDescription (upper case) and the coded
#: Homo sapiens of SNOMED CT (337915000) and of the retired SNOMED-RT (L-85B00).
HUMAN_SPECIES = frozenset({"HUMAN", "HOMO SAPIENS", "H. SAPIENS", "SCT:337915000", "SRT:L-85B00", "337915000"})


def _normalise(word: str) -> str:
    return "".join(ch for ch in word.casefold() if ch not in " -_./")


def family_of(word: str | None) -> str | None:
    """The modality family of a metadata word or DICOM code; None when absent or unstated."""
    word = (word or "").split("(")[0]  # "ultrasound (B-mode)" -> "ultrasound"
    if word.strip().upper() in UNSTATED_MODALITIES:
        return None
    return _FAMILY_OF.get(_normalise(word), f"unrecognised:{_normalise(word)}")


def is_human(species: str | None) -> bool:
    """Absent species is human (the DICOM default); else it must be one of HUMAN_SPECIES."""
    if species is None or not species.strip():
        return True
    return species.strip().upper() in HUMAN_SPECIES


@dataclass(frozen=True)
class Accepts:
    """What a recipe's task means: modality families (keys of FAMILY_WORDS) and a human subject.

    `secondary_capture`: whether Secondary Capture images (screen captures) are acceptable
    inputs, e.g. an ultrasound screen exported as SC with Modality US.
    """

    families: frozenset[str]
    human: bool = True
    secondary_capture: bool = False

    def __init__(self, families: set[str] | frozenset[str], human: bool = True, secondary_capture: bool = False):
        unknown = set(families) - set(FAMILY_WORDS)
        if unknown:
            raise ValueError(f"unknown modality families {sorted(unknown)}; known: {sorted(FAMILY_WORDS)}")
        object.__setattr__(self, "families", frozenset(families))
        object.__setattr__(self, "human", human)
        object.__setattr__(self, "secondary_capture", secondary_capture)

    def words(self) -> str:
        return ", ".join(sorted(self.families))

    def describe(self) -> str:
        """One sentence for the dataset card: what the recipe takes and what it refuses."""
        kinds = "; ".join(FAMILY_NAMES[f] for f in sorted(self.families))
        human = (
            "human subjects only (PatientSpeciesDescription / PatientSpeciesCodeSequence or a `species` "
            "column; absent means human); "
            if self.human
            else "any species; "
        )
        screens = f"Secondary Capture screens {'accepted' if self.secondary_capture else 'skipped'}"
        return (
            f"Accepts: {kinds}; {human}{screens}. Other modalities are filtered (metadata) or skipped "
            "(`wrong_modality`; `metadata_conflict` where the file contradicts the metadata)."
        )


def screen(accepts: Accepts | None, metadata: Mapping[str, str], primary: str = "") -> tuple[str, str, str] | None:
    """The metadata-only check: ("filter"|"skip", reason, detail), or None to go on building.

    `primary` is the item's first file: a whole-slide image (by suffix) is histology whatever the
    metadata says, so other recipes never read a multi-gigabyte slide to find out.
    """
    if accepts is None:
        return None
    species = metadata.get("species")
    if accepts.human and not is_human(species):
        return "skip", "non_human_subject", f"metadata species {species!r} is not human"
    if PurePosixPath(primary).suffix.lower() in WHOLE_SLIDE_SUFFIXES and "histology" not in accepts.families:
        return "filter", "not_this_recipe_modality", f"{primary}: a whole-slide image (recipe takes {accepts.words()})"
    stated = metadata.get("modality", "").strip()
    family = family_of(stated) if stated else None
    if family is not None and family not in accepts.families:
        return "filter", "not_this_recipe_modality", f"metadata modality {stated!r} (recipe takes {accepts.words()})"
    return None


def check_subject(accepts: Accepts | None, metadata: Mapping[str, str], subject: Subject, where: str) -> None:
    """Raise SkipItem unless what the file states fits the recipe and agrees with the metadata."""
    if accepts is None:
        return
    if accepts.human and not is_human(subject.species):
        attribute = "PatientSpeciesCodeSequence" if ":" in (subject.species or "") else "PatientSpeciesDescription"
        shown = subject.species if attribute == "PatientSpeciesCodeSequence" else "a non-human species"
        raise SkipItem("non_human_subject", f"{where}: {attribute} gives {shown}")
    stated = metadata.get("modality", "").strip()
    stated_family = family_of(stated) if stated else None
    file_family = family_of(subject.modality)
    # A SEG, SR or RT object in a CT source is not a contradiction, just not an image of the task;
    # nor is an XA/RF image in a source that says X-ray.
    if (
        stated_family is not None
        and file_family not in (None, "other")
        and _CONFLICT_GROUP.get(stated_family, stated_family) != _CONFLICT_GROUP.get(file_family, file_family)
    ):
        raise SkipItem("metadata_conflict", f"{where}: metadata modality {stated!r}, DICOM Modality {subject.modality}")
    screen_capture = subject.sop_class_uid in SECONDARY_CAPTURE_UIDS
    if screen_capture and not accepts.secondary_capture:
        if stated_family is not None:
            raise SkipItem(
                "metadata_conflict",
                f"{where}: metadata modality {stated!r}, but SOPClassUID {subject.sop_class_uid} is Secondary Capture",
            )
        raise SkipItem(
            "wrong_modality",
            f"{where}: SOPClassUID {subject.sop_class_uid} is Secondary Capture (recipe takes {accepts.words()})",
        )
    if file_family is not None and file_family not in accepts.families:
        raise SkipItem("wrong_modality", f"{where}: DICOM Modality {subject.modality} (recipe takes {accepts.words()})")
    if file_family is None and stated_family is not None and stated_family not in accepts.families:
        raise SkipItem("wrong_modality", f"{where}: metadata modality {stated!r} (recipe takes {accepts.words()})")
