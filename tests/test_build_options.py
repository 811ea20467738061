"""`build` options (tasks, seed, limit, params, executor), strict sample builds, and source pinning checks."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from tests.conftest import run_cli


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_build_picks_tasks_and_takes_seed_limit_and_executor(tmp_path: Path) -> None:
    out = tmp_path / "rel"
    args = ("build", "--out", out, "--tasks", "wave-depth,imaging_orientation_cxr", "--limit", 2, "--seed", 3)
    code, output = run_cli(*args, "--executor", "serial", "--quiet")
    assert code == 0, output
    manifest = _manifest(out)
    assert manifest["seed"] == 3
    assert {c: i["rows"] for c, i in manifest["configs"].items()} == {
        "imaging_orientation_cxr": 2,  # not its sibling config imaging_orientation_pelvic
        "wave_based_depth_estimation": 2,
    }
    assert manifest["release"]["expected_counts"] == {"imaging_orientation_cxr": 2, "wave_based_depth_estimation": 2}
    other = tmp_path / "other-seed"
    assert run_cli(*args[:-1], 4, "--out", other, "--quiet")[0] == 0
    assert (
        _manifest(other)["configs"]["imaging_orientation_cxr"]["examples"]
        != manifest["configs"]["imaging_orientation_cxr"]["examples"]
    )


def test_build_refuses_unknown_tasks_and_params_in_one_line(tmp_path: Path) -> None:
    code, output = run_cli("build", "--out", tmp_path / "x", "--tasks", "wave_depth")
    assert code != 0 and "did you mean 'wave-depth'?" in output and len(output.strip().splitlines()) == 1
    code, output = run_cli("build", "--out", tmp_path / "x", "--param", "foo=1")
    assert code != 0 and "--param foo: not a parameter" in output and "valid: mpp (float" in output
    code, output = run_cli("build", "--out", tmp_path / "x", "--tasks", "histology-structure", "--param", "mpp=x")
    assert code != 0 and "not a float" in output
    assert not (tmp_path / "x").exists()


def test_strict_sample_builds_record_the_deliberately_broken_files(tmp_path: Path) -> None:
    out = tmp_path / "wave"
    code, output = run_cli("recipe", "wave-depth", "--strict", "--out", out, "--quiet")
    assert code == 0, output
    skipped = {s["key"]: s for s in _manifest(out)["skipped"]["items"]}
    broken = skipped["medblink-sample-ultrasound/dicom/broken_zero_frames.dcm"]
    assert broken["reason"] == "unreadable" and broken["detail"].startswith("dicom/broken_zero_frames.dcm: ")


def test_strict_still_stops_on_a_users_unreadable_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    Image.new("L", (64, 64), 100).save(source / "ok.png")
    (source / "broken_on_purpose.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, output = run_cli("recipe", "orientation", "--source", source, "--strict", "--out", tmp_path / "o")
    assert code != 0 and "broken_on_purpose.png" in output


def _cats(root: Path) -> Path:
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (200, 150, 100)).save(root / f"cat{i}.jpg")
    return root


def test_sources_check_with_nothing_pinned_says_so(tmp_path: Path) -> None:
    code, output = run_cli("sources", "--check", f"nih-chestxray14={_cats(tmp_path / 'cats')}")
    assert code != 0
    assert "pins no files" in output and "nothing checked" in output and "differ" not in output


def test_sources_pin_refuses_a_folder_without_the_layout(tmp_path: Path) -> None:
    cats = _cats(tmp_path / "cats")
    code, output = run_cli("sources", "pin", f"nih-chestxray14={cats}")
    assert code != 0 and "not a copy of nih-chestxray14: missing Data_Entry_2017*.csv" in output
    assert "[[files]]" not in output
    code, output = run_cli("sources", "pin", f"c3vd={cats}")
    assert code != 0 and "not a copy of c3vd: missing */pose.txt" in output
    sequence = cats / "seq"  # C3VD's per-sequence markers (the manifest's detect globs)
    sequence.mkdir()
    for name in ("pose.txt", "0_color.png", "0000_depth.tiff"):
        (sequence / name).write_bytes((cats / "cat0.jpg").read_bytes())
    code, output = run_cli("sources", "pin", f"c3vd={cats}")
    assert code == 0 and output.count("[[files]]") == 6, output
