"""What a file is, from its first bytes and its suffix: DICOM (with or without the preamble) or a
raster image. Cheap (no full read, no parse); the reader then decides."""

from __future__ import annotations

from .raster import RASTER_SUFFIXES

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
IMAGE_SUFFIXES = DICOM_SUFFIXES | RASTER_SUFFIXES

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "raster",
    b"\xff\xd8\xff": "raster",
    b"II*\x00": "raster",
    b"MM\x00*": "raster",
    b"II+\x00": "raster",
    b"MM\x00+": "raster",
}


_DICOM_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)


def looks_like_dicom(head: bytes) -> bool:
    """Whether the first 132+ bytes are DICOM: the `DICM` marker after the 128-byte preamble, or
    (no preamble, as old PACS exports write) a first element of group 0002 or 0008 with an
    explicit VR or a plausible implicit-VR length. A cheap sniff: the reader decides."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    return head[4:6] in _DICOM_VRS or int.from_bytes(head[4:8], "little") < 0x1000


def sniff_format(head: bytes, suffix: str = "") -> str | None:
    """'dicom', 'raster' or None, from the first 132+ bytes of a file and its suffix."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    suffix = suffix.lower()
    if suffix in DICOM_SUFFIXES or looks_like_dicom(head):
        return "dicom"  # e.g. preamble-less DICOM; the reader decides
    if suffix in RASTER_SUFFIXES:
        return "raster"
    return None
