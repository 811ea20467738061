"""Tests of the synthetic radiograph phantoms (the built-in sample source).

The orientation recipe relies on these images carrying unmistakable orientation cues, so besides
the array contract (dtype, shape, 12-bit range, determinism) the tests measure the cues in pixels:
each check is written so that the same image turned by 180 degrees (or mirrored, for the
heart) would fail it.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

from medblink_build.samples.phantoms import chest_pa, pelvis_ap

SIZE = 256
VARIANTS = (0, 7, 13, 21)
MAKERS = {"chest": chest_pa, "pelvis": pelvis_ap}


@pytest.fixture(scope="module")
def images() -> dict[tuple[str, int], np.ndarray]:
    return {(name, v): make(v, SIZE) for name, make in MAKERS.items() for v in VARIANTS}


def _rows(img: np.ndarray, start: float, stop: float) -> np.ndarray:
    n = img.shape[0]
    return img[int(start * n) : int(stop * n)].astype(float)


def _cols(band: np.ndarray, start: float, stop: float) -> np.ndarray:
    n = band.shape[1]
    return band[:, int(start * n) : int(stop * n)]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a 1-D mask."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


# --- array contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("size", [32, 97, 256])
def test_dtype_shape_and_12_bit_range(name: str, size: int) -> None:
    img = MAKERS[name](5, size)
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint16
    assert img.shape == (size, size)
    assert int(img.max()) <= 4095
    # A radiograph, not a flat field: dark air, mid soft tissue, bright bone/marker all present.
    assert int(img.min()) < 400 and int(img.max()) > 3500
    assert np.count_nonzero((img > 1200) & (img < 2800)) > 0.2 * size * size


def test_default_size_is_512() -> None:
    for make in MAKERS.values():
        assert inspect.signature(make).parameters["size"].default == 512


@pytest.mark.parametrize("name", MAKERS)
def test_deterministic_and_variants_differ(name: str, images: dict) -> None:
    make = MAKERS[name]
    assert make(7, SIZE).tobytes() == images[(name, 7)].tobytes()
    a, b = images[(name, 0)].astype(float), images[(name, 7)].astype(float)
    # Different in shape, not just in noise (noise alone gives a mean |difference| of ~20).
    assert np.abs(a - b).mean() > 40


def test_global_numpy_random_state_is_neither_used_nor_changed() -> None:
    np.random.seed(1234)
    before = np.random.get_state()
    first = chest_pa(3, 64)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    np.random.seed(999)
    assert np.array_equal(chest_pa(3, 64), first)


def test_same_bytes_in_a_fresh_process() -> None:
    """No dependence on hash randomisation, time or process state."""
    code = (
        "import hashlib\n"
        "from medblink_build.samples.phantoms import chest_pa, pelvis_ap\n"
        "print(hashlib.sha256(chest_pa(3, 64).tobytes() + pelvis_ap(3, 64).tobytes()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    here = hashlib.sha256(chest_pa(3, 64).tobytes() + pelvis_ap(3, 64).tobytes()).hexdigest()
    assert out.stdout.strip() == here


@pytest.mark.parametrize("bad", [-1, -100])
def test_negative_variant_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="variant"):
        chest_pa(bad, 64)
    with pytest.raises(ValueError, match="variant"):
        pelvis_ap(bad, 64)


def test_bad_size_and_non_integers_are_rejected() -> None:
    with pytest.raises(ValueError, match="size"):
        chest_pa(0, 8)
    with pytest.raises(TypeError):
        pelvis_ap(1.5, 64)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        chest_pa(0, 64.0)  # type: ignore[arg-type]
    assert np.array_equal(chest_pa(np.int64(2), 64), chest_pa(2, 64))  # numpy ints are fine


# --- orientation cues shared by both ------------------------------------------------------------


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_not_symmetric_under_180_degree_rotation(name: str, variant: int, images: dict) -> None:
    img = images[(name, variant)].astype(float)
    assert np.abs(img - np.rot90(img, 2)).mean() > 200


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_r_marker_only_in_upper_image_left_corner(name: str, variant: int, images: dict) -> None:
    img = images[(name, variant)]
    k = int(0.14 * SIZE)
    lead = img > 3850  # brighter than any anatomy
    assert lead[:k, :k].sum() > 0.001 * SIZE * SIZE
    rest = lead.copy()
    rest[:k, :k] = False
    assert not rest.any()
    # An "R" is not a blob: its bounding box is only partly filled.
    rr, cc = np.nonzero(lead)
    box = (rr.max() - rr.min() + 1) * (cc.max() - cc.min() + 1)
    assert 0.15 < len(rr) / box < 0.75


# --- chest --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_chest_heart_shadow_is_on_the_image_right(variant: int, images: dict) -> None:
    band = _rows(images[("chest", variant)], 0.50, 0.65)
    left, right = _cols(band, 0.25, 0.48).mean(), _cols(band, 0.52, 0.75).mean()
    assert right > left + 250
    # The same holds for the broad half-image comparison other tests rely on.
    half = _rows(images[("chest", variant)], 0.5, 0.75)
    assert half[:, SIZE // 2 :].mean() > half[:, : SIZE // 2].mean()


@pytest.mark.parametrize("variant", VARIANTS)
def test_chest_is_not_left_right_symmetric(variant: int, images: dict) -> None:
    img = images[("chest", variant)].astype(float)
    k = int(0.14 * SIZE)
    diff = np.abs(img - np.fliplr(img))
    diff[:k] = 0  # ignore the marker rows: the anatomy itself must be asymmetric
    assert diff.mean() > 50


@pytest.mark.parametrize("variant", VARIANTS)
def test_chest_neck_on_top_abdomen_at_bottom(variant: int, images: dict) -> None:
    img = images[("chest", variant)]

    def neck_on_top(a: np.ndarray) -> bool:
        top = _rows(a, 0.0, 0.025)
        neck = _cols(top, 0.42, 0.58).mean()
        beside_neck = np.concatenate([_cols(top, 0.15, 0.30).ravel(), _cols(top, 0.70, 0.85).ravel()])
        bottom = _cols(_rows(a, 0.975, 1.0), 0.15, 0.85).mean()
        # Air above the shoulders either side of the neck; the abdomen fills the bottom rows.
        return bool(neck > beside_neck.mean() + 1000 and bottom > beside_neck.mean() + 1000)

    assert neck_on_top(img)
    assert not neck_on_top(np.rot90(img, 2))


@pytest.mark.parametrize("variant", VARIANTS)
def test_chest_dark_lungs_above_bright_abdomen(variant: int, images: dict) -> None:
    img = images[("chest", variant)]
    lungs = _rows(img, 0.30, 0.50)
    abdomen = _rows(img, 0.85, 1.0)
    for c0, c1 in ((0.20, 0.38), (0.62, 0.80)):
        assert _cols(abdomen, c0, c1).mean() > _cols(lungs, c0, c1).mean() + 500
    # Lung fields are darker than the mediastinum between them.
    assert _cols(lungs, 0.47, 0.53).mean() > _cols(lungs, 0.20, 0.38).mean() + 500


@pytest.mark.parametrize("variant", VARIANTS)
def test_chest_clavicles_cross_the_lung_apices(variant: int, images: dict) -> None:
    img = images[("chest", variant)].astype(float)
    for c0, c1 in ((0.22, 0.36), (0.64, 0.78)):  # mid-clavicular columns, each side
        profile = np.median(_cols(img, c0, c1), axis=1)  # one value per row
        clavicle = profile[int(0.10 * SIZE) : int(0.24 * SIZE)].max()
        lung = profile[int(0.28 * SIZE) : int(0.42 * SIZE)].mean()
        assert clavicle > lung + 700  # a bright bony bar above dark aerated lung


# --- pelvis -------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_pelvis_femoral_shafts_leave_through_the_bottom_edge(variant: int, images: dict) -> None:
    img = images[("pelvis", variant)]

    def two_shafts_at_bottom(a: np.ndarray) -> bool:
        profile = _rows(a, 1.0 - 4 / SIZE, 1.0).mean(axis=0)
        k = SIZE // 64 + 1
        profile = np.convolve(profile, np.ones(k) / k, mode="same")
        soft = np.median(profile[profile > 1000])
        runs = _runs(profile > soft + 0.35 * (profile.max() - soft))
        return (
            len(runs) == 2
            and runs[0][1] <= SIZE // 2 <= runs[1][0]  # one shaft in each half
            and all(0.04 * SIZE < stop - start < 0.12 * SIZE for start, stop in runs)
        )

    assert two_shafts_at_bottom(img)
    assert not two_shafts_at_bottom(np.rot90(img, 2))


@pytest.mark.parametrize("variant", VARIANTS)
def test_pelvis_iliac_wings_make_the_top_wider_and_brighter(variant: int, images: dict) -> None:
    img = images[("pelvis", variant)].astype(float)
    bone = np.median(img[img > 1000]) + 200

    def bone_width(band: np.ndarray) -> float:
        return float((band > bone).sum(axis=1).mean())

    top, bottom = _rows(img, 0.10, 0.35), _rows(img, 0.70, 1.0)
    assert bone_width(top) > 1.3 * bone_width(bottom)
    assert _cols(top, 0.2, 0.8).mean() > _cols(bottom, 0.2, 0.8).mean() + 100
    flipped = np.rot90(img, 2)
    assert bone_width(_rows(flipped, 0.10, 0.35)) < bone_width(_rows(flipped, 0.70, 1.0))


@pytest.mark.parametrize("variant", VARIANTS)
def test_pelvis_obturator_foramina_are_dark_holes_low_in_the_pelvis(variant: int, images: dict) -> None:
    band = _rows(images[("pelvis", variant)], 0.61, 0.69)
    profile = np.convolve(band.mean(axis=0), np.ones(5) / 5, mode="same")
    for p in (profile, profile[::-1]):  # image-left hemipelvis, then the image-right one

        def span(a: float, b: float, p: np.ndarray = p) -> np.ndarray:
            return p[int(a * SIZE) : int(b * SIZE)]

        hole = span(0.31, 0.43).min()
        # A dark hole with bone either side: ischium laterally, pubic body at the symphysis.
        assert span(0.22, 0.32).max() > hole + 300
        assert span(0.42, 0.50).max() > hole + 300
