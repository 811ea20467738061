"""The built-in sample X-ray source: synthetic chest and pelvis radiographs in real file formats.

Written on demand (nothing to download) so `medblink-build recipe orientation` runs on a fresh
machine. The files exercise the readers the way real sources do: DICOM in several transfer
syntaxes, with and without a window, a MONOCHROME1 image, an image stored mirrored with
PatientOrientation saying so (canonicalised), a lateral view (skipped: not frontal), 8-bit PNG and
16-bit TIFF with a labels.csv, and a README that is not an image. The phantoms are CC0-1.0.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from .dicom_writer import write_radiograph
from .phantoms import chest_pa, pelvis_ap

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
_SYNTAXES = (EXPLICIT_LE, RLE, J2K_LOSSLESS, JPEG_LS_LOSSLESS, IMPLICIT_LE)


def write_xray_sample(dest: Path, *, size: int = 512, per_anatomy: int = 8) -> Path:
    """Write the sample source into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    labels: list[dict[str, str]] = []
    for anatomy, make, body_part, view in (("chest", chest_pa, "CHEST", "PA"), ("pelvis", pelvis_ap, "PELVIS", "AP")):
        for i in range(per_anatomy):
            pixels = make(i, size)
            syntax = _SYNTAXES[i % len(_SYNTAXES)]
            window = (2048.0, 4096.0) if i % 2 == 0 else None
            orientation: tuple[str, str] = ("L", "F")
            photometric = "MONOCHROME2"
            view_position = view
            if i == 3:  # stored mirrored, and the header says so: must be canonicalised
                pixels, orientation = np.ascontiguousarray(pixels[:, ::-1]), ("R", "F")
            if i == 5:  # MONOCHROME1: low values bright
                pixels, photometric = (4095 - pixels).astype(np.uint16), "MONOCHROME1"
            if i == 1 and anatomy == "chest":  # a lateral view: not usable for a frontal question
                view_position, orientation = "LL", ("P", "F")
            write_radiograph(
                dest / anatomy / f"{anatomy}_{i:03d}.dcm",
                pixels,
                uid_seed=f"medblink-sample/{anatomy}/{i}",
                transfer_syntax=syntax,
                photometric=photometric,
                patient_orientation=orientation,
                view_position=view_position,
                body_part=body_part,
                window=window,
            )
        # The same kind of image as plain raster files, described by labels.csv.
        for i in range(per_anatomy, per_anatomy + 2):
            pixels = make(i, size)
            if anatomy == "chest":
                rel = f"png/{anatomy}_{i:03d}.png"
                Image.fromarray((pixels >> 4).astype(np.uint8)).save(dest / _mkparent(dest, rel), compress_level=6)
            else:
                rel = f"tiff/{anatomy}_{i:03d}.tif"
                Image.fromarray(pixels.astype(np.uint16) << 4).save(dest / _mkparent(dest, rel))
            labels.append({"path": rel, "anatomy": anatomy, "view": view})
    with open(dest / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "anatomy", "view"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(labels)
    (dest / "README.txt").write_text(
        "Synthetic radiograph phantoms written by medblink-build (CC0-1.0). Not patient data.\n", encoding="utf-8"
    )
    return dest


def _mkparent(dest: Path, rel: str) -> str:
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    return rel
