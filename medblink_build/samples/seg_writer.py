"""Write DICOM Segmentation (SEG) objects for a CT series written by `write_ct_series`, with pydicom.

A real Segmentation Storage instance (SOP class 1.2.840.10008.5.1.4.1.1.66.4): SegmentSequence with
SNOMED CT category/type codes, shared PlaneOrientation / PixelMeasures, per-frame FrameContent
(DimensionIndexValues = segment number, slice number), PlanePosition and SegmentIdentification,
ReferencedSeriesSequence naming the CT slices, and the CT's FrameOfReferenceUID, study and patient.
Only non-empty frames are stored, as real SEGs do. BINARY frames are 1 bit packed with
`pydicom.pixels.pack_bits`; FRACTIONAL ones are 8 bit with MaximumFractionalValue 255 (a mask value
in [0, 1] is stored as round(value * 255)). UIDs come from `uid_seed`, so the same call writes the
same bytes. Masks are [z, y, x] in the LPS+ convention, axial, on the grid the CT was written with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MedblinkError
from ..readers.dicom_seg import SEG_SOP_CLASS, normalise_label
from .dicom_common import new_dataset, save
from .volume_writer import EXPLICIT_VR_LE, _ds

MAX_FRACTIONAL = 255

_TISSUE = ("85756007", "Tissue")
_ANATOMY = ("91723000", "Anatomical Structure")
_ALTERED = ("49755003", "Morphologically Altered Structure")

#: normalised label -> (category, type) SNOMED CT codes (SCT), as in the DICOM CID 7150/7151 tables.
CODES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "liver": (_TISSUE, ("10200004", "Liver")),
    "spleen": (_TISSUE, ("78961009", "Spleen")),
    "aorta": (_TISSUE, ("15825003", "Aorta")),
    "portal_vein": (_TISSUE, ("32764006", "Portal vein")),
    "kidney": (_TISSUE, ("64033007", "Kidney")),
    "mass": (_ALTERED, ("4147007", "Mass")),
    "tumor": (_ALTERED, ("108369006", "Tumor")),
}


def _item(**kw: Any) -> Any:
    from pydicom.dataset import Dataset

    d = Dataset()
    for key, value in kw.items():
        setattr(d, key, value)
    return d


def _code(value: str, meaning: str) -> Any:
    from pydicom.sequence import Sequence as DicomSequence

    return DicomSequence([_item(CodeValue=value, CodingSchemeDesignator="SCT", CodeMeaning=meaning)])


def write_dicom_seg(
    path: str | Path,
    masks: Mapping[str, np.ndarray],
    reference: Sequence[str | Path],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    uid_seed: str,
    fractional: bool = False,
    z_shift_mm: float = 0.0,
    frame_of_reference_uid: str | None = None,
) -> Path:
    """Write `masks` (SegmentLabel -> [z, y, x] array) as one SEG for the CT slices `reference`.

    `reference` is what `write_ct_series` returned (canonical axial LPS, default `iop`), and
    `spacing` / `origin` are what it was given. Segment numbers follow the order of `masks`.
    Test knobs: `z_shift_mm` moves every frame along z; `frame_of_reference_uid` replaces the CT's.
    """
    import pydicom
    from pydicom.pixels import pack_bits
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import generate_uid

    if not masks:
        raise MedblinkError("a SEG needs at least one segment")
    arrays = {label: np.asarray(m) for label, m in masks.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise MedblinkError(f"masks must be 3-D [z, y, x] arrays of one shape, got {sorted(shapes)}")
    n_slices, n_rows, n_cols = next(iter(shapes))
    cts = [pydicom.dcmread(str(p), stop_before_pixels=True) for p in reference]
    ct = cts[0]
    if (int(ct.Rows), int(ct.Columns)) != (n_rows, n_cols):
        raise MedblinkError(f"masks are {n_rows}x{n_cols} per slice, the CT {ct.Rows}x{ct.Columns}")
    if np.abs(np.asarray([float(v) for v in ct.ImageOrientationPatient]) - (1, 0, 0, 0, 1, 0)).max() > 1e-6:
        raise MedblinkError("write_dicom_seg supports CT series stored axial in the canonical LPS layout only")
    sz, sy, sx = (float(v) for v in spacing)

    ds = new_dataset(SEG_SOP_CLASS, EXPLICIT_VR_LE, uid_seed, "SEG", "segmentation")
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[uid_seed, "segmentation", "series"])
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "StudyID", "PatientPosition"):
        if keyword in ct:
            setattr(ds, keyword, ct.data_element(keyword).value)
    ds.FrameOfReferenceUID = frame_of_reference_uid or ct.FrameOfReferenceUID
    ds.PositionReferenceIndicator = ""
    ds.SeriesNumber = 300
    ds.SeriesDescription = "Segmentation"
    ds.InstanceNumber = 1
    ds.Manufacturer = "medblink-build"
    ds.ManufacturerModelName = "seg_writer"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "1"
    ds.ContentDate, ds.ContentTime = "20000101", "000000"
    ds.ContentLabel = "SEGMENTATION"
    ds.ContentDescription = "phantom segmentation"
    ds.ContentCreatorName = "Phantom^Writer"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.LossyImageCompression = "00"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.Rows, ds.Columns = n_rows, n_cols
    if fractional:
        ds.SegmentationType = "FRACTIONAL"
        ds.SegmentationFractionalType = "PROBABILITY"
        ds.MaximumFractionalValue = MAX_FRACTIONAL
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        ds.SegmentationType = "BINARY"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0

    segments = []
    for number, label in enumerate(arrays, start=1):
        category, kind = CODES.get(normalise_label(label), (_ANATOMY, ("91723000", label)))
        segments.append(
            _item(
                SegmentNumber=number,
                SegmentLabel=label,
                SegmentAlgorithmType="MANUAL",
                SegmentedPropertyCategoryCodeSequence=_code(*category),
                SegmentedPropertyTypeCodeSequence=_code(*kind),
            )
        )
    ds.SegmentSequence = DicomSequence(segments)

    dim_uid = generate_uid(entropy_srcs=[uid_seed, "segmentation", "dimensions"])
    ds.DimensionOrganizationSequence = DicomSequence([_item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionIndexSequence = DicomSequence(
        [
            _item(
                DimensionOrganizationUID=dim_uid,
                DimensionIndexPointer=0x0062000B,  # Referenced Segment Number
                FunctionalGroupPointer=0x0062000A,  # Segment Identification Sequence
                DimensionDescriptionLabel="Segment Number",
            ),
            _item(
                DimensionOrganizationUID=dim_uid,
                DimensionIndexPointer=0x00200032,  # Image Position (Patient)
                FunctionalGroupPointer=0x00209113,  # Plane Position Sequence
                DimensionDescriptionLabel="Image Position Patient",
            ),
        ]
    )
    ds.SharedFunctionalGroupsSequence = DicomSequence(
        [
            _item(
                PlaneOrientationSequence=DicomSequence(
                    [_item(ImageOrientationPatient=[_ds(v) for v in ct.ImageOrientationPatient])]
                ),
                PixelMeasuresSequence=DicomSequence(
                    [_item(PixelSpacing=[_ds(sy), _ds(sx)], SliceThickness=_ds(sz), SpacingBetweenSlices=_ds(sz))]
                ),
            )
        ]
    )
    by_slice = {}
    for c in cts:
        k = round((float(c.ImagePositionPatient[2]) - float(origin[2])) / sz)
        by_slice[k] = c

    per_frame, frames = [], []
    for number, mask in enumerate(arrays.values(), start=1):
        for k in range(n_slices):
            plane = mask[k]
            if not plane.any():
                continue
            ipp = (float(origin[0]), float(origin[1]), float(origin[2]) + k * sz + z_shift_mm)
            frame = _item(
                FrameContentSequence=DicomSequence([_item(DimensionIndexValues=[number, k + 1])]),
                PlanePositionSequence=DicomSequence([_item(ImagePositionPatient=[_ds(v) for v in ipp])]),
                SegmentIdentificationSequence=DicomSequence([_item(ReferencedSegmentNumber=number)]),
            )
            source = by_slice.get(k)
            if source is not None:
                frame.DerivationImageSequence = DicomSequence(
                    [
                        _item(
                            SourceImageSequence=DicomSequence(
                                [
                                    _item(
                                        ReferencedSOPClassUID=source.SOPClassUID,
                                        ReferencedSOPInstanceUID=source.SOPInstanceUID,
                                    )
                                ]
                            )
                        )
                    ]
                )
            per_frame.append(frame)
            if fractional:
                frames.append(np.clip(np.rint(plane.astype(np.float64) * MAX_FRACTIONAL), 0, MAX_FRACTIONAL))
            else:
                frames.append(plane != 0)
    if not frames:
        raise MedblinkError("every mask is empty: a SEG stores at least one frame")
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.NumberOfFrames = len(frames)
    ds.ReferencedSeriesSequence = DicomSequence(
        [
            _item(
                SeriesInstanceUID=ct.SeriesInstanceUID,
                ReferencedInstanceSequence=DicomSequence(
                    [_item(ReferencedSOPClassUID=c.SOPClassUID, ReferencedSOPInstanceUID=c.SOPInstanceUID) for c in cts]
                ),
            )
        ]
    )
    stack = np.stack(frames)
    ds.PixelData = stack.astype(np.uint8).tobytes() if fractional else pack_bits(stack.astype(np.uint8))
    ds.set_original_encoding(False, True)
    return save(ds, path)
