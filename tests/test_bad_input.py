"""Bad files: a recorded skip naming the file by default, a one-line failure with --strict, and
never a half-written output folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.samples.phantoms import chest_pa
from tests.conftest import shown


@pytest.fixture
def messy_source(tmp_path: Path) -> Path:
    root = tmp_path / "messy"
    good = write_radiograph(root / "good.dcm", chest_pa(0, 128), uid_seed="good")
    data = good.read_bytes()
    (root / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (root / "notes.png").write_text("this is not a picture\n")
    png = root / "broken.png"
    from PIL import Image

    Image.new("L", (64, 64), 128).save(png)
    raw = bytearray(png.read_bytes())
    raw[40:60] = b"\x00" * 20  # damage the IDAT stream
    png.write_bytes(bytes(raw))
    from pydicom import dcmread

    ds = dcmread(good)
    del ds.PixelData
    ds.save_as(root / "no_pixels.dcm")
    (root / "empty.dcm").write_bytes(b"")
    (root / "labels.csv").write_text("path,anatomy\nnotes.png,chest\nbroken.png,chest\n")
    return root


def test_bad_files_are_skipped_with_reasons_naming_them(messy_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, output = cli("recipe", "orientation", "--source", messy_source, "--out", out)
    assert code == 0, output
    assert "skipped 5 item(s): unreadable 5" in output
    manifest = json.loads((out / "manifest.json").read_text())
    names = {shown(n): n for n in ("truncated.dcm", "notes.png", "broken.png", "no_pixels.dcm", "empty.dcm")}
    details = {names[s["detail"].split(":")[0]]: s["detail"] for s in manifest["skipped"]["items"]}
    assert set(details) == set(names.values())  # each named by its pseudonym
    for detail in details.values():
        assert "\n" not in detail
    assert "pixel data" in details["no_pixels.dcm"]
    assert "empty" in details["empty.dcm"]
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 1
    # The generic folder has no manifest: its license is reported as unknown, not invented.
    assert manifest["sources"][0]["license"] == "unknown"


def test_strict_fails_on_one_line_and_keeps_previous_output(messy_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    only_good = tmp_path / "only_good"
    only_good.mkdir()
    shutil.copy(messy_source / "good.dcm", only_good / "good.dcm")
    code, output = cli("recipe", "orientation", "--source", only_good, "--out", out, "--quiet")
    assert code == 0, output
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    code, output = cli("recipe", "orientation", "--source", messy_source, "--out", out, "--strict", "--quiet")
    assert code != 0
    error_lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert ".dcm" in error_lines[0] or ".png" in error_lines[0]
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the previous complete output is untouched
    assert not list(tmp_path.glob(".out.staging-*"))  # no staging folder left behind


def test_refuses_to_replace_a_folder_that_is_not_an_output(messy_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    code, output = cli("recipe", "orientation", "--source", messy_source, "--out", precious)
    assert code != 0
    assert "refusing to replace" in output and str(precious) in output
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_missing_source_folder_is_a_clear_error(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("recipe", "orientation", "--source", tmp_path / "nope", "--out", tmp_path / "o")
    assert code != 0
    assert "nope" in output and "does not exist" in output


def test_unknown_recipe_names_the_available_ones(cli) -> None:  # type: ignore[no-untyped-def]
    code, output = cli("recipe", "no-such-task")
    assert code != 0
    assert "unknown recipe 'no-such-task'" in output and "orientation" in output


def test_labels_csv_path_escaping_the_root_is_rejected(messy_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (messy_source / "labels.csv").write_text("path,anatomy\n../../etc/passwd,chest\n")
    code, output = cli("recipe", "orientation", "--source", messy_source, "--out", tmp_path / "o")
    assert code != 0
    assert "labels.csv" in output and "escapes the source root" in output


def test_manifest_never_records_where_the_source_lives(messy_source: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, output = cli("recipe", "orientation", "--source", messy_source, "--out", out, "--quiet")
    assert code == 0, output
    text = (out / "manifest.json").read_text() + (out / "README.md").read_text()
    assert str(messy_source) not in text and str(tmp_path) not in text
    details = [s["detail"] for s in json.loads((out / "manifest.json").read_text())["skipped"]["items"]]
    assert any(d.startswith(f"{shown('truncated.dcm')}:") for d in details)
    assert not any("truncated.dcm" in d for d in details)  # local names are pseudonymised
