"""What every DICOM file the toolkit writes shares: file meta, seeded identity, pixel encoding.

The X-ray, CT and ultrasound writers set their own modules on top. UIDs come from `uid_seed`
(pydicom's `generate_uid(entropy_srcs=...)`) and compression keeps them (`ds.compress` would
otherwise mint a new SOP Instance UID), so the same call always writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MedblinkError


def new_dataset(sop_class: str, transfer_syntax: str, uid_seed: str, modality: str, instance: str = "") -> Any:
    """A dataset with file meta, SOP identity, study/series UIDs and an anonymous phantom patient.

    `instance` tells apart the files of one series (the study and series UIDs stay shared).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[uid_seed, "sop", *([instance] if instance else [])])
    meta.TransferSyntaxUID = UID(transfer_syntax)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[uid_seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[uid_seed, "series"])
    ds.Modality = modality
    ds.PatientName = "Anonymous^Phantom"
    ds.PatientID = "PHANTOM"
    return ds


def set_pixels(ds: Any, stored: np.ndarray, little_endian_dtype: str | None = None) -> None:
    """Native pixel bytes, or compressed with the dataset's transfer syntax (UIDs kept)."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax.is_compressed:
        ds.compress(syntax, stored, generate_instance_uid=False)
    else:
        if syntax.is_little_endian is False:
            raise MedblinkError("big-endian output is not supported by the toolkit's DICOM writers")
        arr = np.ascontiguousarray(stored, dtype=little_endian_dtype) if little_endian_dtype else stored
        ds.PixelData = arr.tobytes()
    ds.set_original_encoding(syntax.is_implicit_VR, syntax.is_little_endian)


def save(ds: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out
