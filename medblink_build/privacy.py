"""The privacy gate: no identifying DICOM value may reach a row, the card or the manifest.

Values of the attributes of the DICOM Basic Application Level Confidentiality Profile (PS3.15
Annex E: names, IDs, dates and times, institutions, device serials, UIDs, free-text comments) are
collected from every DICOM input of an item and searched for in everything the item contributes
to the output: the question, choices, label, provenance and skip details. A hit fails the build
before anything is written. Values that occur in the item's own relative paths or its source id
are exempt: those are the public release's own keys (e.g. TCIA folder names), already public with
the source. Name parts match as whole words, case-insensitively, so a patient called "Chest"
would stop a chest X-ray build: a loud false positive is preferred to a silent leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import MedblinkError

#: Attributes whose values are identifying (PS3.15 Table E.1-1, the ones that occur in images).
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "AccessionNumber", "AcquisitionDate", "AcquisitionDateTime", "AcquisitionTime", "AdditionalPatientHistory",
    "AdmissionID", "AdmittingDiagnosesDescription", "BranchOfService", "ContentCreatorName", "ContentDate",
    "ContentTime", "CurrentPatientLocation", "DerivationDescription", "DeviceSerialNumber", "EthnicGroup",
    "FrameOfReferenceUID", "ImageComments", "InstanceCreationDate", "InstanceCreationTime", "InstanceCreatorUID",
    "InstitutionAddress", "InstitutionName", "InstitutionalDepartmentName", "IrradiationEventUID",
    "IssuerOfPatientID", "MedicalRecordLocator", "MilitaryRank", "NameOfPhysiciansReadingStudy", "Occupation",
    "OperatorsName", "OtherPatientIDs", "OtherPatientNames", "PatientAddress", "PatientBirthDate",
    "PatientBirthName", "PatientBirthTime", "PatientComments", "PatientID", "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName", "PatientName", "PatientReligiousPreference", "PatientTelephoneNumbers",
    "PerformedProcedureStepID", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformingPhysicianName", "PhysiciansOfRecord", "ReferringPhysicianAddress", "ReferringPhysicianName",
    "ReferringPhysicianTelephoneNumbers", "RequestingPhysician", "RequestedProcedureID", "ScheduledProcedureStepID",
    "SeriesDate", "SeriesInstanceUID", "SeriesTime", "SOPInstanceUID", "StationName", "StudyDate",
    "StudyDescription", "StudyID", "StudyInstanceUID", "StudyTime", "MediaStorageSOPInstanceUID",
)

#: Shorter values match too much ordinary text ("M", "1", "CT") to be searched for safely.
MIN_LENGTH = 4


class PrivacyError(MedblinkError):
    """An identifying value from an input file was about to be written to the output."""


def identifying_values(ds: Any) -> dict[str, str]:
    """Identifying values of one dataset (header only), with the keyword each came from."""
    found: dict[str, str] = {}

    def add(keyword: str, value: Any) -> None:
        if value is None:
            return
        values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for v in values:
            text = str(v).strip()
            parts = [text, *re.split(r"[\\^=]+", text)] if keyword.endswith("Name") else [text]
            for part in parts:
                part = part.strip()
                if len(part) >= MIN_LENGTH:
                    found.setdefault(part, keyword)

    for keyword in IDENTIFYING_KEYWORDS:
        if keyword in ds:
            add(keyword, ds.get(keyword))
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        add("MediaStorageSOPInstanceUID", meta.MediaStorageSOPInstanceUID)
    return found


def identifiers_of_files(paths: Iterable[Path]) -> dict[str, str]:
    """Identifying values across the DICOM files among `paths` (others are ignored)."""
    import pydicom

    from .readers import sniff_format

    found: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(512)
            if sniff_format(head, path.suffix) != "dicom":
                continue
            ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
        except Exception:  # unreadable files have already been reported by the reader
            continue
        for value, keyword in identifying_values(ds).items():
            found.setdefault(value, f"{keyword} of {path.name}")
    return found


def _pattern(value: str, origin: str) -> re.Pattern[str]:
    """A whole-token match: a date inside a sha256 or a given name inside 'marker' is not a hit.

    Name parts match case-insensitively (archives write names in upper case), the rest exactly.
    """
    flags = re.IGNORECASE if "Name" in origin.split(" of ")[0] else 0
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", flags)


def check_texts(texts: Iterable[str], identifiers: dict[str, str], exempt: Iterable[str], where: str) -> None:
    """Raise PrivacyError if any identifier (not part of an exempt path) occurs in `texts`."""
    exempt_text = "\n".join(exempt)
    active = {v: k for v, k in identifiers.items() if not _pattern(v, k).search(exempt_text)}
    if not active:
        return
    haystack = "\n".join(texts)
    for value, origin in active.items():
        if _pattern(value, origin).search(haystack):
            raise PrivacyError(f"{where}: the {origin} would be written to the output; the build was stopped")


def example_texts(example: Any) -> list[str]:
    """Every text an Example contributes to its row (images are pixels, checked elsewhere)."""
    import json

    question = example.question
    return [
        question.text,
        *question.choices,
        json.dumps(example.label, default=str),
        json.dumps(example.details, default=str),
        json.dumps(example.transforms, default=str),
        example.derivation,
        example.key,
    ]
