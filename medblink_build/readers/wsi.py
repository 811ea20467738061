"""Whole-slide images and plain tiles as a resolution pyramid, read one region at a time.

Backends:

- OpenSlide (openslide-python with the openslide-bin wheel, so no system library is needed) for
  every format it opens: Aperio SVS, Hamamatsu NDPI/VMS, MIRAX MRXS, Leica SCN, Ventana BIF,
  Philips TIFF, DICOM WSI and generic tiled (pyramidal) TIFF. Only the tiles under a requested
  region are decoded, so memory does not grow with the slide's size.
- Pillow for plain PNG / JPEG / (stripped) TIFF tiles, treated as a one-level pyramid. These are
  decoded whole (they are tiles), within the raster reader's pixel limit.

Resolution. The slide's microns per pixel (mpp) at level 0 come from the file (OpenSlide's
`openslide.mpp-x/-y`; for plain TIFF tiles the XResolution/YResolution tags when ResolutionUnit is
centimetre, which is what scanners and QuPath write - inch resolutions on plain tiles are nearly
always screen defaults such as 72 dpi), else from an `MPP-<value>` token in the file name (the
naming of HistomicsTK exports such as BCSS), else not at all: `Slide.mpp` is then None and
`read_region_at_mpp` refuses with `MissingMppError` instead of guessing. Values outside
PLAUSIBLE_MPP are treated as absent (and said so in `mpp_note`). A caller that knows the value
(a labels table, a recipe parameter) sets it with `Slide.set_mpp`.

Reading at a target mpp (`read_region_at_mpp`): the coarsest pyramid level whose resolution is at
or above the target (level mpp <= target mpp) is chosen, only the region is read from it, and it
is resampled to the requested output size with RESAMPLE_FILTER (Pillow's Lanczos, whose kernel
widens with the reduction factor, so downsampling is anti-aliased). When the native resolution is
coarser than the target, level 0 is upsampled, and the factor says so. The provenance names the
reader and its version, the native mpp and where it came from, the level, its downsample, the
level-0 box, the size read and the resample factor; it also carries the resize as a transform
value, so `transforms.replay([resize], read_level_region(...))` gives the same pixels.

Transparent pixels (outside the scanned area) are composited on the slide's background colour
(`openslide.background-color`, white when absent).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import MedblinkError, ReaderError
from ..transforms import Transform, apply
from .limits import MAX_IMAGE_PIXELS
from .raster import RASTER_SUFFIXES

#: pip requirements of the OpenSlide backend (the wheel openslide-bin ships the C library).
OPENSLIDE_REQUIREMENTS = "openslide-python openslide-bin"
#: Resampling filter from the read level to the requested mpp (a `transforms.RESAMPLE_FILTERS` key).
RESAMPLE_FILTER = "lanczos"
#: Microns per pixel outside this range are not believed (e.g. 72 dpi written by an image editor).
PLAUSIBLE_MPP = (0.01, 100.0)
#: A level counts as "at or above the target resolution" within this relative tolerance, so a
#: level whose downsample OpenSlide reports as 3.9998 still serves a target of 4 x native.
LEVEL_TOLERANCE = 1e-3
#: Largest region (read pixels) one call may decode, whatever the slide size: 8192 x 8192.
MAX_REGION_PIXELS = 8192 * 8192
#: Overview reads go through chunks of at most this many level pixels per side.
OVERVIEW_CHUNK = 1024
#: Suffixes OpenSlide is tried on first (plain rasters go to Pillow when OpenSlide declines).
SLIDE_SUFFIXES = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".mrxs", ".scn", ".bif", ".svslide", ".dcm"}
)
WSI_SUFFIXES = SLIDE_SUFFIXES | RASTER_SUFFIXES

_MPP_IN_NAME = re.compile(r"(?:^|[_\-.])MPP-(\d+(?:\.\d+)?)(?=$|[_\-.+])", re.IGNORECASE)


class MissingMppError(ReaderError):
    """The slide records no usable microns per pixel and the caller gave none."""


def is_openslide_available() -> bool:
    try:
        import openslide  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _openslide():  # type: ignore[no-untyped-def]
    try:
        import openslide
    except (ImportError, OSError) as exc:
        raise MedblinkError(
            f"reading whole-slide images needs OpenSlide: pip install {OPENSLIDE_REQUIREMENTS} ({exc})"
        ) from exc
    return openslide


def mpp_from_file_name(name: str) -> float | None:
    """The value of an `MPP-<value>` token in a file name (HistomicsTK / BCSS naming), if any."""
    match = _MPP_IN_NAME.search(Path(name).stem)
    return float(match.group(1)) if match else None


@dataclass
class Slide:
    """An open slide: its pyramid, its resolution and where that came from. Close it when done."""

    path: Path
    backend: str  # "openslide" or "pillow"
    vendor: str  # OpenSlide's vendor ("aperio", "generic-tiff", ...) or the raster format
    level_dimensions: tuple[tuple[int, int], ...]  # (width, height) per level
    level_downsamples: tuple[float, ...]
    mpp: tuple[float, float] | None  # (x, y) microns per level-0 pixel
    mpp_source: str | None
    mpp_note: str = ""
    background: tuple[int, int, int] = (255, 255, 255)
    _handle: Any = field(default=None, repr=False)
    _pixels: np.ndarray | None = field(default=None, repr=False)

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    def set_mpp(self, mpp: float | tuple[float, float], source: str) -> None:
        """Use `mpp` (given by the caller: a labels table, a parameter) as the level-0 resolution."""
        x, y = (mpp, mpp) if isinstance(mpp, int | float) else mpp
        for v in (x, y):
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise MedblinkError(f"{self.path}: mpp must be a positive number of microns per pixel, got {mpp!r}")
        self.mpp = (float(x), float(y))
        self.mpp_source = source

    def reader_version(self) -> str:
        if self.backend == "openslide":
            openslide = _openslide()
            return f"openslide {openslide.__library_version__} (openslide-python {openslide.__version__})"
        import PIL

        return f"pillow {PIL.__version__}"

    def describe(self) -> dict[str, Any]:
        """What provenance records about the slide (no file paths, no vendor metadata)."""
        return {
            "reader": self.reader_version(),
            "vendor": self.vendor,
            "dimensions": list(self.dimensions),
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "level_downsamples": [round(d, 6) for d in self.level_downsamples],
            "mpp": [round(v, 6) for v in self.mpp] if self.mpp else None,
            "mpp_source": self.mpp_source,
            **({"mpp_note": self.mpp_note} if self.mpp_note else {}),
        }

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._pixels = None

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plausible(x: float | None, y: float | None, what: str) -> tuple[tuple[float, float] | None, str]:
    if x is None or y is None:
        return None, ""
    lo, hi = PLAUSIBLE_MPP
    if not (math.isfinite(x) and math.isfinite(y) and lo <= x <= hi and lo <= y <= hi):
        return None, f"{what} gives {x:g} x {y:g} um/pixel, outside {lo:g}..{hi:g}: ignored"
    return (float(x), float(y)), ""


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def _background(props: Any) -> tuple[int, int, int]:
    value = str(props.get("openslide.background-color", "") or "")
    if re.fullmatch(r"[0-9a-fA-F]{6}", value):
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    return (255, 255, 255)


def open_slide(path: str | Path) -> Slide:
    """Open a whole-slide image with OpenSlide, or a plain PNG/JPEG/TIFF tile with Pillow."""
    path = Path(path)
    if not path.exists():
        raise ReaderError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix in SLIDE_SUFFIXES:
        openslide = _openslide()
        vendor = openslide.OpenSlide.detect_format(str(path))
        if vendor is not None:
            try:
                handle = openslide.OpenSlide(str(path))
            except openslide.OpenSlideError as exc:
                raise ReaderError(path, f"OpenSlide cannot read this {vendor} slide: {exc}") from exc
            props = handle.properties
            mpp, note = _plausible(
                _float(props.get(openslide.PROPERTY_NAME_MPP_X)),
                _float(props.get(openslide.PROPERTY_NAME_MPP_Y)),
                "the slide's openslide.mpp-x/-y",
            )
            source = "slide properties (openslide.mpp-x/-y)" if mpp else None
            slide = Slide(
                path=path,
                backend="openslide",
                vendor=str(vendor),
                level_dimensions=tuple((int(w), int(h)) for w, h in handle.level_dimensions),
                level_downsamples=tuple(float(d) for d in handle.level_downsamples),
                mpp=mpp,
                mpp_source=source,
                mpp_note=note,
                background=_background(props),
                _handle=handle,
            )
            return _mpp_from_name(slide)
    if suffix not in RASTER_SUFFIXES:
        raise ReaderError(path, f"not a slide OpenSlide can open, nor a PNG/JPEG/TIFF tile (suffix {suffix!r})")
    return _mpp_from_name(_open_raster(path))


def _mpp_from_name(slide: Slide) -> Slide:
    if slide.mpp is None:
        value = mpp_from_file_name(slide.path.name)
        mpp, note = _plausible(value, value, "the file name's MPP- token")
        if mpp is not None:
            slide.mpp, slide.mpp_source = mpp, f"file name (MPP-{value:g})"
        elif note:
            slide.mpp_note = "; ".join(n for n in (slide.mpp_note, note) if n)
    return slide


def _open_raster(path: Path) -> Slide:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            w, h = image.size
            if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS:
                raise ReaderError(path, f"image declares {w}x{h} pixels, outside 1..{MAX_IMAGE_PIXELS} pixels")
            fmt = image.format or path.suffix.lstrip(".").upper()
            mpp, note = None, ""
            if fmt == "TIFF":
                tags = getattr(image, "tag_v2", {})
                unit = tags.get(296)
                xres, yres = _float(tags.get(282)), _float(tags.get(283))
                if unit == 3 and xres and yres:  # centimetre
                    mpp, note = _plausible(1e4 / xres, 1e4 / yres, "the TIFF resolution tags")
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                canvas.alpha_composite(rgba)
                pixels = np.asarray(canvas.convert("RGB"))
            else:
                pixels = np.asarray(image.convert("RGB"))
    except ReaderError:
        raise
    except Image.DecompressionBombError as exc:
        raise ReaderError(path, f"image too large: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ReaderError(path, f"not a readable PNG/JPEG/TIFF tile: {exc}") from exc
    return Slide(
        path=path,
        backend="pillow",
        vendor=fmt.lower(),
        level_dimensions=((w, h),),
        level_downsamples=(1.0,),
        mpp=mpp,
        mpp_source="TIFF resolution tags (centimetre)" if mpp else None,
        mpp_note=note,
        _pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
    )


def slide_mpp(slide: Slide) -> tuple[float, float] | None:
    """The level-0 microns per pixel (x, y) the slide records (or a caller set), None if unknown."""
    return slide.mpp


def _require_mpp(slide: Slide) -> tuple[float, float]:
    if slide.mpp is None:
        note = f" ({slide.mpp_note})" if slide.mpp_note else ""
        raise MissingMppError(
            slide.path,
            f"the slide records no microns per pixel (mpp){note}; it must be given (e.g. an mpp value in the "
            "source's labels table), it is never guessed",
        )
    return slide.mpp


def read_level_region(slide: Slide, level: int, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """uint8 RGB pixels (height, width, 3) of `level`, starting at level-0 pixel (x0, y0).

    Only the tiles under the region are decoded. Pixels outside the slide (or transparent) take
    the slide's background colour.
    """
    if not 0 <= level < slide.level_count:
        raise MedblinkError(f"{slide.path}: level {level} outside 0..{slide.level_count - 1}")
    if width < 1 or height < 1 or width * height > MAX_REGION_PIXELS:
        raise MedblinkError(f"region of {width} x {height} pixels outside 1..{MAX_REGION_PIXELS} pixels")
    if slide.backend == "pillow":
        assert slide._pixels is not None, "slide is closed"
        out = np.empty((height, width, 3), np.uint8)
        out[...] = slide.background
        src = slide._pixels
        h, w = src.shape[:2]
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(w, x0 + width), min(h, y0 + height)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = src[sy0:sy1, sx0:sx1]
        return out
    if slide._handle is None:
        raise MedblinkError(f"{slide.path}: slide is closed")
    openslide = _openslide()
    try:
        rgba = np.asarray(slide._handle.read_region((int(x0), int(y0)), int(level), (int(width), int(height))))
    except openslide.OpenSlideError as exc:
        raise ReaderError(slide.path, f"OpenSlide failed reading level {level} at ({x0}, {y0}): {exc}") from exc
    alpha = rgba[..., 3:4].astype(np.uint16)
    if bool((alpha == 255).all()):
        return np.ascontiguousarray(rgba[..., :3])
    background = np.array(slide.background, np.uint16)
    mixed = (rgba[..., :3].astype(np.uint16) * alpha + background * (255 - alpha) + 127) // 255
    return mixed.astype(np.uint8)


@dataclass(frozen=True)
class RegionPlan:
    """Where and how a region at a target mpp is read: all integers but the factors."""

    level: int
    downsample: float
    level_mpp: tuple[float, float]
    x0: int  # level-0 origin, snapped to the level's pixel grid
    y0: int
    read_size: tuple[int, int]  # (width, height) in level pixels
    output_size: tuple[int, int]  # (width, height) requested
    box_level0: tuple[int, int, int, int]  # (x0, y0, x1, y1) in level-0 pixels, half-open
    factor: tuple[float, float]  # output pixels per read pixel (< 1 reduces)

    @property
    def resampled(self) -> bool:
        return self.read_size != self.output_size

    def resize(self) -> Transform | None:
        if not self.resampled:
            return None
        return Transform("resize", {"size": list(self.output_size), "filter": RESAMPLE_FILTER})


def choose_level(slide: Slide, mpp: float) -> int:
    """The coarsest level whose resolution is at or above `mpp` (level 0 if none is)."""
    native = _require_mpp(slide)
    best = 0
    for k, ds in enumerate(slide.level_downsamples):
        if all(n * ds <= mpp * (1 + LEVEL_TOLERANCE) for n in native) and ds > slide.level_downsamples[best]:
            best = k
    return best


def plan_region(slide: Slide, x0: int, y0: int, width: int, height: int, mpp: float) -> RegionPlan:
    """Plan reading `width` x `height` output pixels at `mpp` from level-0 origin (x0, y0)."""
    if not (math.isfinite(mpp) and mpp > 0):
        raise MedblinkError(f"target mpp must be a positive number, got {mpp!r}")
    if width < 1 or height < 1:
        raise MedblinkError(f"output size must be at least 1 x 1, got {width} x {height}")
    native = _require_mpp(slide)
    level = choose_level(slide, mpp)
    ds = slide.level_downsamples[level]
    level_mpp = (native[0] * ds, native[1] * ds)
    read_w = max(1, round(width * mpp / level_mpp[0]))
    read_h = max(1, round(height * mpp / level_mpp[1]))
    # Snap the origin to the level's pixel grid, so the level pixels read are whole pixels.
    sx0 = round(math.floor(x0 / ds + 1e-9) * ds)
    sy0 = round(math.floor(y0 / ds + 1e-9) * ds)
    box = (sx0, sy0, sx0 + round(read_w * ds), sy0 + round(read_h * ds))
    return RegionPlan(
        level=level,
        downsample=ds,
        level_mpp=level_mpp,
        x0=sx0,
        y0=sy0,
        read_size=(read_w, read_h),
        output_size=(int(width), int(height)),
        box_level0=box,
        factor=(width / read_w, height / read_h),
    )


def read_plan(slide: Slide, plan: RegionPlan) -> np.ndarray:
    """The level pixels a plan reads, before resampling (what a recorded resize replays on)."""
    return read_level_region(slide, plan.level, plan.x0, plan.y0, *plan.read_size)


def region_provenance(slide: Slide, plan: RegionPlan, mpp: float) -> dict[str, Any]:
    resize = plan.resize()
    return {
        "reader": slide.reader_version(),
        "vendor": slide.vendor,
        "native_mpp": [round(v, 6) for v in _require_mpp(slide)],
        "mpp_source": slide.mpp_source,
        "target_mpp": mpp,
        "effective_mpp": [
            round(plan.level_mpp[0] / plan.factor[0], 6),
            round(plan.level_mpp[1] / plan.factor[1], 6),
        ],
        "level": plan.level,
        "level_downsample": round(plan.downsample, 6),
        "level_mpp": [round(v, 6) for v in plan.level_mpp],
        "box_level0": list(plan.box_level0),
        "read_origin_level0": [plan.x0, plan.y0],
        "read_size": list(plan.read_size),
        "output_size": list(plan.output_size),
        "resample_factor": [round(plan.factor[0], 6), round(plan.factor[1], 6)],
        "resample": (
            {"filter": RESAMPLE_FILTER, "library": "Pillow Image.resize", "transform": resize.to_json()}
            if resize
            else None
        ),
    }


def read_region_at_mpp(
    slide: Slide, x0: int, y0: int, width: int, height: int, mpp: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """`width` x `height` uint8 RGB pixels at `mpp` microns per pixel, from level-0 origin (x0, y0),
    and the provenance of the read (level, downsample, box, resample factor; see module docs)."""
    plan = plan_region(slide, x0, y0, width, height, mpp)
    pixels = read_plan(slide, plan)
    resize = plan.resize()
    if resize is not None:
        pixels = apply(resize, pixels)
    return pixels, region_provenance(slide, plan, mpp)


@dataclass(frozen=True)
class Overview:
    """A low-resolution image of the whole slide, for tissue detection and planning."""

    pixels: np.ndarray  # uint8 RGB
    downsample: float  # level-0 pixels per overview pixel, both axes
    level: int
    reduction: int  # block-mean factor applied to the level read

    def describe(self) -> dict[str, Any]:
        return {
            "shape": list(self.pixels.shape[:2]),
            "downsample": round(self.downsample, 6),
            "level": self.level,
            "block_mean": self.reduction,
        }


def read_overview(slide: Slide, downsample: float, max_side: int = 1024) -> Overview:
    """The whole slide at about `downsample` level-0 pixels per pixel (coarser if the longer side
    would exceed `max_side`, which it never does), read from the coarsest level that is fine
    enough, in chunks of at most OVERVIEW_CHUNK level pixels per side (or one block), each reduced
    by an integer block mean. Memory is bounded by max_side^2 plus one chunk, whatever the slide."""
    w0, h0 = slide.dimensions
    target = max(1.0, float(downsample), max(w0, h0) / max_side)
    level = 0
    for k, ds in enumerate(slide.level_downsamples):
        if ds <= target * (1 + LEVEL_TOLERANCE) and ds > slide.level_downsamples[level]:
            level = k
    ds = slide.level_downsamples[level]
    f = max(1, math.floor(target / ds + LEVEL_TOLERANCE))
    lw, lh = slide.level_dimensions[level]
    f = max(f, math.ceil(max(lw, lh) / max_side))  # the overview never exceeds max_side
    out_w, out_h = math.ceil(lw / f), math.ceil(lh / f)
    if f == 1:
        pixels = read_level_region(slide, level, 0, 0, lw, lh)
        return Overview(pixels, ds, level, 1)
    out = np.empty((out_h, out_w, 3), np.uint8)
    step = max(1, OVERVIEW_CHUNK // f)  # output pixels per chunk side
    for oy in range(0, out_h, step):
        for ox in range(0, out_w, step):
            cw, ch = min(step, out_w - ox), min(step, out_h - oy)
            chunk = read_level_region(slide, level, round(ox * f * ds), round(oy * f * ds), cw * f, ch * f)
            sums = chunk.reshape(ch, f, cw, f, 3).sum(axis=(1, 3), dtype=np.uint32)
            n = f * f
            out[oy : oy + ch, ox : ox + cw] = ((sums + n // 2) // n).astype(np.uint8)
    return Overview(out, ds * f, level, f)
