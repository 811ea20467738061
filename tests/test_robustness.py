"""Hostile inputs found by the adversarial runs of issue 14: header floats, unbounded images, memory
budgets, special files, truncated codestreams, stale resume keys and non-deterministic messages.
Real files (pydicom's test files) wherever a reader is involved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medblink_build.errors import ReaderError
from medblink_build.readers.dicom_image import read_dicom_header
from tests.conftest import declare_public, run_cli


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _ct_copy(folder: Path, name: str = "ct.dcm", **changes: object) -> Path:
    """pydicom's real CT_small.dcm, with some header values changed, labelled as a chest film."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name)
    with open(folder / "labels.csv", "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write("path,anatomy,view\n")
        f.write(f"{name},chest,PA\n")
    return folder / name


# --- 4: header floats ----------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["RescaleSlope", "RescaleIntercept", "WindowWidth"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_header_float_skips_the_item(tmp_path: Path, keyword: str, value: float) -> None:
    root = tmp_path / "src"
    _ct_copy(root, **{keyword: value})
    code, output = run_cli(
        "recipe", "orientation", "--source", root, "--out", tmp_path / "out", "--quiet", "--allow-empty"
    )
    assert code == 0, output
    [skip] = _manifest(tmp_path / "out")["skipped"]["items"]
    assert skip["reason"] == "unreadable" and keyword in skip["detail"] and "finite" in skip["detail"]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize(
    ("keyword", "value", "found"),
    [
        ("PixelSpacing", ["0.5", "nan"], "PixelSpacing = nan"),  # DS, multi-valued
        ("SliceThickness", "1e999", "SliceThickness = inf"),  # DS that overflows
        ("SpacingBetweenSlices", " -inf ", "SpacingBetweenSlices = -inf"),  # DS with padding
        ("CTDIvol", float("nan"), "CTDIvol = nan"),  # FD
        ("RecommendedDisplayFrameRateInFloat", float("inf"), "= inf"),  # FL
    ],
)
def test_header_floats_are_checked_from_their_raw_bytes(
    tmp_path: Path, implicit: bool, keyword: str, value: object, found: str
) -> None:
    """The float check reads unconverted elements from their bytes: the same verdicts, whatever
    the VR (DS, FD, FL), its padding and multiplicity, and explicit or implicit VR files."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    setattr(ds, keyword, value)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(tmp_path / "bad.dcm")
    with pytest.raises(ReaderError, match=found):
        read_dicom_header(tmp_path / "bad.dcm")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    setattr(ds, keyword, [0.5, 1.0] if isinstance(value, list) else 2.5)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(tmp_path / "good.dcm")
    assert read_dicom_header(tmp_path / "good.dcm").get(keyword) is not None


def test_raw_float_values_big_endian_and_malformed_lengths() -> None:
    import struct

    from medblink_build.readers.header_values import _raw_numbers

    assert _raw_numbers(struct.pack(">2d", 1.5, float("inf")), "FD", False) == [1.5, float("inf")]
    assert _raw_numbers(struct.pack("<f", 2.0), "FL", True) == [2.0]
    assert _raw_numbers(b"\x00" * 5, "FD", True) == []  # pydicom's own conversion reports the length
    assert _raw_numbers(b"1\\abc\\ 2 \x00", "DS", True) == [1.0, 2.0]  # unparseable parts left to readers


def test_nan_in_a_nested_sequence_and_an_empty_voi_lut_are_reader_errors(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    mapping = Dataset()
    mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = float("nan"), 0.0
    ds.RealWorldValueMappingSequence = [mapping]
    ds.save_as(tmp_path / "rwv.dcm")
    with pytest.raises(ReaderError, match="RealWorldValueSlope = nan"):
        read_dicom_header(tmp_path / "rwv.dcm")

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    voi = Dataset()
    voi.LUTDescriptor = [0, 0, 16]
    voi.LUTData = []
    ds.VOILUTSequence = [voi]
    ds.save_as(tmp_path / "voi.dcm")
    with pytest.raises(ReaderError, match="VOI LUT"):
        read_dicom_header(tmp_path / "voi.dcm")


def test_a_nan_that_passes_the_readers_skips_the_item_not_the_build(tmp_path: Path) -> None:
    """The worker's last check: a non-finite value in a label or provenance (from a header field no
    reader checks, or a recipe's arithmetic) is an item skip, never a crash of the writer."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "nan_label.py").write_text(
        "from medblink_build.recipes.orientation import Orientation\n\n\n"
        "class NanLabel(Orientation):\n"
        '    name = "nan-label"\n\n'
        "    def build(self, item, ctx):\n"
        "        example = super().build(item, ctx)\n"
        '        example.label["measured"] = float("nan")\n'
        "        return example\n"
    )
    root = tmp_path / "src"
    root.mkdir()
    # a real CR chest radiograph: an input orientation takes (a CT would be wrong_modality first)
    shutil.copyfile(Path(__file__).parent / "data" / "acct" / "RG1_J2KI.dcm", root / "cr.dcm")
    out = tmp_path / "out"
    code, output = run_cli(
        "recipe", "nan-label", "--recipes-dir", recipes, "--source", root, "--out", out, "--quiet", "--allow-empty"
    )
    assert code == 0, output
    [skip] = _manifest(out)["skipped"]["items"]
    assert skip["reason"] == "non_finite_value"


# --- 11: deterministic messages --------------------------------------------------------------------


def test_library_messages_lose_addresses_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow/ITK messages carry object addresses and the absolute paths of the inputs: the
    manifest of two builds of the same files in different folders must still be the same bytes."""
    import io

    import numpy as np
    from PIL import Image

    where_now: list[Path] = []

    def noisy_open(fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        path = (where_now[-1] / "bad.png").resolve()
        raise OSError(f"broken data stream when reading image file {io.BytesIO()!r} ({path})")

    manifests = []
    for where in ("one", "two/deeper"):
        root = tmp_path / where / "src"
        where_now.append(root)
        root.mkdir(parents=True)
        Image.fromarray(np.full((32, 32), 90, np.uint8)).save(root / "bad.png")
        (root / "labels.csv").write_text("path,anatomy\nbad.png,chest\n")
        out = tmp_path / where / "out"
        monkeypatch.setattr(Image, "open", noisy_open)
        code, output = run_cli("recipe", "orientation", "--source", root, "--out", out, "--quiet", "--allow-empty")
        monkeypatch.undo()
        assert code == 0, output
        text = (out / "manifest.json").read_text(encoding="utf-8")
        assert " at 0x" not in text and str(tmp_path) not in text
        manifests.append(_manifest(out)["skipped"])
    assert manifests[0] == manifests[1]
    assert "<_io.BytesIO>" in manifests[0]["items"][0]["detail"]


def test_clean_message_keeps_ordinary_slashes() -> None:
    from medblink_build.errors import clean_message

    text = "not PNG/JPEG/TIFF, 1/2 read from /data/src/a/b.nrrd (0x55d0a1b2c3d4) and /usr/lib/x.so"
    assert clean_message(text, ["/data/src"]) == "not PNG/JPEG/TIFF, 1/2 read from a/b.nrrd (0x?) and x.so"
    assert clean_message("<_io.BytesIO object at 0x7f12ab34cd56>") == "<_io.BytesIO>"


# --- 10: resume keyed on content -------------------------------------------------------------------


def test_resume_notices_an_edit_that_keeps_size_and_mtime(tmp_path: Path) -> None:
    import hashlib
    import os
    import signal
    import subprocess
    import sys

    from medblink_build.faults import ENV
    from medblink_build.samples.dicom_writer import write_radiograph
    from medblink_build.samples.phantoms import chest_pa

    root = tmp_path / "src"
    path = write_radiograph(root / "a.dcm", chest_pa(1, 96), uid_seed="resume")
    (root / "labels.csv").write_text("path,anatomy,view\na.dcm,chest,PA\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "medblink_build.cli", "recipe", "orientation", "--source", str(root)]
    command += ["--out", str(out), "--quiet"]
    proc = subprocess.run(command, env={**os.environ, ENV: "before-finish"}, capture_output=True)
    assert proc.returncode == -signal.SIGKILL and (tmp_path / ".out.work").is_dir()

    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-200:] = bytes(255 - b for b in data[-200:])  # other pixel values, same size
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns

    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    [recorded] = _manifest(out)["inputs"]
    assert recorded["sha256"] == hashlib.sha256(bytes(data)).hexdigest()


def test_hash_cache_rehashes_an_edit_that_keeps_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import os

    from medblink_build.hashing import HashCache

    monkeypatch.setenv("MEDBLINK_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 64)
    cache = HashCache()
    cache.digest(path)
    stat = path.stat()
    path.write_bytes(b"b" * 64)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.digest(path) == hashlib.sha256(b"b" * 64).hexdigest()


# --- 8: a build with no rows -----------------------------------------------------------------------


def test_a_build_without_rows_fails_and_keeps_the_previous_output(xray_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", out, "--limit", 2, "--quiet")
    assert code == 0, output
    before = (out / "manifest.json").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.dcm").write_bytes(b"DICM but not really")
    code, output = run_cli("recipe", "orientation", "--source", bad, "--out", out, "--quiet")
    assert code != 0
    [line] = output.strip().splitlines()
    assert "no rows were built" in line and "unreadable 1" in line and "--allow-empty" in line
    assert (out / "manifest.json").read_bytes() == before
    assert not list(tmp_path.glob(".out.staging*"))

    code, output = run_cli("recipe", "orientation", "--source", bad, "--out", out, "--quiet", "--allow-empty")
    assert code == 0, output
    assert _manifest(out)["skipped"]["by_reason"] == {"unreadable": 1}


# --- 7: special and odd files ----------------------------------------------------------------------


def _xray(root: Path, name: str, seed: int = 1) -> Path:
    from medblink_build.samples.dicom_writer import write_radiograph
    from medblink_build.samples.phantoms import chest_pa

    return write_radiograph(root / name, chest_pa(seed, 96), uid_seed=name)


@pytest.mark.parametrize("recipe", ["orientation", "enhancement"])
def test_a_fifo_named_dcm_is_a_recorded_skip_not_a_hang(tmp_path: Path, recipe: str) -> None:
    import os
    import subprocess
    import sys

    root = tmp_path / "src"
    if recipe == "orientation":  # a file each recipe takes beside the FIFO (a CT is no X-ray)
        root.mkdir()
        _xray(root, "ok.dcm")
    else:
        _ct_copy(root, "ok.dcm")
    declare_public(root)  # the test follows the FIFO by its name
    os.mkfifo(root / "pipe.dcm")
    command = [sys.executable, "-m", "medblink_build.cli", "recipe", recipe, "--source", str(root)]
    proc = subprocess.run([*command, "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (entry,) = _manifest(tmp_path / "out")["accounting"]
    assert entry["filtered_paths"]["not_a_regular_file"] == ["pipe.dcm"]  # found, never opened, accounted


def test_non_utf8_file_names_build_and_are_written_as_escapes(tmp_path: Path) -> None:
    import os

    from medblink_build.seeding import stable_hash

    root = tmp_path / "src"
    _xray(root, "b.dcm", 2)
    latin1 = os.fsdecode(b"\xc9t\xe9 thorax.dcm")  # a Latin-1 export: not UTF-8
    os.rename(_xray(root, "a.dcm"), root / latin1)
    assert stable_hash("k", latin1) != stable_hash("k", "b.dcm")
    declare_public(root)  # names kept (not pseudonymised), so they are written as escapes
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    paths = sorted(i["path"] for i in _manifest(tmp_path / "out")["inputs"])
    assert paths == ["\\xc9t\\xe9 thorax.dcm", "b.dcm"]


def test_labels_csv_that_is_a_folder_or_leaves_the_root_is_one_line_and_never_echoed(tmp_path: Path) -> None:
    import os

    root = tmp_path / "src"
    _xray(root, "a.dcm")
    (root / "labels.csv").mkdir()
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code != 0 and "labels.csv: is a folder, not a CSV file" in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1

    (root / "labels.csv").rmdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0:SECRET-FIRST-LINE\n")
    os.symlink(secret, root / "labels.csv")
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code != 0 and "leads outside the source root" in output
    assert "SECRET" not in output and len(output.strip().splitlines()) == 1


def test_csv_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for name in ("a.dcm", "b.dcm", "c.dcm"):
        _xray(root, name)
    (root / "labels.csv").write_text('path,anatomy\na.dcm,chest\n"b.dcm,chest\nc.dcm,pelvis\n')
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code != 0 and "labels.csv: line 3: malformed CSV: unterminated quoted field" in output

    (root / "labels.csv").write_text("path,anatomy\na.dcm,chest\nb.dcm,chest\na.dcm,pelvis\n")
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code != 0 and "labels.csv: line 4: path 'a.dcm' is also on line 2" in output


# --- 5: bounded output images ----------------------------------------------------------------------


def test_a_lying_pixel_spacing_is_skipped_before_the_resize_allocates(tmp_path: Path) -> None:
    root = tmp_path / "src"
    _ct_copy(root, PixelSpacing=[50, 0.0025])  # 128 x 2,560,000 pixels once made square
    out = tmp_path / "out"
    code, output = run_cli("recipe", "enhancement", "--source", root, "--out", out, "--quiet", "--allow-empty")
    assert code == 0, output
    [skip] = _manifest(out)["skipped"]["items"]
    assert skip["reason"] == "image_out_of_bounds" and "128 x 2560000" in skip["detail"]


@pytest.mark.parametrize("size", [(40, 4000), (9000, 900)])
def test_png_encoder_refuses_images_out_of_bounds(size: tuple[int, int]) -> None:
    import numpy as np

    from medblink_build.encode import png_bytes
    from medblink_build.errors import SkipItem

    with pytest.raises(SkipItem, match="out of proportion"):
        png_bytes(np.zeros(size, np.uint8))
    assert png_bytes(np.zeros((1024, 600), np.uint8))


def test_verify_opens_every_image(xray_source: Path, tmp_path: Path) -> None:
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from medblink_build.hashing import sha256_file
    from medblink_build.output.rows import row_digest

    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", xray_source, "--out", out, "--limit", 2, "--quiet")
    assert code == 0, output
    manifest = _manifest(out)
    config = "imaging_orientation_cxr"
    entry = manifest["configs"][config]["files"][0]
    table = pq.read_table(out / entry["path"])
    rows = table.to_pylist()
    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 2000), np.uint8)).save(buf, format="PNG")  # aspect 100: a stripe
    rows[0]["images"][0]["bytes"] = buf.getvalue()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out / entry["path"])
    entry["sha256"] = sha256_file(out / entry["path"])  # a manifest that agrees: only the image is wrong
    manifest["configs"][config]["examples"][0][1] = row_digest(rows[0])
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, output = run_cli("verify", out)
    assert code != 0 and "2000 x 20 pixels: aspect ratio 100.0" in output, output


# --- 6: memory budget before decode ----------------------------------------------------------------


@pytest.fixture
def budget():  # type: ignore[no-untyped-def]
    from medblink_build.readers import limits

    yield limits.set_item_memory
    limits.set_item_memory(None)


def test_a_small_16_bit_png_declaring_36_megapixels_is_refused_before_decoding(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    root = tmp_path / "src"
    root.mkdir()
    Image.fromarray(np.zeros((6000, 6000), np.uint16)).save(root / "big.png")  # ~100 KB on disk
    assert (root / "big.png").stat().st_size < 500_000
    (root / "labels.csv").write_text("path,anatomy\nbig.png,chest\n")
    out = tmp_path / "out"
    args = ["recipe", "orientation", "--source", root, "--out", out, "--quiet", "--allow-empty"]
    code, output = run_cli(*args, "--item-memory", "256M")
    assert code == 0, output
    [skip] = _manifest(out)["skipped"]["items"]
    assert "6000x6000 I;16 image needs about 412.0 MiB" in skip["detail"] and "256.0 MiB" in skip["detail"]
    code, output = run_cli(*args, "--item-memory", "lots")
    assert code != 0 and "'lots' is not a memory size" in output


def test_nifti_declaring_1_45_g_voxels_is_refused_from_its_header(tmp_path: Path) -> None:
    import nibabel as nib
    import numpy as np

    from medblink_build.readers.volume_nifti import read_nifti

    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((1200, 1100, 1100))
    path = tmp_path / "huge.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 250_000)  # a 251 KB file
    with pytest.raises(ReaderError, match="per-item memory budget"):
        read_nifti(path)


def test_dicom_rows_columns_frames_are_checked_against_the_budget(tmp_path: Path, budget) -> None:  # type: ignore[no-untyped-def]
    from medblink_build.readers import read_image

    path = _ct_copy(tmp_path, Rows=8000, Columns=8000)  # 64 MP declared, 32 KB of pixel data
    budget(256 * 1024**2)
    with pytest.raises(ReaderError, match=r"8000x8000x1 frame needs about 732\.4 MiB"):
        read_image(path)


# --- 9: truncated codestreams ----------------------------------------------------------------------


def _cut_fragment(name: str, keep: int, dest: Path) -> Path:
    """pydicom's real compressed file `name` with its one frame's codestream cut to `keep` bytes."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(get_testdata_file(name))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[:keep]])
    ds.save_as(dest)
    return dest


@pytest.mark.parametrize(
    ("name", "keep"),
    [("MR_small_jpeg_ls_lossless.dcm", 200), ("JPEGLSNearLossless_08.dcm", 40), ("MR_small_jp2klossless.dcm", 2000)],
)
def test_truncated_codestreams_are_reader_errors_not_stripes(name: str, keep: int, tmp_path: Path) -> None:
    from medblink_build.readers import read_image

    assert read_image(get_testdata_file(name)).pixels.size  # the intact file decodes
    with pytest.raises(ReaderError, match=f"codestream of {keep} bytes is truncated"):
        read_image(_cut_fragment(name, keep, tmp_path / name))


def test_a_truncated_jpeg_ls_file_is_a_recorded_skip(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    _cut_fragment("MR_small_jpeg_ls_lossless.dcm", 200, root / "cut.dcm")
    cut = pydicom.dcmread(root / "cut.dcm")
    cut.Modality = "DX"  # the real JPEG-LS stream of an MR, relabelled so orientation decodes it
    cut.save_as(root / "cut.dcm")
    _xray(root, "ok.dcm")
    declare_public(root)
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    skips = {s["key"]: s for s in _manifest(tmp_path / "out")["skipped"]["items"]}
    assert "truncated" in skips["local-src/cut.dcm"]["detail"]


def test_pinning_and_checking_a_source_with_quoted_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_source_check import MANIFEST

    monkeypatch.setenv("MEDBLINK_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "my-cxr"
    _xray(root, 'a "quoted" name.dcm')
    _xray(root, "b.dcm")
    (root / "source.toml").write_text(MANIFEST)
    code, pins = run_cli("sources", "pin", root)
    assert code == 0 and 'path = "a \\"quoted\\" name.dcm"' in pins, pins
    (root / "source.toml").write_text(MANIFEST + "\n" + pins)  # valid TOML, whatever the names hold
    code, output = run_cli("sources", "--check", root)
    assert code == 0 and "OK: 2 pinned, 0 missing, 0 changed, 0 extra" in output, output


def test_a_losing_build_waits_for_the_holder_to_name_itself(tmp_path: Path) -> None:
    """The holder locks, then writes who it is: a loser arriving in between (a loaded machine
    stretches that instant) reads again instead of calling the holder unknown."""
    import fcntl
    import os
    import threading

    from medblink_build.output.folder import _read_holder

    path = tmp_path / ".out.lock"
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    info = {"pid": 4242, "host": "h", "since": "now"}
    late = threading.Timer(0.3, lambda: os.pwrite(holder, json.dumps(info).encode(), 0))
    late.start()
    loser = os.open(path, os.O_RDWR)
    try:
        assert _read_holder(loser) == "pid 4242 on host h, since now"
    finally:
        late.join()
        os.close(loser)
        os.close(holder)
