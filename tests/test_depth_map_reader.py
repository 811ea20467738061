"""Depth-map reader: stored values to millimetres by the caller's scale, invalid pixels, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from medblink_build.errors import ReaderError
from medblink_build.readers.depth_map import DepthScale, read_depth_map

C3VD = DepthScale(full_scale_mm=100.0)


def _save(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("suffix", ["png", "tiff"])
def test_16_bit_c3vd_scale_and_invalid_values(tmp_path: Path, suffix: str) -> None:
    stored = np.array([[0, 1, 32768], [65534, 65535, 6554]], np.uint16)
    depth = read_depth_map(_save(tmp_path / f"d.{suffix}", stored), scale=C3VD)
    assert depth.shape == (2, 3)
    np.testing.assert_array_equal(depth.valid, [[False, True, True], [True, False, True]])
    np.testing.assert_allclose(depth.depth_mm[depth.valid], 100.0 * stored[depth.valid] / 65535.0)
    assert np.isnan(depth.depth_mm[~depth.valid]).all()
    assert depth.decode["dtype"] == "uint16" and depth.decode["valid_pixels"] == 4


def test_simcol_scale_is_200_mm_full_scale(tmp_path: Path) -> None:
    stored = np.full((4, 4), 32768, np.uint16)
    depth = read_depth_map(_save(tmp_path / "Depth_0001.png", stored), scale=DepthScale.parse("full_scale_mm=200"))
    np.testing.assert_allclose(depth.depth_mm, 200.0 * 32768 / 65535)


def test_float_tiff_via_pillow_and_tifffile_and_npy(tmp_path: Path) -> None:
    values = np.array([[12.5, np.nan, 30.0], [np.inf, -1.0, 0.0]], np.float32)
    expected_valid = [[True, False, True], [False, False, False]]
    mm = DepthScale(mm_per_unit=1.0)
    pillow = read_depth_map(_save(tmp_path / "f.tiff", values), scale=mm)
    tifffile.imwrite(tmp_path / "z.tif", values, compression="zlib", predictor=True)
    compressed = read_depth_map(tmp_path / "z.tif", scale=mm)
    np.save(tmp_path / "f.npy", values.astype(np.float64) / 10.0)
    npy = read_depth_map(tmp_path / "f.npy", scale=DepthScale(mm_per_unit=10.0))
    for depth in (pillow, compressed, npy):
        np.testing.assert_array_equal(depth.valid, expected_valid)
        np.testing.assert_allclose(depth.depth_mm[0, [0, 2]], [12.5, 30.0], rtol=1e-6)


def test_multi_channel_map_needs_a_channel(tmp_path: Path) -> None:
    xyz = np.zeros((3, 4, 3), np.float32)
    xyz[..., 2] = 42.0
    tifffile.imwrite(tmp_path / "xyz.tiff", xyz, photometric="rgb")
    with pytest.raises(ReaderError, match=r"xyz\.tiff.*channel index"):
        read_depth_map(tmp_path / "xyz.tiff", scale=DepthScale(mm_per_unit=1.0))
    depth = read_depth_map(tmp_path / "xyz.tiff", scale=DepthScale(mm_per_unit=1.0), channel=2)
    assert (depth.depth_mm == 42.0).all()
    with pytest.raises(ReaderError, match=r"channel 5 outside 0\.\.2"):
        read_depth_map(tmp_path / "xyz.tiff", scale=DepthScale(mm_per_unit=1.0), channel=5)


def test_bad_input_is_a_reader_error_naming_the_file(tmp_path: Path) -> None:
    text = tmp_path / "notes_depth.png"
    text.write_text("not an image")
    with pytest.raises(ReaderError, match=r"notes_depth\.png: not a depth map"):
        read_depth_map(text, scale=C3VD)
    empty = tmp_path / "empty.tiff"
    empty.write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read_depth_map(empty, scale=C3VD)
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ReaderError, match="shape"):
        read_depth_map(tmp_path / "cube.npy", scale=C3VD)
    with pytest.raises(ReaderError, match="full-scale depth needs an integer map"):
        read_depth_map(_save(tmp_path / "f.tiff", np.ones((2, 2), np.float32)), scale=C3VD)
    buf = io.BytesIO()
    np.save(buf, np.array([["a", "b"], ["c", "d"]]))
    (tmp_path / "s.npy").write_bytes(buf.getvalue())
    with pytest.raises(ReaderError, match="not numbers"):
        read_depth_map(tmp_path / "s.npy", scale=C3VD, channel=None)


@pytest.mark.parametrize(
    "text", ["", "100", "full_scale_mm=", "mm_per_unit=-1", "full_scale_mm=0", "inches=3", "mm_per_unit=abc"]
)
def test_scale_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="depth scale"):
        DepthScale.parse(text)


def test_scale_parse_and_describe_round_trip() -> None:
    for text in ("full_scale_mm=100", "mm_per_unit=0.1"):
        assert DepthScale.parse(text).describe() == text
