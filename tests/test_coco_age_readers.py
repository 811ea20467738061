"""Format readers of issue #5: COCO-style / Labelbox instance annotations, and recorded patient ages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medblink_build.errors import MedblinkError, ReaderError
from medblink_build.readers import read_instance_annotations
from medblink_build.readers.instances import Instance
from medblink_build.tasks.age import (
    AgeFormatError,
    age_from_dates,
    parse_age_number,
    parse_age_string,
    parse_dicom_date,
)

# --- COCO -------------------------------------------------------------------------------------


def _coco(**override: object) -> dict:
    doc = {
        "images": [
            {"id": 1, "file_name": "xrays/train_0.png", "width": 100, "height": 50},
            {"id": 2, "file_name": "Train_1.PNG", "width": 100, "height": 50},
            {"id": 3, "file_name": "empty.png", "width": 100, "height": 50},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [0, 0, 10, 20], "category_id_1": 0, "category_id_2": 7},
            {"id": 11, "image_id": 1, "segmentation": [[90, 40, 110, 40, 110, 60, 90, 60]], "category_id_1": 1},
            {"id": 12, "image_id": 2, "bbox": [5, 5, 5, 5], "segmentation": {"counts": "abc", "size": [50, 100]}},
        ],
        "categories_1": [{"id": q, "name": str(q + 1)} for q in range(4)],
        "categories_2": [{"id": t, "name": str(t + 1)} for t in range(8)],
    }
    doc.update(override)
    return doc


def _read(doc: object, name: str = "ann.json"):  # type: ignore[no-untyped-def]
    return read_instance_annotations(name, json.dumps(doc).encode())


def test_coco_is_indexed_by_image_base_name_with_boxes_polygons_and_labels() -> None:
    ann = _read(_coco())
    assert ann.format == "coco" and list(ann.images) == ["Train_1.PNG", "empty.png", "train_0.png"]
    first = ann.find("some/folder/train_0.png")
    assert first is not None and (first.width, first.height) == (100, 50)
    box, poly = first.instances
    assert box.bbox == (0.0, 0.0, 10.0, 20.0) and dict(box.labels) == {"category_id_1": 0, "category_id_2": 7}
    assert poly.bbox == (90.0, 40.0, 20.0, 20.0)  # derived from the polygon when bbox is absent
    assert poly.polygons == (((90.0, 40.0), (110.0, 40.0), (110.0, 60.0), (90.0, 60.0)),)
    assert ann.find("train_1.png") is ann.images["Train_1.PNG"]  # case-insensitive when unambiguous
    assert ann.images["Train_1.PNG"].instances[0].polygons == ()  # RLE is not decoded, the bbox is used
    assert ann.find("empty.png").instances == () and ann.find("missing.png") is None
    assert ann.label_fields() == ("category_id_1", "category_id_2")
    assert ann.category_name("category_id_2", 7) == "8" and ann.category_name("category_id", 1) is None


@pytest.mark.parametrize(
    ("bbox", "fraction"),
    [
        ((10, 10, 20, 20), 1.0),
        ((-10, 10, 20, 20), 0.5),
        ((90, 40, 20, 20), 0.25),
        ((-30, 0, 20, 20), 0.0),
        ((10, 10, 0, 20), 0.0),
    ],
)
def test_inside_fraction_of_a_box(bbox: tuple[float, float, float, float], fraction: float) -> None:
    instance = Instance("1", tuple(float(v) for v in bbox))  # type: ignore[arg-type]
    assert instance.inside_fraction(100, 50) == pytest.approx(fraction)
    assert instance.visible_box_area(100, 50) == pytest.approx(fraction * bbox[2] * bbox[3])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"images": [', r"bad\.json: not valid JSON: .* line 1 column"),
        (b"\xff\xfe\x00", r"bad\.json: not UTF-8"),
        (b'{"images": [], "annotations": [], "x": NaN}', r"bad\.json: not valid JSON: NaN"),
        (json.dumps({"images": []}).encode(), r"bad\.json: missing key 'annotations'"),
        (json.dumps({"images": {}, "annotations": []}).encode(), r"'images' must be a list"),
        (
            json.dumps(_coco(annotations=[{"id": 7, "image_id": 99, "bbox": [0, 0, 1, 1]}])).encode(),
            r"annotations\[0\] \(id 7\): refers to image id 99, which is not in 'images'",
        ),
        (
            json.dumps(_coco(annotations=[{"id": 7, "image_id": 1, "bbox": [0, 0, 1]}])).encode(),
            r"\(id 7\): bbox must be 4 numbers",
        ),
        (
            json.dumps(_coco(annotations=[{"id": 7, "image_id": 1, "bbox": [0, 0, -1, 2]}])).encode(),
            r"width and height must be >= 0",
        ),
        (
            json.dumps(_coco(annotations=[{"id": 7, "image_id": 1, "segmentation": {"counts": "x"}}])).encode(),
            r"\(id 7\): has no bbox and no polygon \(RLE masks are not decoded\)",
        ),
        (
            json.dumps(_coco(annotations=[{"id": 7, "image_id": 1, "segmentation": [[1, 2, 3, 4]]}])).encode(),
            r"segmentation\[0\] needs an even number of at least 6",
        ),
        (
            json.dumps(
                _coco(annotations=[{"id": 7, "image_id": 1, "bbox": [0, 0, 1, 1], "category_id": "a"}])
            ).encode(),
            r"category_id must be an integer",
        ),
        (
            json.dumps(_coco(images=[{"id": 1, "file_name": "a/x.png"}, {"id": 2, "file_name": "b/x.png"}])).encode(),
            r"two images are named 'x\.png'",
        ),
        (json.dumps(_coco(images=[{"id": 1, "file_name": ""}])).encode(), r"images\[0\]: file_name must be"),
        (
            json.dumps(_coco(images=[{"id": 1, "file_name": "a.png", "width": 0}], annotations=[])).encode(),
            r"width must be a positive integer",
        ),
        (json.dumps(_coco(categories_2=[{"id": "x", "name": "1"}])).encode(), r"categories_2\[0\]: needs an integer"),
        (b'"just a string"', r"must hold a JSON object, got str"),
    ],
)
def test_malformed_annotation_files_name_the_file_and_the_entry(data: bytes, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as info:
        read_instance_annotations("some/dir/bad.json", data)
    assert info.value.path == "some/dir/bad.json"


def test_labelbox_rows_of_the_tufts_layout() -> None:
    rows = [
        {
            "External ID": "986.jpg",
            "Label": {
                "objects": [
                    {"title": "1", "bounding box": [381, 416, 500, 484]},
                    {"title": "A", "polygon": [{"x": 1, "y": 2}, {"x": 11, "y": 2}, {"x": 11, "y": 12}]},
                ]
            },
        },
        {"External ID": "987.jpg", "Label": {"objects": []}},
    ]
    ann = _read(rows, "teeth_bbox.json")
    assert ann.format == "labelbox" and list(ann.images) == ["986.jpg", "987.jpg"]
    box, poly = ann.find("986.JPG").instances
    assert box.bbox == (381.0, 416.0, 119.0, 68.0)  # [x_min, y_min, x_max, y_max] -> x, y, w, h
    assert dict(box.labels) == {"title": "1"} and poly.bbox == (1.0, 2.0, 10.0, 10.0)
    assert ann.category_name("title", "16") == "16"
    with pytest.raises(ReaderError, match=r"row 0: missing key 'External ID'"):
        _read([{"Label": {"objects": []}}])
    with pytest.raises(ReaderError, match=r"object 0: 'bounding box' must be 4 numbers"):
        _read([{"External ID": "a.jpg", "Label": {"objects": [{"title": "1", "bounding box": [1, 2]}]}}])
    with pytest.raises(ReaderError, match=r"the image 'a\.jpg' has two rows"):
        _read([{"External ID": "a.jpg", "Label": {"objects": []}}] * 2)


# --- ages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "low", "high", "unit"),
    [
        ("045Y", 45.0, 46.0, "years"),
        ("018M", 1.5, 19 / 12, "months"),
        ("006W", 42 / 365.2425, 49 / 365.2425, "weeks"),
        ("010D", 10 / 365.2425, 11 / 365.2425, "days"),
        (" 072Y ", 72.0, 73.0, "years"),
        ("45Y", 45.0, 46.0, "years"),  # unpadded, seen in exports, unambiguous
    ],
)
def test_dicom_age_strings_in_every_unit(value: str, low: float, high: float, unit: str) -> None:
    age = parse_age_string(value)
    assert (age.low, age.high, age.unit) == (pytest.approx(low), pytest.approx(high), unit)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("045", "no unit letter"),
        ("045X", "unit letter is not one of D, W, M, Y"),
        ("045y", "unit letter is not one of D, W, M, Y"),
        ("4.5Y", "not three digits and a unit letter"),
        ("0045Y", "not three digits and a unit letter"),
        ("45 years", "unit letter is not one of"),
    ],
)
def test_malformed_age_strings_name_the_problem_not_the_value(value: str, problem: str) -> None:
    with pytest.raises(AgeFormatError, match=problem) as info:
        parse_age_string(value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MedblinkError)
    assert "PatientAge" in str(info.value)
    if value.strip():
        assert value.strip() not in str(info.value)


def test_age_from_birth_and_study_dates() -> None:
    age = age_from_dates("19480312", "20200615")
    assert age.low == pytest.approx((72 * 365.2425 + 95) / 365.2425, abs=0.01)
    assert age.high - age.low == pytest.approx(1 / 365.2425)
    assert age_from_dates("20200101", "20190101").low < 0  # plausibility is the caller's decision
    for birth, study, problem in (
        ("19531397", "20190101", "PatientBirthDate is not a valid calendar date"),
        ("1953-01-01", "20190101", "PatientBirthDate is not a DICOM date"),
        ("19530101", "2019", "StudyDate is not a DICOM date"),
    ):
        with pytest.raises(AgeFormatError, match=problem) as info:
            age_from_dates(birth, study)
        assert birth not in str(info.value) and study not in str(info.value)
    with pytest.raises(AgeFormatError, match="StudyDate is empty"):
        parse_dicom_date(" ", "StudyDate")


def test_table_ages_in_years_or_months() -> None:
    assert (parse_age_number("58", "age").low, parse_age_number("58", "age").high) == (58.0, 59.0)
    assert parse_age_number("58.5", "age").high == 58.5  # a decimal is exact
    assert parse_age_number("058Y", "age").low == 58.0  # an Age String in a table
    months = parse_age_number("150", "bone_age_months", "months")
    assert (months.low, months.high) == (12.5, pytest.approx(151 / 12))
    assert parse_age_number("-3", "age").low == -3.0
    with pytest.raises(AgeFormatError, match=r"age is not a number of years") as info:
        parse_age_number("about fifty", "age")
    assert "fifty" not in str(info.value)


@given(st.integers(0, 999), st.sampled_from("DWMY"))
def test_every_well_formed_age_string_parses_to_an_interval(number: int, unit: str) -> None:
    age = parse_age_string(f"{number:03d}{unit}")
    assert 0 <= age.low < age.high and age.low == pytest.approx(number * (age.high - age.low))


@given(st.text(max_size=12))
def test_any_text_parses_or_raises_the_toolkit_error(text: str) -> None:
    try:
        parse_age_string(text)
    except AgeFormatError as exc:
        if len(text.strip()) > 1 and any(c.isdigit() for c in text):
            assert text.strip() not in str(exc)
