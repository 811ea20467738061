"""The built-in sample dental source: synthetic panoramic-like radiographs with DENTEX-style labels.

Written on demand (nothing to download) so `medblink-build recipe morphology-count` runs on a fresh
machine. The layout mirrors DENTEX's training data:

    training_data/quadrant_enumeration/xrays/train_N.png
    training_data/quadrant_enumeration/train_quadrant_enumeration.json
    training_data/quadrant-enumeration-disease/xrays/train_N.png
    training_data/quadrant-enumeration-disease/train_quadrant_enumeration_disease.json

Each image is an 8-bit greyscale PNG: a dark background, a brighter jaw band and up to 32 teeth
drawn as tapered shapes along a curved occlusal plane, the patient's right on the image left (FDI
quadrant 1 upper left of the image, 2 upper right, 3 lower right, 4 lower left; tooth 1 at the
midline, tooth 8, the third molar, at the far end). The JSON is COCO-like with `categories_1`
(quadrant 0-3), `categories_2` (tooth 0-7) and `categories_3` (diagnosis), one box and polygon per
tooth. `DENTAL_CASES` lists every image with the count or skip reason it must give, including
third molars cut by the image border (60 %, 30 % and 10 % of the box inside), a tooth bud below
the size threshold, a duplicated label, a wrong image size, an image with no annotations, an image
missing from the JSON and a JSON entry whose image file is missing. The disease subset labels
only abnormal teeth (annotations carry `category_id_3`) and must be skipped. The images are
synthetic and released under CC0-1.0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.draw import ellipse, polygon
from skimage.filters import gaussian

WIDTH, HEIGHT = 512, 256
ENUMERATION = "training_data/quadrant_enumeration"
DISEASE = "training_data/quadrant-enumeration-disease"
DIAGNOSES = ("Impacted", "Caries", "Periapical Lesion", "Deep Caries")


@dataclass(frozen=True)
class DentalCase:
    """One sample image: which third molars exist (FDI quadrants 1-4) and what the recipe must say."""

    molars: tuple[bool, bool, bool, bool]
    expected: int | str  # the count, or the skip reason
    inside: float | None = None  # fraction of the image-left third molars' boxes inside the image
    special: str = ""


DENTAL_CASES: dict[str, DentalCase] = {
    "train_0.png": DentalCase((True, True, True, True), 4),
    "train_1.png": DentalCase((False, False, False, False), 0),
    "train_2.png": DentalCase((True, False, True, False), 2),
    "train_3.png": DentalCase((False, True, False, False), 1),
    "train_4.png": DentalCase((True, True, False, True), 3),
    "train_5.png": DentalCase((False, False, True, True), 2),
    "train_6.png": DentalCase((True, True, True, False), 3, inside=0.6),  # cut by the border, counted
    "train_7.png": DentalCase((True, True, False, False), 1, inside=0.1),  # mostly outside: not counted
    "train_8.png": DentalCase((True, False, False, False), "ambiguous_border_instance", inside=0.3),
    "train_9.png": DentalCase((False, True, False, False), "instance_too_small", special="bud"),
    "train_10.png": DentalCase((False, False, True, False), "duplicate_label", special="duplicate"),
    "train_11.png": DentalCase((True, False, False, False), "annotation_size_mismatch", special="size"),
    "train_12.png": DentalCase((True, True, True, True), "no_annotations", special="unlabelled"),
    "train_13.png": DentalCase((True, True, False, False), "not_annotated", special="not_in_json"),
    "train_14.png": DentalCase((False, True, True, True), 3),
    "train_15.png": DentalCase((True, False, False, True), 2),
    "train_16.png": DentalCase((False, False, False, True), 1),
    "train_17.png": DentalCase((True, True, True, True), 4),
    "train_18.png": DentalCase((False, False, False, False), 0),
}
#: An annotation entry whose image file is not written: a recorded `image_missing` skip.
MISSING_IMAGE = "train_99.png"
#: The disease subset: its images must be skipped (only abnormal teeth are labelled there).
DISEASE_IMAGES = ("train_0.png", "train_1.png")


def _slot_x(slot: int, dx: float) -> float:
    margin = 0.10 * WIDTH
    return margin + (slot + 0.5) * (0.80 * WIDTH / 16) + dx


def _occlusal_y(x: float) -> float:
    u = (x - WIDTH / 2) / (0.4 * WIDTH)
    return HEIGHT * 0.52 - HEIGHT * 0.08 * u * u


def _tooth_polygon(slot: int, upper: bool, tooth: int, dx: float) -> np.ndarray:
    """(n, 2) x, y outline of one tooth: crown at the occlusal plane, tapering root away from it."""
    x = _slot_x(slot, dx)
    slot_w = 0.80 * WIDTH / 16
    crown = slot_w * (0.92 if tooth >= 6 else 0.80)
    h = HEIGHT * (0.26 if tooth >= 6 else 0.30)
    sign = -1.0 if upper else 1.0
    y0 = _occlusal_y(x - dx) + sign * 2.0
    points = [
        (x - crown / 2, y0),
        (x + crown / 2, y0),
        (x + crown / 2, y0 + sign * 0.4 * h),
        (x + 0.18 * crown, y0 + sign * h),
        (x - 0.18 * crown, y0 + sign * h),
        (x - crown / 2, y0 + sign * 0.4 * h),
    ]
    return np.array(points, dtype=np.float64)


def _slot_of(quadrant: int, tooth: int) -> tuple[int, bool]:
    """Image slot (0 left .. 15 right) and upper/lower of FDI quadrant 1-4, tooth 1-8."""
    if quadrant in (1, 4):  # the patient's right: image left, tooth 8 at the far left
        return 8 - tooth, quadrant == 1
    return 7 + tooth, quadrant == 2


def _box(points: np.ndarray) -> list[float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return round(float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))), 2)


def _render(teeth: list[np.ndarray], variant: int, dx: float) -> np.ndarray:
    rng = np.random.default_rng(1000 + variant)
    img = np.full((HEIGHT, WIDTH), 0.16, dtype=np.float64)
    img += np.linspace(0.0, 0.05, WIDTH)[None, :]
    for cy, ry in ((0.40, 0.22), (0.64, 0.24)):  # maxilla and mandible
        rr, cc = ellipse(HEIGHT * cy, WIDTH / 2 + dx, HEIGHT * ry, WIDTH * 0.47, shape=img.shape)
        img[rr, cc] += 0.18
    for points in teeth:
        rr, cc = polygon(points[:, 1], points[:, 0], shape=img.shape)
        img[rr, cc] = 0.68 + 0.04 * rng.random()
        crown = points.copy()  # the enamel cap: the occlusal third of the outline, brighter
        crown[2:, 1] = points[0, 1] + (points[2:, 1] - points[0, 1]) * 0.35
        rr, cc = polygon(crown[:, 1], crown[:, 0], shape=img.shape)
        img[rr, cc] = 0.88
    img = gaussian(img, sigma=1.0) + rng.normal(0.0, 0.02, img.shape)
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def _image_and_annotations(
    case: DentalCase, variant: int, image_id: int, first_ann: int, diagnosis: bool = False
) -> tuple[np.ndarray, list[dict]]:
    dx = 0.0
    if case.inside is not None:  # shift the dentition so the image-left third molars are cut
        left = _tooth_polygon(0, True, 8, 0.0)
        x0, width = left[:, 0].min(), np.ptp(left[:, 0])
        dx = -(1.0 - case.inside) * width - x0
    teeth: list[np.ndarray] = []
    annotations: list[dict] = []
    for quadrant in (1, 2, 3, 4):
        for tooth in range(1, 9):
            if tooth == 8 and not case.molars[quadrant - 1]:
                continue
            slot, upper = _slot_of(quadrant, tooth)
            points = _tooth_polygon(slot, upper, tooth, dx)
            if tooth == 8 and case.special == "bud":  # a tooth bud: a few pixels across
                centre = points.mean(axis=0)
                points = centre + np.array([(-3, -3), (3, -3), (3, 3), (-3, 3)], dtype=np.float64)
            teeth.append(points)
            labels = {"category_id_1": quadrant - 1, "category_id_2": tooth - 1}
            if diagnosis:
                if (quadrant + tooth + variant) % 7:
                    continue  # the disease subset labels only abnormal teeth
                labels["category_id_3"] = (quadrant + tooth) % len(DIAGNOSES)
            copies = 2 if (case.special == "duplicate" and tooth == 8) else 1
            for k in range(copies):
                shifted = points + np.array([3.0 * k, 0.0])
                annotations.append(
                    {
                        "iscrowd": 0,
                        "image_id": image_id,
                        "bbox": _box(shifted),
                        "segmentation": [[round(float(v), 2) for v in shifted.reshape(-1)]],
                        "id": first_ann + len(annotations),
                        "area": _area(shifted),
                        **labels,
                    }
                )
    return _render(teeth, variant, dx), annotations


def _categories(diagnosis: bool) -> dict[str, list[dict]]:
    return {
        "categories_1": [{"id": q, "name": str(q + 1), "supercategory": str(q + 1)} for q in range(4)],
        "categories_2": [{"id": t, "name": str(t + 1), "supercategory": str(t + 1)} for t in range(8)],
        "categories_3": [{"id": i, "name": n, "supercategory": n} for i, n in enumerate(DIAGNOSES)],
    }


def _write_subset(dest: Path, folder: str, json_name: str, cases: dict[str, DentalCase], diagnosis: bool) -> None:
    (dest / folder / "xrays").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for number, (name, case) in enumerate(cases.items()):
        image_id = number + 1
        pixels, anns = _image_and_annotations(case, number, image_id, 1 + len(annotations), diagnosis)
        if name != MISSING_IMAGE:
            Image.fromarray(pixels).save(dest / folder / "xrays" / name, compress_level=6)
        if case.special == "not_in_json":
            continue
        width = WIDTH + 10 if case.special == "size" else WIDTH
        images.append({"height": HEIGHT, "width": width, "id": image_id, "file_name": name})
        if case.special != "unlabelled":
            annotations.extend(anns)
    doc = {"images": images, "annotations": annotations, **_categories(diagnosis)}
    (dest / folder / json_name).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def write_dental_sample(dest: Path) -> Path:
    """Write the sample dental source into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    cases = dict(DENTAL_CASES)
    cases[MISSING_IMAGE] = DentalCase((True, True, True, True), "image_missing")
    _write_subset(dest, ENUMERATION, "train_quadrant_enumeration.json", cases, diagnosis=False)
    disease = {name: DentalCase((True, True, True, True), "diagnosis_subset") for name in DISEASE_IMAGES}
    _write_subset(dest, DISEASE, "train_quadrant_enumeration_disease.json", disease, diagnosis=True)
    (dest / "README.txt").write_text(
        "Synthetic panoramic-like dental images written by medblink-build (CC0-1.0). Not patient data.\n",
        encoding="utf-8",
    )
    return dest
