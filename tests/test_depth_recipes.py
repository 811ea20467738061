"""The depth recipes end to end: visual-depth on frames of a tilted plane (depth known in closed form),
wave-depth on ultrasound DICOM written here with known region geometry, and the bad inputs of each."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medblink_build.readers import read_image
from medblink_build.samples.sample_endoscopy import write_endoscopy_sample
from medblink_build.samples.sample_ultrasound import ProbeSpec, annotate, render_frame
from medblink_build.samples.us_dicom_writer import RLE_LOSSLESS, write_us_dicom
from medblink_build.seeding import rng_for
from medblink_build.tasks.depth_markers import LETTERS, assign_letters
from medblink_build.transforms import replay
from tests.conftest import declare_public, load_config, run_cli

VISUAL = "visual_depth_estimation"
WAVE = "wave_based_depth_estimation"
W, H, F = 200, 160, 170.0  # frame size and focal length (px) of the plane frames
PLANE_FRAMES = 12
BIG = 50  # one frame larger than the 1024 px cap: resized, labels still in closed form
BIG_SIZE = (1100, 880)


def _plane(i: int) -> tuple[float, float, float]:
    """Inverse depth 1/Z = p0 + pu (u - cx) + pv (v - cy): a tilted plane seen by a pinhole camera."""
    rng = np.random.default_rng(i)
    z_centre = rng.uniform(35.0, 55.0)
    tilt = rng.uniform(0.5, 1.0) * rng.choice([-1, 1], size=2) * rng.uniform(0.3, 1.0, size=2)
    return 1.0 / z_centre, float(tilt[0]) / (F * z_centre), float(tilt[1]) / (F * z_centre)


def plane_depth(i: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, h = BIG_SIZE if i == BIG else (W, H)
    p0, pu, pv = _plane(i)
    scale = W / w  # the big frame sees the same plane through a longer focal length in pixels
    return 1.0 / (p0 + scale * (pu * (u - (w - 1) / 2) + pv * (v - (h - 1) / 2)))


def _c3vd(depth_mm: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(depth_mm, 0, 100) / 100.0 * 65535).astype(np.uint16)


SOURCE_TOML = """id = "test-plane"
public_paths = true
name = "tilted planes"
license = "CC0-1.0"
access = "open"
homepage = "https://example.org"
citation = "@misc{plane}"
how_to_obtain = "written by the test"
modality = "endoscopy"
anatomy = "plane"
[layout]
include = ["frames/*_color.png"]
item = "file"
companions = ["{number}_depth.*"]
[defaults]
depth_scale = "full_scale_mm=100"
"""


@pytest.fixture(scope="module")
def plane_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plane") / "src"
    (root / "frames").mkdir(parents=True)
    (root / "source.toml").write_text(SOURCE_TOML)
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    texture = np.random.default_rng(0).integers(60, 200, size=(H, W, 3), dtype=np.uint8)
    for i in range(PLANE_FRAMES):
        Image.fromarray(texture).save(root / "frames" / f"{i}_color.png")
        depth = _c3vd(plane_depth(i, u, v))
        suffix = "png" if i % 2 else "tiff"
        Image.fromarray(depth).save(root / "frames" / f"{i:04d}_depth.{suffix}")
    bu, bv = np.meshgrid(np.arange(BIG_SIZE[0], dtype=np.float64), np.arange(BIG_SIZE[1], dtype=np.float64))
    big = np.random.default_rng(1).integers(60, 200, size=(BIG_SIZE[1], BIG_SIZE[0], 3), dtype=np.uint8)
    Image.fromarray(big).save(root / "frames" / f"{BIG}_color.png")
    Image.fromarray(_c3vd(plane_depth(BIG, bu, bv))).save(root / "frames" / f"{BIG:04d}_depth.png")
    # Bad inputs: a depth map of the wrong size, and one with no valid pixel.
    Image.fromarray(texture).save(root / "frames" / "90_color.png")
    Image.fromarray(_c3vd(plane_depth(0, u, v))[::2, ::2].copy()).save(root / "frames" / "0090_depth.png")
    Image.fromarray(texture).save(root / "frames" / "91_color.png")
    Image.fromarray(np.zeros((H, W), np.uint16)).save(root / "frames" / "0091_depth.png")
    return root


def _build(recipe: str, source: str, out: Path, *extra: object) -> Path:
    code, output = run_cli("recipe", recipe, "--source", source, "--out", out, "--quiet", *extra)
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def plane_out(plane_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("visual-depth", str(plane_source), tmp_path_factory.mktemp("vd") / "out", "--seed", 5)


def _rows(out: Path, config: str) -> list[dict]:
    return list(load_config(out, config))


def _skips(out: Path) -> dict[str, dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {s["key"].rsplit("/", 1)[-1]: s for s in manifest["skipped"]["items"]}


def test_plane_labels_match_closed_form_depth_and_answer(plane_out: Path) -> None:
    rows = _rows(plane_out, VISUAL)
    assert len(rows) == PLANE_FRAMES + 1
    for row in rows:
        label = json.loads(row["label"])
        i = int(json.loads(row["provenance"])["inputs"][0]["path"].split("/")[-1].split("_")[0])
        depths = {}
        for m in label["markers"]:
            truth = float(plane_depth(i, np.array(m["source_x"]), np.array(m["source_y"])))
            assert m["depth_mm"] == pytest.approx(truth, abs=2e-3)  # 16-bit quantisation of 100 mm
            sx, sy = (BIG_SIZE[0] / 1024, BIG_SIZE[1] / 819) if i == BIG else (1.0, 1.0)  # resized to 1024x819
            assert (m["source_x"], m["source_y"]) == (int((m["x"] + 0.5) * sx), int((m["y"] + 0.5) * sy))
            depths[m["letter"]] = truth
        ordered = sorted(depths, key=depths.__getitem__)
        assert label["near_to_far"] == ordered
        expected = ordered[0] if label["ask"] == "closest" else ordered[-1]
        assert row["answer"] == expected == label["answer_marker"]
        assert row["choices"] == [f"Marker {c}" for c in LETTERS[: len(depths)]]
        assert label["ask"] in row["question"]
        near, far = ordered[0], ordered[1]
        assert depths[far] - depths[near] >= 0.15 * depths[near] - 1e-3


def test_plane_markers_are_inside_and_apart_and_replay(plane_out: Path, plane_source: Path) -> None:
    for row in _rows(plane_out, VISUAL):
        prov, label = json.loads(row["provenance"]), json.loads(row["label"])
        r = label["marker_radius_px"]
        pts = np.array([[m["x"], m["y"]] for m in label["markers"]], float)
        assert 2 <= len(pts) <= 4
        w, h = row["images"][0].size
        assert max(w, h) <= 1024
        assert (pts[:, 0] >= r + 2).all() and (pts[:, 0] <= w - 1 - r - 2).all()
        assert (pts[:, 1] >= r + 2).all() and (pts[:, 1] <= h - 1 - r - 2).all()
        d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        assert d.min() >= 3 * r  # discs never overlap
        frame = read_image(plane_source / prov["inputs"][0]["path"])
        np.testing.assert_array_equal(np.asarray(row["images"][0]), replay(prov["transforms"], frame.pixels))
        assert prov["transforms"][-1]["name"] == "draw_markers"
        assert [i["path"].split("/")[-1] for i in prov["inputs"]][1].endswith(("_depth.png", "_depth.tiff"))


def test_plane_bad_inputs_are_recorded_skips(plane_out: Path) -> None:
    skips = _skips(plane_out)
    assert skips["90_color.png"]["reason"] == "depth_size_mismatch"
    assert "100x80" in skips["90_color.png"]["detail"] and "200x160" in skips["90_color.png"]["detail"]
    assert skips["91_color.png"]["reason"] == "no_valid_depth"
    assert len(skips) == 2


def test_answer_letters_are_balanced_by_the_seeded_assignment(plane_out: Path) -> None:
    for n in (2, 3, 4):
        counts = np.zeros(n)
        for k in range(3000):
            depths = list(np.random.default_rng(k).permutation(n).astype(float))
            letters, correct = assign_letters(rng_for(1, "t", str(k)), depths, nearest=k % 2 == 0)
            target = int(np.argmin(depths) if k % 2 == 0 else np.argmax(depths))
            assert letters[target] == LETTERS[correct] and sorted(letters) == list(LETTERS[:n])
            counts[correct] += 1
        assert np.abs(counts / counts.sum() - 1 / n).max() < 0.035, counts
    manifest = json.loads((plane_out / "manifest.json").read_text())
    letters = manifest["configs"][VISUAL]["answer_letters"]
    assert sum(letters.values()) == PLANE_FRAMES + 1 and len(letters) >= 2


def test_visual_depth_same_bytes_with_one_or_two_workers(plane_source: Path, tmp_path: Path) -> None:
    digests = []
    for workers in (1, 2):
        out = _build("visual-depth", str(plane_source), tmp_path / f"w{workers}", "--workers", workers)
        digests.append(
            {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.*")}
        )
    assert digests[0] == digests[1]
    assert any(k.endswith(".parquet") for k in digests[0])


def test_visual_depth_sample_source_and_its_broken_frames(tmp_path: Path) -> None:
    src = write_endoscopy_sample(tmp_path / "endo", width=192, height=160)
    out = _build("visual-depth", f"medblink-sample-endoscopy={src}", tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    reasons = {s["key"].split("/", 1)[1]: s["reason"] for s in manifest["skipped"]["items"]}
    assert reasons.pop("seq_a/9_color.png") == "no_depth_map"
    assert reasons.pop("seq_b/8_color.png") == "no_valid_depth"
    assert reasons.pop("seq_b/9_color.png") == "depth_size_mismatch"
    # At this small size some frames have no room for two clearly separated markers: said so, not guessed.
    assert set(reasons.values()) <= {"no_unambiguous_markers", "no_smooth_valid_area"}
    assert manifest["configs"][VISUAL]["rows"] == 17 - len(reasons) >= 10
    assert manifest["sources"][0]["synthetic"] is True


# --- wave-depth -----------------------------------------------------------------------------------

LINEAR = ProbeSpec("linear", 0.2, box=(90, 30, 389, 329))
SECTOR = ProbeSpec("sector", 0.4, apex=(240.0, 25.0), radii=(5.0, 320.0), half_angle_deg=38.0)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))


@pytest.fixture(scope="module")
def us_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("us") / "src"
    write_us_dicom(root / "linear.dcm", render_frame(LINEAR, 1), uid_seed="w/l", regions=[LINEAR.dicom_region()])
    write_us_dicom(
        root / "sector.dcm",
        _rgb(render_frame(SECTOR, 2)),
        uid_seed="w/s",
        photometric="RGB",
        transfer_syntax=RLE_LOSSLESS,
        regions=[SECTOR.dicom_region()],
    )
    write_us_dicom(
        root / "sector_text.dcm",
        _rgb(annotate(render_frame(SECTOR, 3), SECTOR, "P4-2 D15")),
        uid_seed="w/t",
        photometric="YBR_FULL",
        regions=[SECTOR.dicom_region()],
        burned_in_annotation="YES",
    )
    write_us_dicom(
        root / "cine.dcm",
        np.stack([render_frame(LINEAR, 4, f) for f in range(3)]),
        uid_seed="w/c",
        multiframe=True,
        regions=[LINEAR.dicom_region()],
    )
    write_us_dicom(
        root / "zero.dcm",
        np.stack([render_frame(LINEAR, 5)]),
        uid_seed="w/z",
        multiframe=True,
        extra={"NumberOfFrames": 0},
    )
    Image.fromarray(annotate(np.zeros((360, 480), np.uint8), LINEAR, "FROZEN")).save(root / "blank.png")
    return declare_public(root, "ultrasound")  # the tests follow rows back to these files by name


@pytest.fixture(scope="module")
def us_out(us_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("wave-depth", str(us_source), tmp_path_factory.mktemp("wd") / "out", "--seed", 2)


def _truth(name: str) -> ProbeSpec:
    return LINEAR if name in ("linear.dcm", "cine.dcm") else SECTOR


def test_wave_depth_labels_follow_region_geometry(us_out: Path, us_source: Path) -> None:
    rows = _rows(us_out, WAVE)
    assert len(rows) == 4
    for row in rows:
        prov, label = json.loads(row["provenance"]), json.loads(row["label"])
        name = prov["inputs"][0]["path"]
        probe = _truth(name)
        crop = next((t["params"]["box"] for t in prov["transforms"] if t["name"] == "crop"), [0, 0])
        depths = {}
        for m in label["markers"]:
            sx, sy = m["x"] + crop[0], m["y"] + crop[1]  # no resize: images are under the size cap
            assert (m["source_x"], m["source_y"]) == pytest.approx((sx, sy))
            truth_px = float(probe.depth_px(np.array(sx, float), np.array(sy, float)))
            assert m["depth_px"] == pytest.approx(truth_px, abs=1e-3)
            assert m["depth_mm"] == pytest.approx(truth_px * probe.mm_per_px, abs=1e-3)
            depths[m["letter"]] = truth_px
        ordered = sorted(depths, key=depths.__getitem__)
        assert label["shallow_to_deep"] == ordered
        assert row["answer"] == (ordered[0] if label["ask"] == "shallowest" else ordered[-1])
        geometry = label["probe_geometry_source_px"]
        assert geometry["probe"] == ("linear" if probe.kind == "linear" else "sector")
        if probe.kind == "linear":
            assert geometry["top_edge_y_px"] == probe.box[1]
        else:
            assert geometry["apex_px"] == list(probe.apex)
        assert geometry["mm_per_px"] == [probe.mm_per_px, probe.mm_per_px]
        assert label["frame"] == (1 if name == "cine.dcm" else None)


def test_wave_depth_markers_inside_the_area_apart_and_replay(us_out: Path, us_source: Path) -> None:
    for row in _rows(us_out, WAVE):
        prov, label = json.loads(row["provenance"]), json.loads(row["label"])
        name = prov["inputs"][0]["path"]
        area = _truth(name).area()
        r = label["marker_radius_px"]
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        disc = xx**2 + yy**2 <= r * r
        for m in label["markers"]:
            sx, sy = round(m["source_x"]), round(m["source_y"])
            assert area[sy + yy[disc], sx + xx[disc]].all(), (name, m)  # the whole disc images tissue
        pts = np.array([[m["x"], m["y"]] for m in label["markers"]], float)
        d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        assert d.min() >= 3 * r
        depths = sorted(m["depth_px"] for m in label["markers"])
        assert min(np.diff(depths)) >= label["min_depth_gap_px"] - 1e-6 >= 2 * r
        frame = read_image(us_source / name, frame=label["frame"])
        np.testing.assert_array_equal(np.asarray(row["images"][0]), replay(prov["transforms"], frame.pixels))


def test_burned_in_annotation_is_cropped_and_recorded(us_out: Path) -> None:
    by_name = {json.loads(r["provenance"])["inputs"][0]["path"]: r for r in _rows(us_out, WAVE)}
    label = json.loads(by_name["sector_text.dcm"]["label"])
    prov = json.loads(by_name["sector_text.dcm"]["provenance"])
    assert label["annotations"]["action"] == "cropped_to_imaging_region"
    assert "BurnedInAnnotation YES" in label["annotations"]["why"]
    assert prov["transforms"][0]["name"] == "crop"
    assert prov["transforms"][0]["params"]["box"] == label["imaging_area"]["box_source_px"]
    assert label["imaging_area"]["box_source_px"][0] > 40  # the text column at the left is cut away
    for name in ("linear.dcm", "sector.dcm", "cine.dcm"):
        assert json.loads(by_name[name]["label"])["annotations"]["action"] == "none"


def test_wave_depth_bad_inputs_are_recorded_skips(us_out: Path) -> None:
    skips = _skips(us_out)
    assert skips["zero.dcm"]["reason"] == "unreadable"
    assert "NumberOfFrames = 0" in skips["zero.dcm"]["detail"]
    assert skips["blank.png"]["reason"] == "no_imaging_region"
    assert len(skips) == 2


def test_wave_depth_on_pydicoms_shipped_ultrasound(tmp_path: Path) -> None:
    src = tmp_path / "pydicom_us"
    src.mkdir()
    names = ["examples_palette.dcm", "examples_jpeg2k.dcm", "examples_ybr_color.dcm", "ExplVR_BigEnd.dcm"]
    for name in names:
        shutil.copy(get_testdata_file(name), src / name)
    declare_public(src, "ultrasound")
    out = _build("wave-depth", str(src), tmp_path / "out")
    rows = {json.loads(r["provenance"])["inputs"][0]["path"]: r for r in _rows(out, WAVE)}
    skips = _skips(out)
    assert set(rows) | set(skips) == set(names)
    assert {"examples_palette.dcm", "examples_jpeg2k.dcm"} <= set(rows)
    palette = json.loads(rows["examples_palette.dcm"]["label"])
    assert palette["probe_geometry"]["probe"] == "sector" and "ignored" in palette["dicom_region"]
    jpeg2k = json.loads(rows["examples_jpeg2k.dcm"]["label"])
    assert jpeg2k["probe_geometry"]["probe"] == "linear"
    assert jpeg2k["annotations"]["action"] == "cropped_to_imaging_region"
    ybr = json.loads(rows["examples_ybr_color.dcm"]["label"])  # the phased-array cardiac fan (YBR, JPEG)
    assert ybr["probe_geometry_source_px"]["probe"] == "sector"
    assert skips["ExplVR_BigEnd.dcm"]["reason"] in ("no_imaging_region", "imaging_region_too_small")


def test_wave_depth_sample_runs(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    code, output = run_cli("recipe", "wave-depth", "--out", out, "--quiet")
    assert code == 0, output
    skips = {k: s["reason"] for k, s in _skips(out).items()}
    assert skips == {"broken_zero_frames.dcm": "unreadable", "blank_04.png": "no_imaging_region"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"][WAVE]["rows"] == 10
