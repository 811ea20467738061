"""Pinned parameters: a release definition that pins items *and* the recipe's parameters rebuilds
exactly those items with those parameters, rows carrying the published question id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medblink_build.errors import MedblinkError
from medblink_build.release.definition import Pin, builtin_releases, parse_release
from medblink_build.release.pins import PinnedTask, pins_toml, write_pins
from tests.conftest import run_cli
from tests.release_helpers import rows_of

ROTATE = {"identity": "rot180", "rot180": "rot90cw", "rot90cw": "rot90ccw", "rot90ccw": "identity"}


def _params(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["provenance"])["parameters"]


def _pinned_release(sample_release: Path, tmp_path: Path) -> tuple[Path, dict[str, list[Pin]]]:
    rows = rows_of(sample_release)
    base = builtin_releases()["medblink-sample-1.0"]
    pins: dict[str, list[Pin]] = {}
    cxr = rows["imaging_orientation_cxr"][:3]
    pins["imaging_orientation_cxr"] = [
        Pin(
            json.loads(r["provenance"])["example_key"],
            {"rotation": ROTATE[_params(r)["rotation"]]},
            f"published-cxr-{i}",
        )
        for i, r in enumerate(reversed(cxr))  # published order differs from the seeded order
    ]
    ct = rows["image_enhancement_detection"][0]
    pins["image_enhancement_detection"] = [
        Pin(json.loads(ct["provenance"])["example_key"], {"slice_index": _params(ct)["slice_index"] - 1}, "ct-0")
    ]
    vd = rows["visual_depth_estimation"][0]
    params = _params(vd)
    swapped = [{**m, "letter": {"A": "B", "B": "A"}.get(m["letter"], m["letter"])} for m in params["markers"]]
    flipped = {"closest": "farthest", "farthest": "closest"}[params["ask"]]
    pins["visual_depth_estimation"] = [
        Pin(json.loads(vd["provenance"])["example_key"], {**params, "markers": swapped, "ask": flipped}, "vd-0")
    ]
    hist = rows["histology_structure"][0]
    hp = _params(hist)
    pins["histology_structure"] = [
        Pin(
            json.loads(hist["provenance"])["example_key"],
            {**hp, "markers": [{**m, "letter": "B" if m["letter"] == "A" else "A"} for m in reversed(hp["markers"])]},
            "hist-0",
        )
    ]
    age = rows["age_estimation"][0]
    pins["age_estimation"] = [
        Pin(json.loads(age["provenance"])["example_key"], {"choices": list(reversed(age["choices"]))}, "age-0")
    ]
    tasks = [PinnedTask(t.id, t.recipe, t.sources, pins.get(t.id, [])) for t in base.tasks]
    path = tmp_path / "PINS.toml"
    write_pins(path, pins_toml(base, tasks, {"disagreements": [{"question_id": "ct-0", "published_answer": "x"}]}))
    return path, pins


def test_pinned_regeneration_uses_the_pinned_items_and_parameters(
    samples_root: Path, sample_release: Path, tmp_path: Path
) -> None:
    path, pins = _pinned_release(sample_release, tmp_path)
    definition = parse_release(path.read_text(), str(path))
    assert [t.count for t in definition.tasks] == [3, 1, 1, 1, 1]
    out = tmp_path / "pinned"
    code, output = run_cli("build", "--release", path, "--sources-root", samples_root, "--out", out, "--quiet")
    assert code == 0, output
    before, after = rows_of(sample_release), rows_of(out)
    assert {c: len(r) for c, r in after.items()} == {c: len(p) for c, p in pins.items()}
    for config, rows in after.items():
        for row, pin in zip(rows, pins[config], strict=True):  # published order
            provenance = json.loads(row["provenance"])
            assert provenance["example_key"] == pin.key
            assert provenance["published"] == {"question_id": pin.question_id}
            assert {k: provenance["parameters"][k] for k in pin.params} == pin.params
    for row, pin in zip(after["imaging_orientation_cxr"], pins["imaging_orientation_cxr"], strict=True):
        assert json.loads(row["label"])["rotation"] == pin.params["rotation"]
        assert json.loads(row["provenance"])["transforms"][-1]["params"]["element"] == pin.params["rotation"]
    ct_before = before["image_enhancement_detection"][0]
    assert json.loads(after["image_enhancement_detection"][0]["label"])["slice_index"] == (
        json.loads(ct_before["label"])["slice_index"] - 1
    )
    vd_before, vd_after = before["visual_depth_estimation"][0], after["visual_depth_estimation"][0]
    old, new = json.loads(vd_before["label"]), json.loads(vd_after["label"])
    assert new["ask"] != old["ask"] and new["near_to_far"] != old["near_to_far"]
    assert new["answer_marker"] == new["near_to_far"][0 if new["ask"] == "closest" else -1]  # derived, not pinned
    old, new = (
        json.loads(before["histology_structure"][0]["label"]),
        json.loads(after["histology_structure"][0]["label"]),
    )
    assert new["structure"] == old["structure"] and new["answer_marker"] != old["answer_marker"]  # letters swapped
    assert after["histology_structure"][0]["answer"] != before["histology_structure"][0]["answer"]
    assert after["age_estimation"][0]["choices"] == list(reversed(before["age_estimation"][0]["choices"]))
    manifest = json.loads((out / "manifest.json").read_text())
    regeneration = manifest["release"]["regeneration"]
    assert regeneration["kind"].startswith("pinned regeneration")
    assert regeneration["pinned_items"]["imaging_orientation_cxr"] == 3
    assert regeneration["disagreements"] == [{"question_id": "ct-0", "published_answer": "x"}]
    export_dir = tmp_path / "pinned-medblink"
    code, output = run_cli("export", out, "--format", "medblink", "--to", export_dir)
    assert code == 0, output
    import pyarrow.parquet as pq

    ids = pq.read_table(export_dir / "data" / "val-00000-of-00001.parquet", columns=["question_id"]).column(0)
    assert ids.to_pylist() == [p.question_id for config in after for p in pins[config]]


def test_a_pinned_value_outside_the_recipe_family_is_an_error(
    samples_root: Path, sample_release: Path, tmp_path: Path
) -> None:
    row = rows_of(sample_release)["imaging_orientation_pelvic"][0]
    base = builtin_releases()["medblink-sample-1.0"]
    task = next(t for t in base.tasks if t.id == "imaging_orientation_pelvic")
    pin = Pin(json.loads(row["provenance"])["example_key"], {"rotation": "rot45"})
    path = tmp_path / "bad.toml"
    write_pins(path, pins_toml(base, [PinnedTask(task.id, task.recipe, task.sources, [pin])], {}))
    code, output = run_cli("build", "--release", path, "--sources-root", samples_root, "--out", tmp_path / "o")
    assert code != 0 and "pinned rotation 'rot45' is not one of identity, rot90cw, rot180, rot90ccw" in output


def test_a_selection_entry_needs_a_key_and_may_not_repeat() -> None:
    head = 'name = "x"\nversion = "1.0.0"\n[[task]]\nid = "t"\nrecipe = "orientation"\ncount = 1\nsources = ["s"]\n'
    with pytest.raises(MedblinkError, match="needs id, recipe, count and sources"):
        parse_release(head + "selection = [{question_id = 'q'}]\n", "x.toml")
    with pytest.raises(MedblinkError, match="item 'a' is selected twice"):
        parse_release(head + "selection = ['a', {key = 'a'}]\n", "x.toml")
