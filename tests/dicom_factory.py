"""Small builders of test images, on top of `medblink_build.samples.dicom_writer.write_radiograph`.

Good files: phantom arrays, DX files in every transfer syntax the readers claim (the ones
`write_radiograph` cannot encode itself -- JPEG baseline and JPEG lossless -- are written here by
encoding the frame and encapsulating it into a dataset that `write_radiograph` made), VOI LUT
Sequences. Broken files: empty, truncated, without pixel data, lying about their size, text with an
image suffix, PNGs with damaged chunks or an IHDR declaring 100000x100000 pixels.

Everything is deterministic and small (64x64 by default) so the reader tests run in seconds.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medblink_build.samples.dicom_writer import write_radiograph

# Transfer syntax UIDs used by the tests.
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEGLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS_P14 = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"

#: Syntaxes `write_radiograph` writes by itself (uncompressed or through `Dataset.compress`).
NATIVE_WRITER_SYNTAXES = (EXPLICIT_VR_LE, IMPLICIT_VR_LE, RLE_LOSSLESS, JPEG2000_LOSSLESS, JPEGLS_LOSSLESS)


# --------------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------------


def full_range_ramp(bits: int = 12, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A uint16 ramp whose values spread evenly over 0..2**bits-1 (for 12 bits and 64x64 every
    stored value occurs exactly once), so a window test sees below, inside and above the window."""
    n = shape[0] * shape[1]
    top = 2**bits - 1
    values = np.rint(np.linspace(0, top, n)).astype(np.uint32)
    return values.reshape(shape).astype(np.uint16 if bits > 8 else np.uint8)


def smooth_phantom(shape: tuple[int, int] = (64, 64), *, maximum: int = 255) -> np.ndarray:
    """A smooth image (diagonal gradient plus a soft disc) that lossy JPEG keeps close to exact."""
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    ramp = (x / max(cols - 1, 1) + y / max(rows - 1, 1)) / 2.0
    r2 = ((x - cols / 2) ** 2 + (y - rows / 2) ** 2) / (min(rows, cols) / 3) ** 2
    disc = 0.25 * np.exp(-r2)
    img = 0.1 + 0.65 * ramp + disc
    out = np.rint(np.clip(img, 0, 1) * maximum)
    return out.astype(np.uint8 if maximum <= 255 else np.uint16)


def outlier_array(
    shape: tuple[int, int] = (64, 64),
    *,
    bulk: tuple[int, int] = (1000, 3000),
    outliers: tuple[int, int] = (0, 4095),
    n_outliers: int = 8,
    n_plateau: int = 100,
    seed: int = 7,
) -> np.ndarray:
    """A shuffled uint16 image: `n_outliers` pixels at each outlier value (well under 0.5 % of the
    pixels), `n_plateau` pixels exactly at each end of the bulk, the rest a ramp between them.

    The plateaus make the 0.5th and 99.5th percentiles equal to the bulk's ends whatever
    interpolation rule a percentile uses, so the expected window is exact: bulk[0]..bulk[1].
    """
    n = shape[0] * shape[1]
    n_ramp = n - 2 * n_outliers - 2 * n_plateau
    if n_ramp <= 0:
        raise ValueError("shape too small for the requested outliers and plateaus")
    if not (100.0 * (n_outliers + 1) / n <= 0.5 - 1e-9 and 100.0 * (n_outliers + n_plateau) / n > 0.6):
        raise ValueError("outliers/plateaus do not bracket the 0.5th percentile")
    parts = [
        np.full(n_outliers, outliers[0]),
        np.full(n_plateau, bulk[0]),
        np.rint(np.linspace(bulk[0], bulk[1], n_ramp)),
        np.full(n_plateau, bulk[1]),
        np.full(n_outliers, outliers[1]),
    ]
    values = np.concatenate(parts).astype(np.uint16)
    np.random.default_rng(seed).shuffle(values)
    return values.reshape(shape)


# --------------------------------------------------------------------------------------------
# DICOM files
# --------------------------------------------------------------------------------------------


def write_dx(path: str | Path, pixels: np.ndarray, **kwargs: Any) -> Path:
    """`write_radiograph` with a uid_seed derived from the file name unless one is given."""
    kwargs.setdefault("uid_seed", f"test:{Path(path).name}")
    return write_radiograph(path, pixels, **kwargs)


def _encapsulate_into(path: Path, frame: bytes, transfer_syntax: str, **dataset: Any) -> Path:
    """Replace the pixel data of the DX file at `path` by one encapsulated `frame`."""
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.PixelData = encapsulate([frame])
    elem = ds["PixelData"]
    elem.VR = "OB"
    elem.is_undefined_length = True
    for keyword, value in dataset.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_jpeg_baseline(path: str | Path, arr8: np.ndarray, *, quality: int = 95, **kwargs: Any) -> Path:
    """An 8-bit greyscale DX file in JPEG Baseline (Process 1), encoded by Pillow.

    `kwargs` go to `write_radiograph` (window, photometric, ...).
    """
    from PIL import Image

    arr8 = np.asarray(arr8)
    if arr8.dtype != np.uint8 or arr8.ndim != 2:
        raise ValueError("write_jpeg_baseline needs a 2-D uint8 array")
    buf = io.BytesIO()
    Image.fromarray(arr8).save(buf, format="JPEG", quality=quality, progressive=False)
    path = write_dx(path, arr8, transfer_syntax=EXPLICIT_VR_LE, bits_stored=8, **kwargs)
    return _encapsulate_into(
        path,
        buf.getvalue(),
        JPEG_BASELINE,
        LossyImageCompression="01",
        LossyImageCompressionMethod="ISO_10918_1",
    )


def imagecodecs_jpeg_lossless() -> Any:
    """The `imagecodecs` module if it can encode JPEG lossless (process 14), else None."""
    try:
        import imagecodecs
    except ImportError:
        return None
    if not getattr(getattr(imagecodecs, "JPEG8", None), "available", False):
        return None
    try:
        probe = imagecodecs.jpeg8_encode(np.zeros((8, 8), np.uint16), lossless=True, predictor=1, bitspersample=12)
    except Exception:  # an encoder built without lossless / 12-bit support
        return None
    return imagecodecs if b"\xff\xc3" in probe else None  # SOF3 = lossless Huffman


def write_jpeg_lossless(
    path: str | Path, arr: np.ndarray, *, bits_stored: int = 12, predictor: int = 1, **kwargs: Any
) -> Path:
    """A greyscale DX file in JPEG Lossless (Process 14), encoded with imagecodecs/libjpeg-turbo.

    Predictor 1 is written as the Selection Value 1 syntax (1.2.840.10008.1.2.4.70), any other
    predictor as the generic Process 14 syntax (1.2.840.10008.1.2.4.57).
    Raises RuntimeError when imagecodecs cannot encode it (callers skip then).
    """
    codecs = imagecodecs_jpeg_lossless()
    if codecs is None:
        raise RuntimeError("imagecodecs with a lossless-capable JPEG8 codec is not installed")
    arr = np.asarray(arr)
    frame = codecs.jpeg8_encode(arr, lossless=True, predictor=predictor, bitspersample=bits_stored)
    syntax = JPEG_LOSSLESS_SV1 if predictor == 1 else JPEG_LOSSLESS_P14
    path = write_dx(path, arr, transfer_syntax=EXPLICIT_VR_LE, bits_stored=bits_stored, **kwargs)
    return _encapsulate_into(path, bytes(frame), syntax)


def add_voi_lut(
    path: str | Path,
    lut: Sequence[int] | np.ndarray,
    *,
    first_mapped: int = 0,
    bits_per_entry: int = 16,
    explanation: str = "TEST LUT",
) -> Path:
    """Add a VOI LUT Sequence with one item (LUTDescriptor, LUTData as US) to a DICOM file."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    lut = np.asarray(lut, dtype=np.int64)
    n = len(lut)
    if not 0 < n <= 65536:
        raise ValueError("a VOI LUT has 1..65536 entries")
    ds = pydicom.dcmread(path)
    item = Dataset()
    # LUTDescriptor is "US or SS" and LUTData "US or OW": give the VR explicitly.
    item.add_new(0x00283002, "US" if first_mapped >= 0 else "SS", [n % 65536, first_mapped, bits_per_entry])
    item.add_new(0x00283003, "LO", explanation)
    item.add_new(0x00283006, "US", [int(v) for v in lut])
    ds.VOILUTSequence = DicomSequence([item])
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def edit_dicom(path: str | Path, out: str | Path | None = None, **changes: Any) -> Path:
    """Set (or with value None delete) keywords in a DICOM file; write to `out` or in place."""
    import pydicom

    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    target = Path(out) if out is not None else Path(path)
    ds.save_as(target, enforce_file_format=True)
    return target


def write_without_pixel_data(path: str | Path) -> Path:
    """A DX file whose Pixel Data element was removed (the header still says 64x64)."""
    path = write_dx(path, full_range_ramp())
    return edit_dicom(path, PixelData=None)


def write_huge_header_dicom(path: str | Path, rows: int = 65535, columns: int = 65535) -> Path:
    """A small good DX file whose Rows/Columns claim a huge image (US caps them at 65535)."""
    path = write_dx(path, full_range_ramp())
    return edit_dicom(path, Rows=rows, Columns=columns)


def pixel_data_offset(data: bytes) -> int:
    """Byte offset of the (7FE0,0010) Pixel Data tag in an (explicit or implicit) LE file."""
    offset = data.rfind(b"\xe0\x7f\x10\x00")
    if offset < 0:
        raise ValueError("no Pixel Data element found")
    return offset


def write_truncated(source: str | Path, path: str | Path, *, fraction: float = 0.5) -> Path:
    """Copy `source` cut inside its pixel data (at `fraction` of the way through it)."""
    data = Path(source).read_bytes()
    start = pixel_data_offset(data)
    cut = start + 16 + int((len(data) - start - 16) * fraction)
    Path(path).write_bytes(data[:cut])
    return Path(path)


def write_raw_dataset(path: str | Path, pixels: np.ndarray) -> Path:
    """A preamble-less DICOM: an Implicit VR LE dataset with no 128-byte preamble, no 'DICM' and
    no file meta (as some old PACS exports write)."""
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    good = write_dx(Path(path).with_suffix(".tmp-src"), pixels, transfer_syntax=IMPLICIT_VR_LE)
    ds = pydicom.dcmread(good)
    good.unlink()
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, True
    del ds.file_meta
    write_dataset(buf, ds)
    Path(path).write_bytes(buf.getvalue())
    return Path(path)


# --------------------------------------------------------------------------------------------
# Raster files
# --------------------------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and the CRC-32 of type+payload."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_huge_png(path: str | Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid-looking 8-bit greyscale PNG whose IHDR declares width x height pixels (correct
    CRCs) followed by a tiny IDAT: decoding it for real would need width*height bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    data = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    Path(path).write_bytes(data)
    return Path(path)


def _idat_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the first IDAT payload in PNG bytes."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            return pos + 8, pos + 8 + length
        pos += 12 + length
    raise ValueError("no IDAT chunk")


def write_damaged_png(good: str | Path, path: str | Path, *, fix_crc: bool = True) -> Path:
    """Copy the PNG `good` with the compressed bytes of its IDAT scrambled (after the 2-byte zlib
    header). With `fix_crc` the chunk CRC is recomputed, so only the zlib stream is broken."""
    data = bytearray(Path(good).read_bytes())
    start, end = _idat_span(bytes(data))
    for i in range(start + 2, end):
        data[i] ^= 0x5A
    if fix_crc:
        crc = zlib.crc32(bytes(data[start - 4 : end]))
        data[end : end + 4] = struct.pack(">I", crc)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def write_truncated_png(good: str | Path, path: str | Path) -> Path:
    """Copy the PNG `good` cut in the middle of its IDAT payload."""
    data = Path(good).read_bytes()
    start, end = _idat_span(data)
    Path(path).write_bytes(data[: (start + end) // 2])
    return Path(path)


def write_png(path: str | Path, arr: np.ndarray) -> Path:
    """Write an 8-bit (L / RGB) or 16-bit greyscale (I;16) PNG with Pillow."""
    from PIL import Image

    arr = np.asarray(arr)
    if arr.dtype == np.uint16:
        image = Image.fromarray(arr)  # mode I;16
    else:
        image = Image.fromarray(arr.astype(np.uint8))
    image.save(path, format="PNG")
    return Path(path)
