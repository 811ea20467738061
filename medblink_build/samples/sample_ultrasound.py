"""The built-in sample ultrasound source: B-mode phantoms from linear, phased and curvilinear probes.

Each frame is simulated on the probe's own geometry: an echogenicity map (a bright fascia layer, a
weaker deep layer, an anechoic cyst with posterior enhancement, a point reflector) over depth along
the beam, times Rayleigh speckle (magnitude of smoothed complex Gaussian noise), attenuation with
partial gain compensation, and 45 dB log compression. Outside the imaging area the screen is black.
Some frames carry burned-in text (probe, depth, gain), a depth ruler and a grey-scale bar beside
the area, as scanner screens do.

Files (`GEOMETRIES` gives each probe's exact box, apex and calibration, which tests use):
- dicom/: US Image Storage and US Multi-frame Image Storage files with SequenceOfUltrasoundRegions
  (RegionLocation, PhysicalDelta in cm, ReferencePixel at the apex for sectors), MONOCHROME2, RGB
  and YBR_FULL, uncompressed and RLE, a 5-frame cine loop, one file with BurnedInAnnotation YES
  and text, ruler and bar, and one declaring NumberOfFrames = 0 (unreadable: skipped).
- raster/: PNG and JPEG screens without tags (the area must be found from the pixels), and a
  screen with text only (no imaging area: skipped).
CC0-1.0, nothing to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from .us_dicom_writer import RLE_LOSSLESS, RegionSpec, write_us_dicom

WIDTH, HEIGHT = 480, 360


@dataclass(frozen=True)
class ProbeSpec:
    """Where a probe images on the 480x360 screen (pixels) and at what scale."""

    kind: str  # linear, sector (phased array) or curved (curvilinear): the last two are sector geometry
    mm_per_px: float
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # linear: inclusive corners of the rectangle
    apex: tuple[float, float] = (0.0, 0.0)  # sector/curved
    radii: tuple[float, float] = (0.0, 0.0)  # sector/curved: face radius and maximum depth radius
    half_angle_deg: float = 0.0

    def region_box(self) -> tuple[int, int, int, int]:
        """Inclusive bounding box of the imaging area: the DICOM RegionLocation."""
        if self.kind == "linear":
            return self.box
        ax, ay = self.apex
        r0, r1 = self.radii
        s, c = np.sin(np.radians(self.half_angle_deg)), np.cos(np.radians(self.half_angle_deg))
        return (
            int(np.floor(ax - r1 * s)),
            int(np.floor(ay + r0 * c)),
            int(np.ceil(ax + r1 * s)),
            int(np.ceil(ay + r1)),
        )

    def area(self) -> np.ndarray:
        """Boolean mask of the imaging area on the screen."""
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
        if self.kind == "linear":
            x0, y0, x1, y1 = self.box
            return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
        r, theta = self.polar(xx, yy)
        return (r >= self.radii[0]) & (r <= self.radii[1]) & (np.abs(theta) <= np.radians(self.half_angle_deg))

    def polar(self, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ax, ay = self.apex
        return np.hypot(xx - ax, yy - ay), np.arctan2(xx - ax, yy - ay)

    def depth_px(self, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Depth along the beam in screen pixels: below the top edge, or radial from the apex."""
        if self.kind == "linear":
            return yy - self.box[1]
        return self.polar(xx, yy)[0]

    def dicom_region(self, transducer_type: str | None = None) -> RegionSpec:
        x0, y0, x1, y1 = self.region_box()
        ref = None if self.kind == "linear" else (round(self.apex[0]) - x0, round(self.apex[1]) - y0)
        cm = self.mm_per_px / 10.0
        return RegionSpec((x0, y0, x1, y1), (cm, cm), ref, transducer_type=transducer_type)


GEOMETRIES: dict[str, ProbeSpec] = {
    "linear": ProbeSpec("linear", 0.15, box=(110, 50, 369, 329)),
    "sector": ProbeSpec("sector", 0.5, apex=(240.0, 40.0), radii=(5.0, 300.0), half_angle_deg=36.0),
    "curved": ProbeSpec("curved", 0.4, apex=(240.0, -60.0), radii=(115.0, 380.0), half_angle_deg=30.0),
}


def render_frame(probe: ProbeSpec, seed: int, frame: int = 0) -> np.ndarray:
    """A greyscale uint8 screen (HEIGHT, WIDTH) of `probe` imaging the phantom of `seed`."""
    rng = np.random.default_rng([seed, frame])
    layout = np.random.default_rng(seed)  # anatomy fixed across the frames of a cine loop
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    area = probe.area()
    depth = probe.depth_px(xx, yy)
    if probe.kind == "linear":
        d0, d1 = 0.0, float(probe.box[3] - probe.box[1])
        lateral = xx
    else:
        d0, d1 = probe.radii
        lateral = probe.polar(xx, yy)[1] * d1
    dn = (depth - d0) / (d1 - d0)  # 0 at the transducer face, 1 at the deepest row
    echo = 0.45 + 0.15 * np.sin(lateral / 23.0 + layout.uniform(0, 6)) * np.sin(dn * 9.0 + layout.uniform(0, 6))
    echo += 1.2 * np.exp(-(((dn - layout.uniform(0.08, 0.16)) / 0.012) ** 2))  # fascia
    echo += 0.5 * np.exp(-(((dn - layout.uniform(0.5, 0.7)) / 0.02) ** 2))  # deep layer
    ys, xs = np.nonzero(area & (dn > 0.3) & (dn < 0.75))
    k = layout.integers(len(xs))
    cx, cy = xs[k] + frame * 0.6, ys[k]
    cr = layout.uniform(18, 30)
    cyst = np.hypot(xx - cx, yy - cy) < cr
    behind = (np.abs(xx - cx) < cr) & (yy > cy)
    echo = np.where(behind, echo * 1.35, echo)
    echo = np.where(cyst, 0.03, echo)
    k = layout.integers(len(xs))
    echo += 4.0 * np.exp(-(((xx - xs[k]) / 2.5) ** 2 + ((yy - ys[k]) / 1.5) ** 2))
    noise = ndimage.gaussian_filter(rng.standard_normal((2, HEIGHT, WIDTH)), (0, 0.9, 1.8))
    speckle = np.hypot(noise[0], noise[1]) / 0.2
    amplitude = echo * speckle * np.exp(-1.2 * dn) * (1.0 + 0.8 * dn)
    db = 20 * np.log10(np.maximum(amplitude, 1e-6))
    grey = np.clip((db + 38.0) / 45.0, 0.0, 1.0) * 255
    return np.where(area, np.rint(grey), 0).astype(np.uint8)


def annotate(screen: np.ndarray, probe: ProbeSpec, label: str) -> np.ndarray:
    """Burn in what scanner screens show beside the image: text, a depth ruler, a grey bar."""
    image = Image.fromarray(screen)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    draw.text((6, 4), "MEDBLINK PHANTOM", fill=255, font=font)
    draw.text((6, 20), label, fill=220, font=font)
    for i, line in enumerate(("GAIN 58", "DR 45", "FR 28Hz")):
        draw.text((6, 300 + 16 * i), line, fill=200, font=font)
    _x0, y0, x1, y1 = probe.region_box()
    top = max(y0, 0)
    step = 10.0 / probe.mm_per_px  # one tick per cm
    tick_x = min(x1 + 8, WIDTH - 40)
    k = 0
    while top + k * step <= min(y1, HEIGHT - 2):
        y = round(top + k * step)
        draw.line((tick_x, y, tick_x + (8 if k % 5 == 0 else 4), y), fill=230, width=1)
        k += 1
    for y in range(90, 250):  # grey-scale bar
        draw.line((WIDTH - 16, y, WIDTH - 8, y), fill=int(255 * (250 - y) / 160))
    return np.asarray(image)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))


def write_ultrasound_sample(dest: Path) -> Path:
    """Write the sample source into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    lin, sec, cur = GEOMETRIES["linear"], GEOMETRIES["sector"], GEOMETRIES["curved"]
    dicom = dest / "dicom"
    write_us_dicom(
        dicom / "linear_mono.dcm",
        render_frame(lin, 1),
        uid_seed="us/linear_mono",
        regions=[lin.dicom_region("LINEAR")],
    )
    write_us_dicom(
        dicom / "sector_rgb_rle.dcm",
        _rgb(render_frame(sec, 2)),
        uid_seed="us/sector_rgb_rle",
        photometric="RGB",
        transfer_syntax=RLE_LOSSLESS,
        regions=[sec.dicom_region()],
    )
    write_us_dicom(
        dicom / "curved_ybr.dcm",
        _rgb(render_frame(cur, 3)),
        uid_seed="us/curved_ybr",
        photometric="YBR_FULL",
        regions=[cur.dicom_region("CURVED LINEAR")],
    )
    write_us_dicom(
        dicom / "linear_cine.dcm",
        np.stack([render_frame(lin, 4, f) for f in range(5)]),
        uid_seed="us/linear_cine",
        multiframe=True,
        regions=[lin.dicom_region()],
    )
    write_us_dicom(
        dicom / "curved_cine_rgb_rle.dcm",
        np.stack([_rgb(render_frame(cur, 5, f)) for f in range(4)]),
        uid_seed="us/curved_cine_rgb_rle",
        photometric="RGB",
        transfer_syntax=RLE_LOSSLESS,
        multiframe=True,
        regions=[cur.dicom_region()],
    )
    write_us_dicom(
        dicom / "sector_annotated.dcm",
        _rgb(annotate(render_frame(sec, 6), sec, "P4-2 3.0MHz D15cm")),
        uid_seed="us/sector_annotated",
        photometric="RGB",
        regions=[sec.dicom_region("SECTOR_PHASED")],
        burned_in_annotation="YES",
    )
    write_us_dicom(
        dicom / "broken_zero_frames.dcm",
        np.stack([render_frame(lin, 7)]),
        uid_seed="us/broken_zero_frames",
        multiframe=True,
        regions=[lin.dicom_region()],
        extra={"NumberOfFrames": 0},
    )
    raster = dest / "raster"
    raster.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_rgb(annotate(render_frame(sec, 8), sec, "S5-1 3.5MHz D15cm"))).save(raster / "fan_00.png")
    Image.fromarray(annotate(render_frame(cur, 9), cur, "C5-2 4.0MHz D15cm")).save(raster / "curved_01.png")
    Image.fromarray(render_frame(lin, 10)).save(raster / "linear_02.png")
    Image.fromarray(annotate(render_frame(cur, 11), cur, "C5-2 4.0MHz D15cm")).save(
        raster / "curved_03.jpg", quality=92
    )
    blank = annotate(np.zeros((HEIGHT, WIDTH), np.uint8), lin, "FROZEN")
    Image.fromarray(blank).save(raster / "blank_04.png")
    (dest / "README.txt").write_text(
        "Synthetic B-mode ultrasound phantoms written by medblink-build (CC0-1.0). Not patient data.\n",
        encoding="utf-8",
    )
    return dest
