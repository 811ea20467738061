"""Adversarial input: odd names, symlink loops, lying headers, unwritable outputs, and a bounded
fuzz of mutated DICOM/PNG/TIFF through the readers (only the toolkit's own error may escape)."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from medblink_build.errors import OutputError, ReaderError
from medblink_build.output.folder import StagedOutput
from medblink_build.readers import read_image
from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.samples.phantoms import chest_pa
from tests.conftest import run_cli, shown

RLE = "1.2.840.10008.1.2.5"
J2K = "1.2.840.10008.1.2.4.90"


def test_unicode_and_space_file_names_build(tmp_path: Path) -> None:
    root = tmp_path / "src with space"
    write_radiograph(root / "Über Thorax 01.dcm", chest_pa(1, 96), uid_seed="u1")
    write_radiograph(root / "胸部 レントゲン" / "x 2.dcm", chest_pa(2, 96), uid_seed="u2")
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out ü")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out ü" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(i["path"] for i in manifest["inputs"]) == sorted(
        [shown("Über Thorax 01.dcm"), shown("胸部 レントゲン/x 2.dcm")]
    )  # local names are pseudonymised


def test_symlink_loops_do_not_hang_discovery(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write_radiograph(root / "a.dcm", chest_pa(1, 96), uid_seed="l1")
    os.symlink(root / "self.dcm", root / "self.dcm")  # a link to itself
    (root / "d1").mkdir()
    os.symlink(root / "d2", root / "d1" / "to_d2")
    (root / "d2").mkdir()
    os.symlink(root / "d1", root / "d2" / "to_d1")  # a directory loop
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [i["path"] for i in manifest["inputs"]] == [shown("a.dcm")]


def test_transfer_syntax_that_lies_about_its_pixel_data(tmp_path: Path) -> None:
    path = write_radiograph(tmp_path / "liar.dcm", chest_pa(1, 64), uid_seed="liar")
    data = path.read_bytes()
    assert data.count(b"1.2.840.10008.1.2.1\0") == 1  # the file meta's transfer syntax
    path.write_bytes(data.replace(b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2.5\0"))  # says RLE, holds native
    with pytest.raises(ReaderError) as info:
        read_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unwritable_output_gives_a_clear_error_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a_file").write_text("x")
    with (
        pytest.raises(OutputError, match="cannot create the medblink-build output folder"),
        StagedOutput(tmp_path / "a_file" / "out"),
    ):
        pass
    out = tmp_path / "out"
    with StagedOutput(out) as staging:
        (staging / "manifest.json").write_text(json.dumps({"format": "medblink-build-output"}))
    real_replace = os.replace

    def read_only(src: str, dst: str) -> None:
        if ".staging-" in str(src) and str(dst) == str(out):
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OutputError, match="Permission denied"), StagedOutput(out) as staging:
        (staging / "manifest.json").write_text(json.dumps({"format": "medblink-build-output", "new": 1}))
    assert "new" not in (out / "manifest.json").read_text()  # the previous output is back in place


# --- fuzzing -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    img = chest_pa(3, 64)
    out = {}
    for name, syntax in (("dicom", "1.2.840.10008.1.2.1"), ("dicom-rle", RLE), ("dicom-j2k", J2K)):
        out[name] = write_radiograph(folder / f"{name}.dcm", img, uid_seed=name, transfer_syntax=syntax).read_bytes()
    for name, arr in (("png8", (img >> 4).astype(np.uint8)), ("png16", (img << 4).astype(np.uint16))):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out[name] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((img << 4).astype(np.uint16)).save(buf, format="TIFF")
    out["tiff16"] = buf.getvalue()
    return out


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"reader did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "insert", "zero"]), st.floats(0, 1), st.integers(0, 255)),
    min_size=1,
    max_size=6,
)


def _mutate(data: bytes, ops: list[tuple[str, float, int]]) -> bytes:
    out = bytearray(data)
    for op, where, value in ops:
        if not out:
            break
        i = min(int(where * len(out)), len(out) - 1)
        if op == "flip":
            out[i] ^= value or 1
        elif op == "cut":
            del out[i:]
        elif op == "insert":
            out[i:i] = bytes([value]) * (value % 17 + 1)
        else:
            out[i : i + 8] = b"\0" * 8
    return bytes(out)


@pytest.mark.parametrize("kind", ["dicom", "dicom-rle", "dicom-j2k", "png8", "png16", "tiff16"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=mutations)
def test_mutated_files_raise_only_reader_errors(kind: str, ops: list, seed_files: dict[str, bytes]) -> None:
    data = _mutate(seed_files[kind], ops)
    suffix = ".dcm" if kind.startswith("dicom") else ".png" if kind.startswith("png") else ".tif"
    try:
        with _time_limit(10):
            image = read_image(Path(f"fuzzed{suffix}"), data)
    except ReaderError as exc:
        assert "\n" not in str(exc) and f"fuzzed{suffix}" in str(exc)
        return
    assert image.pixels.dtype == np.uint8 and image.pixels.ndim in (2, 3)


@pytest.mark.parametrize(
    "snippet",
    [
        '[[metadata_table]]\npath = "../../etc/passwd"\nkey = "path"\n',
        '[[files]]\npath = "/etc/passwd"\nsha256 = "00"\n',
        '[[files]]\npath = "a/../../b"\nsha256 = "00"\n',
    ],
)
def test_manifest_paths_escaping_the_source_root_are_rejected(snippet: str) -> None:
    from medblink_build.errors import SourceError
    from medblink_build.manifests import parse_manifest

    text = (
        'id = "x"\nname = "x"\nlicense = "CC0-1.0"\naccess = "open"\nhomepage = "h"\ncitation = "c"\n'
        'how_to_obtain = "t"\nmodality = "X-ray"\nanatomy = "chest"\n' + snippet
    )
    with pytest.raises(SourceError, match="escapes the source root"):
        parse_manifest(text, "evil.toml")


def test_headers_that_fail_late_are_reader_errors(tmp_path: Path) -> None:
    """Found by the fuzz test: pydicom converts elements when they are read, so a damaged VR or a
    missing Columns used to escape as NotImplementedError / AttributeError (an internal error)."""
    import pydicom
    from pydicom.data import get_testdata_file

    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    at = raw.index(b"\x28\x00\x10\x00US")  # Rows, explicit VR little endian: read for the size check
    bad_vr = raw[: at + 4] + b"\x55\xe1" + raw[at + 6 :]
    with pytest.raises(ReaderError, match=r"fuzzed\.dcm: .*(Unknown Value Representation|malformed)"):
        read_image(Path("fuzzed.dcm"), bad_vr)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del ds.Columns
    ds.save_as(tmp_path / "no_columns.dcm")
    with pytest.raises(ReaderError, match=r"no_columns\.dcm: malformed DICOM header: AttributeError"):
        read_image(tmp_path / "no_columns.dcm")
