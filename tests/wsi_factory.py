"""Synthetic whole-slide images written by the tests with tifffile: tiled pyramidal TIFFs whose
reduced levels are marked as such (NewSubfileType = 1) in the same file, with resolution tags in
centimetres so OpenSlide reports `openslide.mpp-x` (or none, for slides without mpp)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medblink_build.samples.tiff_writer import write_pyramid_tiff, write_streamed_pyramid_tiff

EPI_RGB = (120, 60, 150)  # purple: epidermis-like
DERMIS_RGB = (235, 160, 200)  # pink: dermis-like
GLASS_RGB = (245, 244, 247)


def write_pyramid(
    path: Path,
    level0: np.ndarray,
    downsamples: tuple[int, ...] = (1, 4, 16),
    mpp: float | None = 0.5,
    tile: int = 256,
) -> Path:
    """`level0` (H, W, 3 uint8) and its strided reductions as one tiled pyramidal TIFF."""
    levels = [np.ascontiguousarray(level0[::ds, ::ds]) for ds in downsamples]
    return write_pyramid_tiff(path, levels, mpp=mpp, tile=tile)


write_streamed_pyramid = write_streamed_pyramid_tiff


def halves(width: int, height: int, boundary_x: int, texture: bool = False) -> np.ndarray:
    """Left of `boundary_x` epidermis-like purple, right dermis-like pink; `texture` adds a
    deterministic dot pattern (nuclei-like) so resampling has something to act on."""
    img = np.empty((height, width, 3), np.uint8)
    img[:, :boundary_x] = EPI_RGB
    img[:, boundary_x:] = DERMIS_RGB
    if texture:
        img[::6, ::5] = (60, 30, 100)
    return img


def feature(name: str | None, rings: list, kind: str = "Polygon") -> dict:  # type: ignore[type-arg]
    props: dict = {"objectType": "annotation"}  # type: ignore[type-arg]
    if name is not None:
        props["classification"] = {"name": name, "color": -65536}
    return {"type": "Feature", "geometry": {"type": kind, "coordinates": rings}, "properties": props}


def box_ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def write_geojson(path: Path, features: list[dict]) -> Path:  # type: ignore[type-arg]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def halves_geojson(path: Path, width: int, height: int, boundary_x: int) -> Path:
    return write_geojson(
        path,
        [
            feature("Epidermis", [box_ring(0, 0, boundary_x, height)]),
            feature("Dermis", [box_ring(boundary_x, 0, width, height)]),
        ],
    )
