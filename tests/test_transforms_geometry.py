"""Transforms as values and patient-direction geometry, including hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medblink_build.errors import MedblinkError
from medblink_build.geometry import GeometryError, parse_patient_orientation, to_display
from medblink_build.transforms import (
    DIHEDRAL_ELEMENTS,
    Transform,
    apply,
    crop,
    dihedral,
    dihedral_compose,
    dihedral_inverse,
    dihedral_map_points,
    replay,
    resize_to_fit,
)

images = arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9)))
elements = st.sampled_from(DIHEDRAL_ELEMENTS)


@given(images, elements)
def test_every_dihedral_element_is_undone_by_its_inverse(img: np.ndarray, element: str) -> None:
    out = apply(dihedral(element), img)
    np.testing.assert_array_equal(apply(dihedral(dihedral_inverse(element)), out), img)


@given(images, elements, elements)
def test_composition_matches_applying_in_order(img: np.ndarray, first: str, then: str) -> None:
    expected = apply(dihedral(then), apply(dihedral(first), img))
    np.testing.assert_array_equal(apply(dihedral(dihedral_compose(first, then)), img), expected)


@settings(max_examples=50)
@given(images, elements, st.data())
def test_points_move_with_their_pixels(img: np.ndarray, element: str, data: st.DataObject) -> None:
    h, w = img.shape
    y = data.draw(st.integers(0, h - 1))
    x = data.draw(st.integers(0, w - 1))
    out = apply(dihedral(element), img)
    nx, ny = dihedral_map_points(element, np.array([[x, y]]), img.shape)[0]
    assert out[round(ny), round(nx)] == img[y, x]


def test_rotations_match_what_a_viewer_sees() -> None:
    img = np.zeros((3, 5), np.uint8)
    img[0, 4] = 1  # top-right corner
    assert apply(dihedral("rot90cw"), img)[4, 2] == 1  # now bottom-right
    assert apply(dihedral("rot90ccw"), img)[0, 0] == 1  # now top-left
    assert apply(dihedral("rot180"), img)[2, 0] == 1  # now bottom-left
    assert apply(dihedral("flip_h"), img)[0, 0] == 1


def test_resize_only_shrinks_and_keeps_aspect() -> None:
    assert resize_to_fit((100, 50), 200) is None
    t = resize_to_fit((2000, 1000), 1024)
    assert t == Transform("resize", {"size": [512, 1024], "filter": "lanczos"})
    out = apply(t, np.zeros((2000, 1000), np.uint8))
    assert out.shape == (1024, 512)


def test_replay_accepts_recorded_json() -> None:
    img = np.arange(24, dtype=np.uint8).reshape(4, 6)
    ts = [dihedral("rot90cw"), crop((1, 0, 3, 2)), dihedral("flip_v")]
    direct = img
    for t in ts:
        direct = apply(t, direct)
    np.testing.assert_array_equal(replay([t.to_json() for t in ts], img), direct)


def test_transform_errors_state_the_valid_values() -> None:
    with pytest.raises(MedblinkError, match="valid: identity"):
        dihedral("rot45")
    with pytest.raises(MedblinkError, match="unknown transform 'warp'"):
        apply(Transform("warp"), np.zeros((2, 2), np.uint8))
    with pytest.raises(MedblinkError, match="exceeds image"):
        apply(crop((0, 0, 5, 5)), np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize(
    ("stored", "element"),
    [
        (("L", "F"), "identity"),
        (("R", "F"), "flip_h"),
        (("L", "H"), "flip_v"),
        (("R", "H"), "rot180"),
        (("F", "L"), "transpose"),
        (("H", "R"), "antitranspose"),
        (("F", "R"), "rot90cw"),
        (("H", "L"), "rot90ccw"),
        (("LP", "FR"), "identity"),  # oblique codes: the dominant letter decides
    ],
)
def test_patient_orientation_to_standard_frontal_display(stored: tuple[str, str], element: str) -> None:
    assert to_display(stored) == element


@given(elements, st.sampled_from([("L", "F"), ("R", "H"), ("F", "L"), ("A", "F")]))
def test_canonicalising_a_transformed_image_undoes_the_transform(element: str, start: tuple[str, str]) -> None:
    """Store an image under `element`; the orientation it then claims must lead back."""
    from medblink_build.geometry import _direction_after

    claimed = _direction_after(element, start)
    assert dihedral_compose(element, to_display(claimed, start)) == "identity"


def test_lateral_view_cannot_be_shown_as_frontal() -> None:
    with pytest.raises(GeometryError, match="cannot be shown"):
        to_display(("P", "F"))


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("L\\F", ("L", "F")), (["r", "h"], ("R", "H")), ("", None), (None, None), (["", ""], None)],
)
def test_parse_patient_orientation(value: object, parsed: tuple[str, str] | None) -> None:
    assert parse_patient_orientation(value) == parsed


@pytest.mark.parametrize("value", ["L", "L\\F\\A", "X\\F", ["L", ""]])
def test_malformed_patient_orientation_is_rejected(value: object) -> None:
    with pytest.raises(GeometryError, match="PatientOrientation"):
        parse_patient_orientation(value)
