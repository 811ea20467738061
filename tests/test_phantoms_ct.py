"""Tests of the synthetic abdominal CT phantoms (the built-in sample source for CT tasks).

The contrast-detection and organ-position recipes rely on these volumes, so besides the array
contract (dtypes, HU range, determinism) the tests measure the anatomy in voxels: each organ is one
3-D component, the liver lies on the patient's right (image left) of the spleen, kidneys are
posterior with the left one higher, and contrast raises blood and kidney HU unmistakably.
A left-right mirrored or contrast-swapped phantom would fail them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from medblink_build.samples.phantoms_ct import ORGANS, CTPhantom, abdomen

SHAPE = (40, 128, 128)
VARIANTS = (0, 1, 7, 23, 987654321)
ID = {name: i for i, name in ORGANS.items()}


@pytest.fixture(scope="module")
def phantoms() -> dict[tuple[int, bool], CTPhantom]:
    return {(v, c): abdomen(v, contrast=c) for v in VARIANTS for c in (False, True)}


def _centroid(p: CTPhantom, name: str) -> np.ndarray:
    """(k, j, i) = (z, y, x) index centroid of an organ."""
    return np.argwhere(p.labels == ID[name]).mean(axis=0)


def _core(p: CTPhantom, name: str, iterations: int = 1) -> np.ndarray:
    """An organ's mask away from its edges (in-plane erosion), where HU is not blurred by neighbours."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    core = ndimage.binary_erosion(p.labels == ID[name], structure=structure, iterations=iterations)
    assert core.sum() > 20, name
    return core


def _sha(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()


# --- array contract -----------------------------------------------------------------------------


def test_dtypes_shapes_geometry(phantoms: dict) -> None:
    p = phantoms[(0, False)]
    assert p.hu.dtype == np.int16 and p.labels.dtype == np.uint8
    assert p.hu.shape == p.labels.shape == SHAPE
    assert p.spacing == (5.0, 2.5, 2.5) and p.contrast is False and phantoms[(0, True)].contrast is True
    assert all(isinstance(v, float) for v in (*p.spacing, *p.origin))
    # Centred on x = y = 0 in LPS mm; voxel [0, 0, 0] is the right-anterior-inferior corner.
    centre = p.to_volume().index_to_lps(np.array([(SHAPE[2] - 1) / 2, (SHAPE[1] - 1) / 2, 0.0]))
    assert abs(centre[0]) < 1e-9 and abs(centre[1]) < 1e-9
    assert p.origin[0] < 0 and p.origin[1] < 0
    vol = p.to_volume(labels=True)
    assert vol.data is p.labels and vol.spacing == p.spacing and vol.origin == p.origin


@pytest.mark.parametrize("variant", VARIANTS)
def test_hu_range_air_and_bone(variant: int, phantoms: dict) -> None:
    for contrast in (False, True):
        hu = phantoms[(variant, contrast)].hu
        assert int(hu.min()) >= -1024 and int(hu.max()) <= 3071
        assert hu[:, :4, :4].mean() < -950  # air outside the body
        assert hu[phantoms[(variant, contrast)].labels == ID["vertebrae"]].mean() > 500


def test_deterministic_and_variants_differ(phantoms: dict) -> None:
    again = abdomen(7, contrast=True)
    ref = phantoms[(7, True)]
    assert again.hu.tobytes() == ref.hu.tobytes() and again.labels.tobytes() == ref.labels.tobytes()
    assert again.origin == ref.origin
    a, b = phantoms[(0, False)], phantoms[(1, False)]
    assert np.count_nonzero(a.labels != b.labels) > 1000
    assert np.abs(a.hu.astype(float) - b.hu.astype(float)).mean() > 5


def test_contrast_keeps_the_anatomy(phantoms: dict) -> None:
    for v in VARIANTS:
        assert np.array_equal(phantoms[(v, False)].labels, phantoms[(v, True)].labels)


def test_global_numpy_random_state_is_neither_used_nor_changed() -> None:
    np.random.seed(1234)
    before = np.random.get_state()
    first = abdomen(3, shape=(8, 32, 32))
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    np.random.seed(99)
    assert abdomen(3, shape=(8, 32, 32)).hu.tobytes() == first.hu.tobytes()


def test_same_bytes_in_a_fresh_process() -> None:
    """No dependence on hash randomisation, time or process state."""
    code = (
        "import hashlib\n"
        "from medblink_build.samples.phantoms_ct import abdomen\n"
        "p = abdomen(11, shape=(12, 48, 48), contrast=True)\n"
        "print(hashlib.sha256(p.hu.tobytes() + p.labels.tobytes()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    p = abdomen(11, shape=(12, 48, 48), contrast=True)
    assert out.stdout.strip() == _sha(p.hu, p.labels)


@pytest.mark.parametrize("bad", [-1, -100])
def test_negative_variant_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="variant"):
        abdomen(bad)


def test_bad_shape_spacing_and_non_integers_are_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        abdomen(0, shape=(4, 128, 128))
    with pytest.raises(ValueError, match="shape"):
        abdomen(0, shape=(40, 128))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spacing"):
        abdomen(0, spacing=(5.0, 0.0, 2.5))
    with pytest.raises(TypeError):
        abdomen(1.5)  # type: ignore[arg-type]


# --- labels -------------------------------------------------------------------------------------


def test_organ_ids() -> None:
    assert {1: "liver", 2: "spleen", 3: "kidney_right", 4: "kidney_left", 5: "aorta"}.items() <= ORGANS.items()
    assert all(0 < k < 256 for k in ORGANS) and len(set(ORGANS.values())) == len(ORGANS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_organ_present_as_one_3d_component(variant: int, phantoms: dict) -> None:
    labels = phantoms[(variant, False)].labels
    assert set(np.unique(labels).tolist()) == {0, *ORGANS}
    for lab, name in ORGANS.items():
        _, n = ndimage.label(labels == lab)  # face connectivity: the strictest reading
        assert n == 1, f"{name} has {n} components"


@pytest.mark.parametrize("shape", [(12, 48, 48), (24, 96, 128)])
def test_other_shapes_still_hold_every_organ(shape: tuple[int, int, int]) -> None:
    p = abdomen(2, shape=shape, spacing=(6.0, 3.0, 2.0))
    assert p.hu.shape == p.labels.shape == shape
    assert set(np.unique(p.labels).tolist()) == {0, *ORGANS}


def test_organs_span_different_slices(phantoms: dict) -> None:
    """Different slices must hold different organ pairs (the relative-position task samples slices)."""
    labels = phantoms[(0, False)].labels
    present = {lab: np.flatnonzero((labels == lab).any(axis=(1, 2))) for lab in ORGANS}
    assert present[ID["kidney_right"]].min() < present[ID["spleen"]].min()  # low slices: kidneys, no spleen
    assert present[ID["liver"]].max() > present[ID["kidney_right"]].max()  # high slices: liver, no kidneys
    slice_sets = {frozenset(np.unique(labels[k]).tolist()) for k in range(labels.shape[0])}
    assert len(slice_sets) >= 5


# --- anatomy: left/right, anterior/posterior, superior/inferior ---------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_liver_on_patient_right_spleen_on_left(variant: int, phantoms: dict) -> None:
    p = phantoms[(variant, False)]
    assert _centroid(p, "liver")[2] < p.labels.shape[2] / 2 < _centroid(p, "spleen")[2]
    has = {n: (p.labels == ID[n]).any(axis=(1, 2)) for n in ("liver", "spleen")}
    both = np.flatnonzero(has["liver"] & has["spleen"]).tolist()
    assert len(both) >= 5
    for k in both:  # on the axial image (radiological view) the liver is on the image left
        liver_col = np.nonzero(p.labels[k] == ID["liver"])[1].mean()
        spleen_col = np.nonzero(p.labels[k] == ID["spleen"])[1].mean()
        assert liver_col < spleen_col, k
    # and the spleen is posterior to the liver's centre
    assert _centroid(p, "spleen")[1] > _centroid(p, "liver")[1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_kidneys_posterior_either_side_of_spine_left_higher(variant: int, phantoms: dict) -> None:
    p = phantoms[(variant, False)]
    kr, kl, ao, spine = (_centroid(p, n) for n in ("kidney_right", "kidney_left", "aorta", "vertebrae"))
    assert kr[1] > ao[1] and kl[1] > ao[1]  # posterior (higher y) to the aorta
    assert kr[2] < spine[2] < kl[2]  # patient right (low x) / left (high x) of the spine
    assert kl[0] > kr[0]  # left kidney more superior (higher z)


@pytest.mark.parametrize("variant", VARIANTS)
def test_great_vessels_and_stomach(variant: int, phantoms: dict) -> None:
    p = phantoms[(variant, False)]
    ao, ivc, spine, st = (_centroid(p, n) for n in ("aorta", "inferior_vena_cava", "vertebrae", "stomach"))
    assert ivc[2] < spine[2] < ao[2]  # IVC on the right, aorta on the left of the midline
    assert ao[1] < spine[1] and ivc[1] < spine[1]  # both anterior to the spine
    assert st[2] > spine[2] and st[1] < ao[1]  # stomach left and anterior


# --- HU and contrast ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_contrast_is_unmistakable(variant: int, phantoms: dict) -> None:
    plain, enh = phantoms[(variant, False)], phantoms[(variant, True)]
    for name in ("aorta", "kidney_right", "kidney_left"):
        m = plain.labels == ID[name]
        assert enh.hu[m].mean() >= plain.hu[m].mean() + 100, name
    for name in ("liver", "spleen", "inferior_vena_cava"):
        m = _core(plain, name)
        assert enh.hu[m].mean() >= plain.hu[m].mean() + 30, name
    m = _core(plain, "gallbladder")  # bile does not enhance
    assert abs(float(enh.hu[m].mean()) - float(plain.hu[m].mean())) < 15


@pytest.mark.parametrize("variant", VARIANTS)
def test_core_hu_values(variant: int, phantoms: dict) -> None:
    plain, enh = phantoms[(variant, False)], phantoms[(variant, True)]
    expected = {  # (plain, enhanced) ranges of the median over each organ's core
        "liver": ((50, 70), (95, 125)),
        "spleen": ((38, 52), (100, 135)),
        "aorta": ((33, 52), (170, 255)),
        "kidney_left": ((22, 40), (125, 210)),
    }
    for name, ((lo0, hi0), (lo1, hi1)) in expected.items():
        m = _core(plain, name)
        assert lo0 <= np.median(plain.hu[m]) <= hi0, name
        assert lo1 <= np.median(enh.hu[m]) <= hi1, name
    # liver brighter than blood without contrast, blood brighter than liver with it
    assert np.median(plain.hu[_core(plain, "liver")]) > np.median(plain.hu[_core(plain, "aorta")]) + 8
    assert np.median(enh.hu[_core(plain, "aorta")]) > np.median(enh.hu[_core(plain, "liver")]) + 50


@pytest.mark.parametrize("variant", VARIANTS)
def test_subcutaneous_fat_stays_negative(variant: int, phantoms: dict) -> None:
    for contrast in (False, True):
        p = phantoms[(variant, contrast)]
        k, mid = p.hu.shape[0] // 2, p.hu.shape[2] // 2
        column = p.hu[k, :, mid - 1 : mid + 2].mean(axis=1)  # anterior midline, top to bottom
        skin = int(np.argmax(column > -500))
        fat = column[skin + 2 : skin + 4]  # 5-10 mm under the skin
        assert fat.mean() < -50, (variant, contrast, column[skin : skin + 10])


def test_noise_is_mild(phantoms: dict) -> None:
    p = phantoms[(0, False)]
    sd = float(p.hu[_core(p, "liver", iterations=3)].std())
    assert 5.0 < sd < 15.0
