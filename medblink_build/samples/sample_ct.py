"""Built-in sample CT sources: synthetic abdominal phantoms in real DICOM and NIfTI files.

Two sources, written on demand so the CT recipes run with no downloads (phantoms: CC0-1.0):

- `medblink-sample-ct-series` (enhancement): one DICOM series per case, with and without IV
  contrast, in several transfer syntaxes and with shuffled file names. The contrast evidence is
  varied the way real archives vary it: ContrastBolusAgent set, a negating agent, a
  SeriesDescription naming the phase or saying non-contrast, and one series whose only tag is
  present but empty (no evidence: the recipe must skip it). One case is single-slice files with
  the contrast flag in `overview.csv` instead, like the Kaggle/TCIA "CT Medical Images" set.
- `medblink-sample-ct-seg` (relative position): the TotalSegmentator layout, `sNNNN/ct.nii.gz`
  plus `sNNNN/segmentations/<class>.nii.gz`, one subject stored in a flipped axis order (the
  reader must canonicalise it), and one whose liver mask is on a different grid (skipped).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .phantoms_ct import ORGANS, abdomen
from .volume_writer import write_ct_series, write_nifti

EXPLICIT_LE = "1.2.840.10008.1.2.1"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"

#: (contrast given, ContrastBolusAgent or None for absent, SeriesDescription, transfer syntax, names)
SERIES_CASES: tuple[tuple[bool, str | None, str, str, str], ...] = (
    (True, "OMNIPAQUE 350", "ABD PORTAL VENOUS", EXPLICIT_LE, "instance"),
    (False, None, "ABDOMEN W/O CONTRAST", RLE, "shuffled"),
    (True, "IOPAMIDOL", "ABDOMEN", J2K_LOSSLESS, "shuffled"),
    (False, "NONE", "ABDOMEN", EXPLICIT_LE, "instance"),
    (True, None, "ARTERIAL PHASE", RLE, "instance"),
    (False, None, "CT ABDOMEN NON-CON", EXPLICIT_LE, "shuffled"),
    (True, "", "ABDOMEN", EXPLICIT_LE, "instance"),  # present but empty, neutral description: no evidence
)
SHAPE = (24, 96, 96)
SPACING = (6.0, 3.0, 3.0)


def write_ct_series_sample(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i, (contrast, agent, description, syntax, names) in enumerate(SERIES_CASES):
        phantom = abdomen(i, shape=SHAPE, spacing=SPACING, contrast=contrast)
        write_ct_series(
            dest / "series" / f"case_{i:03d}",
            phantom.hu,
            phantom.spacing,
            phantom.origin,
            uid_seed=f"medblink-sample-ct/series/{i}",
            transfer_syntax=syntax,
            series_description=description,
            contrast_agent=agent,
            file_names=names,
        )
    rows = []
    for i, contrast in enumerate((True, False)):
        phantom = abdomen(100 + i, shape=SHAPE, spacing=SPACING, contrast=contrast)
        k = SHAPE[0] // 2
        name = f"ID_{i:04d}_CONTRAST_{int(contrast)}_CT.dcm"
        (written,) = write_ct_series(
            dest / "single" / name.removesuffix(".dcm"),
            phantom.hu[k : k + 1],
            phantom.spacing,
            tuple(np.add(phantom.origin, (0.0, 0.0, k * SPACING[0]))),
            uid_seed=f"medblink-sample-ct/single/{i}",
            contrast_agent=None,
        )
        target = dest / "single" / name
        written.rename(target)
        written.parent.rmdir()
        rows.append({"dicom_name": name, "Contrast": int(contrast)})
    with open(dest / "overview.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["dicom_name", "Contrast"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return dest


def write_ct_seg_sample(dest: Path, subjects: int = 6) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    meta = ["image_id;age;gender"]
    for s in range(1, subjects + 1):
        folder = dest / f"s{s:04d}"
        phantom = abdomen(200 + s, shape=SHAPE, spacing=SPACING, contrast=bool(s % 2))
        flip = s == 2  # stored with x and z reversed; the affine says so
        write_nifti(folder / "ct.nii.gz", phantom.hu, phantom.spacing, phantom.origin, flip_axes=(0, 2) if flip else ())
        for organ_id, name in ORGANS.items():
            mask = (phantom.labels == organ_id).astype(np.uint8)
            if s == 3 and name == "liver":  # a mask on another grid: must be skipped, not used
                mask = mask[:, :-4, :]
            write_nifti(
                folder / "segmentations" / f"{name}.nii.gz",
                mask,
                phantom.spacing,
                phantom.origin,
                flip_axes=(0, 2) if flip else (),
            )
        meta.append(f"s{s:04d};{40 + s};{'mf'[s % 2]}")
    (dest / "meta.csv").write_text("\n".join(meta) + "\n", encoding="utf-8")
    return dest
