"""Burned-in text: output images that can carry text in their pixels are read with Tesseract.

Ultrasound, angiography, secondary captures and screen captures, and X-rays (CR/DX), as well as
any image whose source does not vouch BurnedInAnnotation = NO in every input, often carry a name,
an ID, a date or an institution in the pixels. Each such output image (after the recipe's crops
and resizes: what is checked is what is written) is read by Tesseract once, downscaled to at most
OCR_MAX_SIDE and thresholded so bright overlay text stands out. The words read are matched
against the item's own identifiers (`privacy.py`) and against generic patterns: dates, long digit
runs, DOB, MRN, `ID` followed by digits. A hit skips the item (`burned_in_text`).

Images the toolkit generated itself (built-in samples) carry no patient text and are not read.
Without a `tesseract` executable an image that needs reading fails the build with a one-line
error: the check is never silently passed. OCR misses stylised, faint or tiny text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MedblinkError

OCR_MAX_SIDE = 1024  # px: bounds the cost; overlay text stays legible at this size
OCR_MIN_SIDE = 400  # px: small images are enlarged so their text reaches Tesseract's range
BRIGHT = 200  # grey level from which a pixel counts as overlay text
OCR_TIMEOUT_S = 60

#: DICOM modalities whose images often carry burned-in text.
TEXT_MODALITIES = frozenset({"US", "XA", "RF", "SC", "OT", "CR", "DX", "DR", "RG", "MG", "IO", "PX", "XC", "ES", "DOC"})
#: Secondary capture SOP classes (1.2.840.10008.5.1.4.1.1.7 and its multi-frame variants).
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
#: Words of an Example's modality that mean an image that often carries text.
TEXT_MODALITY_WORDS = ("x-ray", "xray", "radiograph", "ultrasound", "angiograph", "fluoroscop", "screen", "capture")

#: Generic patterns of identifying text, whatever the file's header says.
GENERIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a date", re.compile(r"(?<!\d)(\d{1,2}[-/.]\d{1,2}[-/.](\d{4}|\d{2})|\d{4}[-/.]\d{1,2}[-/.]\d{1,2})(?!\d)")),
    ("a long digit run", re.compile(r"(?<!\d)\d{6,}(?!\d)")),
    ("a DOB label", re.compile(r"\b(D\.?O\.?B|BIRTH|BORN)\b", re.IGNORECASE)),
    ("an MRN label", re.compile(r"\bMRN\b", re.IGNORECASE)),
    ("an ID number", re.compile(r"\bI[Dd]\s*(No\.?|#|:)?\s*\d{3,}")),
)


class OcrUnavailable(MedblinkError):
    """Tesseract is needed to check an image for burned-in text and is not installed."""


def may_carry_text(item: Any, modality: str, parsed: Mapping[Path, Any] | None = None) -> bool:
    """Whether the item's output images must be read: its inputs are X-ray, ultrasound, captures
    or the like, or not every DICOM input vouches BurnedInAnnotation = NO (non-DICOM never does).
    `parsed` holds DICOM headers the readers already parsed: those files are not opened again."""
    if getattr(item, "synthetic", False):
        return False
    if any(word in modality.lower() for word in TEXT_MODALITY_WORDS):
        return True
    parsed = parsed or {}
    facts = [
        _facts_of(parsed[item.path(i)]) if item.path(i) in parsed else _header_facts(item.path(i))
        for i in range(len(item.files))
    ]
    dicom = [f for f in facts if f is not None]
    if not dicom:
        return True
    for modality_code, sop_class, burned_in, image_type in dicom:
        if modality_code in TEXT_MODALITIES or sop_class.startswith(SECONDARY_CAPTURE) or "SCREEN" in image_type:
            return True
        if burned_in != "NO":
            return True
    return False


def _header_facts(path: Path) -> tuple[str, str, str, str] | None:
    """(Modality, SOPClassUID, BurnedInAnnotation, ImageType) of a DICOM file; None for other files."""
    import pydicom

    from .readers import sniff_format

    try:
        with open(path, "rb") as f:
            head = f.read(512)
        if sniff_format(head, path.suffix) != "dicom":
            return None
        ds = pydicom.dcmread(
            str(path),
            stop_before_pixels=True,
            force=True,
            specific_tags=["Modality", "SOPClassUID", "BurnedInAnnotation", "ImageType"],
        )
    except Exception:  # unreadable: the reader reported it; the image cannot be vouched for
        return ("", "", "", "")
    return _facts_of(ds)


def _facts_of(ds: Any) -> tuple[str, str, str, str]:
    image_type = "\\".join(str(v) for v in ds.get("ImageType", []) or [])
    return (
        str(ds.get("Modality", "")).upper(),
        str(ds.get("SOPClassUID", "")),
        str(ds.get("BurnedInAnnotation", "")).upper(),
        image_type.upper(),
    )


@cache
def _tesseract() -> Any:
    import os

    import pytesseract

    # One OpenMP thread per tesseract run (tesseract's own advice for parallel use): the build's
    # workers already use every core, and tesseract's threads would only compete with them.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        pytesseract.get_tesseract_version()
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise OcrUnavailable(
            "tesseract is not installed (Debian: apt-get install tesseract-ocr), so images that can carry "
            "burned-in text cannot be checked; the build was stopped"
        ) from exc
    return pytesseract


def prepared(png: bytes) -> Any:
    """The image as Tesseract reads it: greyscale, scaled into [OCR_MIN_SIDE, OCR_MAX_SIDE], bright text black."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        grey = im.convert("L")
    w, h = grey.size
    scale = min(1.0, OCR_MAX_SIDE / max(w, h))
    if min(w, h) * scale < OCR_MIN_SIDE:
        scale = min(OCR_MIN_SIDE / min(w, h), 4.0)
    if scale != 1.0:
        grey = grey.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey)
    return Image.fromarray(np.where(pixels >= BRIGHT, 0, 255).astype(np.uint8))


def read_text(png: bytes) -> str:
    """The words Tesseract reads in one encoded image."""
    tesseract = _tesseract()
    image = prepared(png)
    if not (np.asarray(image) == 0).any():
        return ""  # nothing bright enough to be overlay text
    try:
        return str(tesseract.image_to_string(image, config="--psm 11", timeout=OCR_TIMEOUT_S))
    except RuntimeError as exc:  # pytesseract's timeout
        raise MedblinkError(f"tesseract did not finish within {OCR_TIMEOUT_S} s: {exc}") from exc


def burned_in_hit(images: Iterable[bytes], identifiers: Iterable[Any]) -> str | None:
    """What identifying text the images show (an attribute or a pattern kind, never the text), or None."""
    from .privacy import first_hit

    identifiers = list(identifiers)
    for n, png in enumerate(images, start=1):
        text = " ".join(read_text(png).split())
        if not text:
            continue
        hit = first_hit([text, text.replace("*", "^")], identifiers)
        if hit is not None:
            return f"image {n} shows the {hit.origin} as burned-in text"
        for kind, pattern in GENERIC_PATTERNS:
            if pattern.search(text):
                return f"image {n} shows burned-in text that looks like {kind}"
    return None
