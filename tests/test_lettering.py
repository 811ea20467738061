"""Answer letters are planned for every task, marker tasks included: the writer re-letters bound choices.

Marker recipes give their markers with provisional letters; the writer draws them with the letters
of its balanced plan and renames the label and derivation to match. These tests build the real
recipes on their samples and check the balance, the label and the pixels of every marker.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medblink_build.build.result_cache import _decode, _encode
from medblink_build.model import Example
from medblink_build.output.lettering import reletter
from medblink_build.questions import Bound, LetterPlanner, Question, finalize
from medblink_build.tasks.markers import MARKER_COLOURS, Marker, bound_markers, marker_radius, slot
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _rows(out: Path, config: str) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows: list[dict] = []
    for entry in manifest["configs"][config]["files"]:
        rows += pq.read_table(out / entry["path"]).to_pylist()
    return rows


def _assert_balanced(rows: list[dict]) -> None:
    """Per number of choices, the answer letters' counts differ by at most one."""
    by_n: dict[int, Counter[str]] = defaultdict(Counter)
    for row in rows:
        by_n[len(row["choices"])][row["answer"]] += 1
    for n, counts in by_n.items():
        full = [counts.get(chr(ord("A") + i), 0) for i in range(n)]
        assert max(full) - min(full) <= 1, (n, counts)


def _marker_colour(image: np.ndarray, x: float, y: float, radius: int) -> str:
    """The letter whose colour fills the disc at (x, y): the majority over a ring inside the outline."""
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    d = np.hypot(xx - x, yy - y)
    ring = image[(d >= 0.6 * radius) & (d <= 0.72 * radius)].reshape(-1, 3).astype(int)
    votes: Counter[str] = Counter()
    for px in ring:
        letter = min(MARKER_COLOURS, key=lambda k: int(((px - np.array(MARKER_COLOURS[k])) ** 2).sum()))
        votes[letter] += 1
    return votes.most_common(1)[0][0]


def _check_marker_rows(rows: list[dict]) -> None:
    for row in rows:
        label = json.loads(row["label"])
        assert label["answer_marker"] == row["answer"]
        letters = [m["letter"] for m in label["markers"]]
        assert letters == sorted(letters) == [c.split()[-1] for c in row["choices"]]
        image = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB"))
        radius = label.get("marker_radius_px") or marker_radius(image.shape)
        for m in label["markers"]:
            assert _marker_colour(image, m["x"], m["y"], radius) == m["letter"], (row["id"], m)
        derivation = json.loads(row["provenance"])["label_derivation"]
        assert "{" not in derivation and row["answer"] in derivation


@pytest.fixture(scope="module")
def wave(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wave") / "out"
    code, output = run_cli("recipe", "wave-depth", "--out", out, "--quiet")
    assert code == 0, output
    return out


def test_wave_depth_letters_are_balanced_and_drawn_as_labelled(wave: Path) -> None:
    rows = _rows(wave, "wave_based_depth_estimation")
    _assert_balanced(rows)
    _check_marker_rows(rows)
    for row in rows:
        label = json.loads(row["label"])
        depth = {m["letter"]: m["depth_px"] for m in label["markers"]}
        assert label["shallow_to_deep"] == sorted(depth, key=depth.get)
        pick = max if label["ask"] == "deepest" else min
        assert pick(depth, key=depth.get) == row["answer"]


def test_visual_depth_letters_are_balanced_and_drawn_as_labelled(tmp_path: Path) -> None:
    code, output = run_cli("recipe", "visual-depth", "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    rows = _rows(tmp_path / "out", "visual_depth_estimation")
    _assert_balanced(rows)
    _check_marker_rows(rows)
    for row in rows:
        label = json.loads(row["label"])
        depth = {m["letter"]: m["depth_mm"] for m in label["markers"]}
        assert label["near_to_far"] == sorted(depth, key=depth.get)


def test_histology_letters_are_balanced_and_drawn_as_labelled(tmp_path: Path) -> None:
    code, output = run_cli("recipe", "histology-structure", "--out", tmp_path / "out", "--quiet")
    assert code == 0, output
    rows = _rows(tmp_path / "out", "histology_structure")
    _assert_balanced(rows)
    _check_marker_rows(rows)
    for row in rows:
        label = json.loads(row["label"])
        (asked,) = [m for m in label["markers"] if m["class"] == label["structure"]]
        assert asked["letter"] == row["answer"]


def test_slice_order_example_orders_its_images_to_the_plan(tmp_path: Path) -> None:
    code, output = run_cli(
        "recipe", "slice-order", "--recipes-dir", ROOT / "docs" / "examples", "--out", tmp_path / "out", "--quiet"
    )
    assert code == 0, output
    rows = _rows(tmp_path / "out", "ct_slice_order")
    _assert_balanced(rows)
    for row in rows:
        label = json.loads(row["label"])
        z = label["z_mm"]
        assert label["more_cranial_image"] == (1 if z[0] > z[1] else 2) == "AB".index(row["answer"]) + 1


def test_reletter_moves_the_correct_marker_to_the_planned_letter() -> None:
    pixels = np.full((96, 160), 90, dtype=np.uint8)
    from medblink_build.encode import png_bytes

    markers = [Marker(30.0, 48.0, "A"), Marker(80.0, 48.0, "B"), Marker(130.0, 48.0, "C")]
    radius = 12
    question = Question("Which?", ("Marker A", "Marker B", "Marker C"), 2, False, bound_markers(markers, radius))
    example = Example(
        task="t",
        key="k",
        images=[png_bytes(pixels)],
        question=question,
        label={"answer_marker": "C", "markers": [{"letter": m.letter, "x": m.x} for m in markers], "ask": "A"},
        inputs=[],
        transforms=[],
        derivation=f"order {slot('B')}{slot('A')}{slot('C')}, so the answer is {slot('C')}; keep {{x}}",
    )
    # A resumed build reads the example back from the work folder: the binding survives.
    assert _decode(json.loads(json.dumps(_encode(example)))).question == question
    planner = LetterPlanner(0, "t")
    answers = Counter()
    for k in range(6):
        final = finalize(question, planner, 0, "t", f"k{k}")
        out = reletter(example, final.slots)
        answers[final.answer] += 1
        assert out.label["answer_marker"] == final.answer and out.label["ask"] == "A"  # only named keys change
        assert [m["letter"] for m in out.label["markers"]] == ["A", "B", "C"]
        (moved,) = [m for m in out.label["markers"] if m["x"] == 130.0]
        assert moved["letter"] == final.answer
        image = np.asarray(Image.open(io.BytesIO(out.images[0])).convert("RGB"))
        assert _marker_colour(image, 130.0, 48.0, radius) == final.answer
        assert out.derivation.endswith(f"so the answer is {final.answer}; keep {{x}}")
        assert out.transforms[-1]["name"] == "draw_markers"
    assert answers == {"A": 2, "B": 2, "C": 2}
    with pytest.raises(Exception, match="bound markers must be lettered A, B"):
        bound_markers([Marker(1, 1, "B")], radius)
    with pytest.raises(Exception, match="shuffle=False"):
        Question("Q", ("Image 1", "Image 2"), 0, True, Bound("images"))
