"""png_bytes, the toolkit's only PNG writer: deterministic, lossless, a PNG Pillow reads, written with
the Z_RLE strategy the encoder study chose; its identity is in the manifest and the cache key."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image, features

from medblink_build.build import result_cache
from medblink_build.build.pipeline import BuildOptions, run_recipe
from medblink_build.encode import PNG_COMPRESS_LEVEL, png_bytes, png_encoder
from medblink_build.model import SourceItem
from medblink_build.registry import find_recipe
from medblink_build.samples.phantoms import chest_pa
from medblink_build.samples.sample_endoscopy import render_frame


def _radiograph() -> np.ndarray:
    """A windowed chest phantom: smooth anatomy plus noise, like the radiographs the recipes write."""
    return (chest_pa(0, 256) >> 4).astype(np.uint8)


def _images() -> dict[str, np.ndarray]:
    rgb, _ = render_frame(3, 96, 80)
    return {"L": _radiograph(), "RGB": rgb, "L odd shape": np.ascontiguousarray(_radiograph()[:77, :131])}


def _decode(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


@pytest.mark.parametrize("kind", ["L", "RGB", "L odd shape"])
def test_png_is_lossless_and_a_png_pillow_reads(kind: str) -> None:
    pixels = _images()[kind]
    png = png_bytes(pixels)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    Image.open(io.BytesIO(png)).verify()  # chunk CRCs and structure
    im = _decode(png)
    assert im.format == "PNG" and im.mode == kind.split()[0]
    assert np.array_equal(np.asarray(im), pixels)
    assert not im.info.get("dpi") and not getattr(im, "text", {})  # no text or physical-size chunks


def test_png_bytes_are_the_same_in_another_process() -> None:
    images = _images()
    here = {k: png_bytes(a) for k, a in images.items()}
    assert here == {k: png_bytes(a) for k, a in images.items()}
    code = (
        "import json, hashlib, sys; sys.path.insert(0, sys.argv[1]); import test_encode as t; "
        "from medblink_build.encode import png_bytes; "
        "print(json.dumps({k: hashlib.sha256(png_bytes(a)).hexdigest() for k, a in t._images().items()}))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import hashlib

    assert json.loads(done.stdout) == {k: hashlib.sha256(v).hexdigest() for k, v in here.items()}


def test_png_uses_zlib_rle_not_pillows_default_strategy() -> None:
    """The study's choice is applied (and Pillow still honours `compress_type`): the bytes are those
    of Pillow's Z_RLE encoding and differ from its default (Z_FILTERED) ones."""
    pixels = _radiograph()

    def pillow(**options: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, **options)
        return buf.getvalue()

    assert png_bytes(pixels) == pillow(compress_type=3)
    assert png_bytes(pixels) != pillow()


def test_png_bytes_rejects_what_it_cannot_write_losslessly() -> None:
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((8, 8), np.uint16))
    with pytest.raises(ValueError, match="shape"):
        png_bytes(np.zeros((2, 8, 8, 3), np.uint8))


def test_encoder_identity_names_pillow_and_the_zlib_it_loaded() -> None:
    identity = png_encoder()
    assert f"pillow {PIL.__version__}" in identity
    assert f"zlib {features.version('zlib')}" in identity
    assert "Z_RLE" in identity


def test_manifest_records_the_png_encoder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_recipe(find_recipe("enhancement"), [], out, BuildOptions(limit=1, executor="serial", resume=False))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["environment"]["png_encoder"] == png_encoder()


def test_cache_key_changes_with_the_png_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result cache never serves images written by another encoder (or another zlib)."""
    item = SourceItem(key="src/a.dcm", source_id="src", root=Path("/data"), files=("a.dcm",))
    key = result_cache.item_key(item, "orientation", "1.1.0", 0, {})
    assert result_cache.item_key(item, "orientation", "1.1.0", 0, {}) == key
    other = "pillow 13.0.0; zlib 1.3.1.zlib-ng; level 6; strategy Z_RLE"  # the same Pillow on another libz
    monkeypatch.setattr(result_cache, "png_encoder", lambda: other)
    assert result_cache.item_key(item, "orientation", "1.1.0", 0, {}) != key
