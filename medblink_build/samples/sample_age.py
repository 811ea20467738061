"""The built-in sample age source: synthetic radiographs whose age is recorded the ways real data record it.

Written on demand (nothing to download) so `medblink-build recipe age` runs on a fresh machine.

- `dicom/dx_NNN.dcm`: DX DICOMs (synthetic chest and pelvis phantoms) with PatientAge in each
  DICOM Age String unit (045Y, 018M, 006W, 010D, ...), one with PatientBirthDate and StudyDate
  only, one whose PatientAge disagrees with its dates, one malformed PatientAge, one malformed
  birth date, one within a year of a bin boundary, one implausible (130Y), one with no age at all,
  one CT-modality file (not an X-ray) and one with BurnedInAnnotation YES (skipped by the toolkit).
- `png/img_NNN.png` with `labels.csv` (`path`, `age` in years, `anatomy`), like the NIH ChestX-ray14 table:
  plain years, one that is not a number and one implausible.

File names carry no age. `AGE_CASES` gives every file's expected age group or skip reason; the
recorded values are planted so a test can check that none of them reaches an output folder.
The phantoms are synthetic and released under CC0-1.0.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .dicom_writer import write_radiograph
from .phantoms import chest_pa, pelvis_ap


@dataclass(frozen=True)
class AgeCase:
    """One sample file: the tags or table value written, and what the recipe must conclude."""

    expected: str  # an age group id, or the skip reason
    tags: dict[str, str] = field(default_factory=dict)  # DICOM keywords (DICOM files)
    table_age: str | None = None  # labels.csv `age` (raster files)


AGE_CASES: dict[str, AgeCase] = {
    "dicom/dx_000.dcm": AgeCase("adult", {"PatientAge": "045Y"}),
    "dicom/dx_001.dcm": AgeCase("child", {"PatientAge": "018M"}),
    "dicom/dx_002.dcm": AgeCase("child", {"PatientAge": "006W"}),
    "dicom/dx_003.dcm": AgeCase("child", {"PatientAge": "010D"}),
    "dicom/dx_004.dcm": AgeCase("older_adult", {"PatientAge": "072Y"}),
    "dicom/dx_005.dcm": AgeCase("adolescent", {"PatientAge": "015Y"}),
    "dicom/dx_006.dcm": AgeCase("older_adult", {"PatientBirthDate": "19480312", "StudyDate": "20200615"}),
    "dicom/dx_007.dcm": AgeCase(
        "adult", {"PatientAge": "033Y", "PatientBirthDate": "19870204", "StudyDate": "20200917"}
    ),
    "dicom/dx_008.dcm": AgeCase(
        "age_conflict", {"PatientAge": "029Y", "PatientBirthDate": "19610722", "StudyDate": "20210301"}
    ),
    "dicom/dx_009.dcm": AgeCase("age_malformed", {"PatientAge": "4.5Y"}),
    "dicom/dx_010.dcm": AgeCase("age_malformed", {"PatientBirthDate": "19531397", "StudyDate": "20190101"}),
    "dicom/dx_011.dcm": AgeCase("age_near_boundary", {"PatientAge": "064Y"}),
    "dicom/dx_012.dcm": AgeCase("age_implausible", {"PatientAge": "130Y"}),
    "dicom/dx_013.dcm": AgeCase("no_age", {}),
    "dicom/dx_014.dcm": AgeCase("wrong_modality", {"PatientAge": "052Y", "Modality": "CT"}),
    "dicom/dx_015.dcm": AgeCase("adult", {"PatientAge": "027Y"}),
    "dicom/dx_016.dcm": AgeCase("child", {"PatientAge": "007Y"}),
    "dicom/dx_017.dcm": AgeCase("older_adult", {"PatientAge": "081Y"}),
    "dicom/dx_018.dcm": AgeCase("burned_in_annotation", {"PatientAge": "038Y", "BurnedInAnnotation": "YES"}),
    "png/img_000.png": AgeCase("child", table_age="8"),
    "png/img_001.png": AgeCase("adolescent", table_age="16"),
    "png/img_002.png": AgeCase("adult", table_age="41"),
    "png/img_003.png": AgeCase("older_adult", table_age="77"),
    "png/img_004.png": AgeCase("age_near_boundary", table_age="17"),
    "png/img_005.png": AgeCase("age_malformed", table_age="about fifty"),
    "png/img_006.png": AgeCase("age_implausible", table_age="411"),
    "png/img_007.png": AgeCase("adolescent", table_age="14"),
}


def write_age_sample(dest: Path, *, size: int = 256) -> Path:
    """Write the sample source into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (rel, case) in enumerate(AGE_CASES.items()):
        make, body_part, view = (chest_pa, "CHEST", "PA") if i % 3 else (pelvis_ap, "PELVIS", "AP")
        pixels = make(i, size)
        if rel.endswith(".dcm"):
            with warnings.catch_warnings():  # the malformed values are the point: no validation noise
                warnings.simplefilter("ignore")
                write_radiograph(
                    dest / rel,
                    pixels,
                    uid_seed=f"medblink-sample-age/{rel}",
                    body_part=body_part,
                    view_position=view,
                    window=(2048.0, 4096.0),
                    extra=case.tags,
                )
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((pixels >> 4).astype(np.uint8)).save(dest / rel, compress_level=6)
            rows.append({"path": rel, "age": case.table_age or "", "anatomy": body_part.lower()})
    with open(dest / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "age", "anatomy"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (dest / "README.txt").write_text(
        "Synthetic radiograph phantoms with recorded ages, written by medblink-build (CC0-1.0). Not patient data.\n",
        encoding="utf-8",
    )
    return dest
