"""`align` on a laundered copy of the sample release: every row found again with its parameters,
exactly the replaced answers flagged, and the pins rebuild the rows with the derived answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medblink_build.errors import SourceError
from medblink_build.release.align import published_choices, read_published
from medblink_build.release.definition import load_release
from tests.align_helpers import launder
from tests.conftest import run_cli
from tests.release_helpers import rows_of

MARKER_TASKS = {"visual_depth_estimation", "wave_based_depth_estimation", "histology_structure"}
REPLACED = 7


@pytest.fixture(scope="module")
def aligned(sample_release: Path, samples_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("align")
    code, output = run_cli("export", sample_release, "--format", "medblink", "--to", work / "export")
    assert code == 0, output
    truth = launder(work / "export", work / "published" / "val.parquet", REPLACED)
    pins, audit = work / "PINS.toml", work / "AUDIT.json"
    code, output = run_cli(
        "align", work / "published", "--sources-root", samples_root, "--release", "medblink-sample-1.0",
        "--out", pins, "--report", audit,
    )  # fmt: skip
    assert code == 0, output
    return {"work": work, "truth": truth, "pins": pins, "audit": json.loads(audit.read_text()), "output": output}


def test_align_matches_the_laundered_rows_and_their_parameters(aligned: dict[str, Any], sample_release: Path) -> None:
    by_id = {row["id"]: row for rows in rows_of(sample_release).values() for row in rows}
    rows = aligned["audit"]["rows"]
    assert len(rows) == len(by_id)
    for task, counts in aligned["audit"]["summary"]["tasks"].items():
        needed = 0.90 if task in MARKER_TASKS else 0.99
        assert counts["matched"] >= needed * counts["rows"], (task, counts)
    for row in rows:
        original = by_id[aligned["truth"][row["question_id"]]["original"]]
        provenance = json.loads(original["provenance"])
        if row["status"] != "matched":
            continue
        assert row["item_key"] == provenance["example_key"]
        assert {k: v for k, v in row["params"].items() if k != "choices"} == provenance.get("parameters", {})
        assert row["params"].get("choices", original["choices"]) == original["choices"]
        assert 0.9 < row["score"] <= 1.0
    assert "imaging_orientation_cxr" in aligned["output"] and "disagreeing" in aligned["output"]


def test_align_flags_exactly_the_replaced_answers(aligned: dict[str, Any]) -> None:
    rows = aligned["audit"]["rows"]
    flagged = {r["question_id"] for r in rows if r["label_agrees"] is False}
    replaced = {qid for qid, t in aligned["truth"].items() if t["replaced"]}
    matched = {r["question_id"] for r in rows if r["status"] == "matched"}
    assert flagged == replaced & matched and len(flagged) >= REPLACED - 1
    for r in rows:
        if r["status"] == "matched":
            assert r["label_agrees"] is (r["question_id"] not in replaced)
            assert r["published_answer"] == aligned["truth"][r["question_id"]]["answer"]
    summary = aligned["audit"]["summary"]
    assert summary["disagreeing"] == len(flagged) and summary["agreeing"] == len(matched) - len(flagged)


def test_the_rebuild_from_the_pins_gives_the_matched_rows_with_the_derived_answers(
    aligned: dict[str, Any], sample_release: Path, samples_root: Path
) -> None:
    definition = load_release(str(aligned["pins"]))
    assert definition.regeneration["disagreements"] and definition.regeneration["matched"] == len(
        [r for r in aligned["audit"]["rows"] if r["status"] == "matched"]
    )
    out = aligned["work"] / "rebuilt"
    code, output = run_cli(
        "build", "--release", aligned["pins"], "--sources-root", samples_root, "--out", out, "--quiet"
    )
    assert code == 0, output
    by_id = {row["id"]: row for rows in rows_of(sample_release).values() for row in rows}
    audit = {r["question_id"]: r for r in aligned["audit"]["rows"]}
    rebuilt = [row for rows in rows_of(out).values() for row in rows]
    assert len(rebuilt) == sum(r["derived_answer"] is not None for r in audit.values())
    for row in rebuilt:
        qid = json.loads(row["provenance"])["published"]["question_id"]
        original = by_id[aligned["truth"][qid]["original"]]
        assert row["images"][0]["bytes"] == original["images"][0]["bytes"]
        assert row["question"] == original["question"] and row["choices"] == original["choices"]
        assert row["choices"]["ABCD".index(row["answer"])] == audit[qid]["derived_answer"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["release"]["regeneration"]["disagreements"] == definition.regeneration["disagreements"]


def test_align_refuses_a_copy_without_the_published_columns(tmp_path: Path, samples_root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"task": ["x"], "question": ["q"]}), bad)
    code, output = run_cli(
        "align", bad, "--sources-root", samples_root, "--out", tmp_path / "p.toml", "--report", tmp_path / "a.json"
    )
    assert code != 0 and "missing column(s) question_id, answer, image" in output
    assert not (tmp_path / "p.toml").exists()
    with pytest.raises(SourceError, match="no parquet files"):
        (tmp_path / "nothing").mkdir()
        read_published(tmp_path / "nothing")


def test_published_choices_reads_lettered_lines_only() -> None:
    assert published_choices("Q?\n(A) one\n(B) two") == ["one", "two"]
    assert published_choices("Q?\n(B) two\n(A) one") == []
    assert published_choices("Q? yes or no") == []


def _other_seed_copy(
    samples_root: Path, tmp_path: Path, recipe: str, source_id: str, tasks: tuple[str, ...], seed: int
) -> tuple[Path, Path, dict[str, Any]]:
    """RECIPE's rows drawn with another seed from a sample source, exported and laundered, and a
    release of those tasks at seed 0. Returns (release, published copy, question id -> the
    parameters that drew the row)."""
    out = tmp_path / f"{recipe}-seed{seed}"
    source = f"{source_id}={samples_root / source_id}"
    code, output = run_cli("recipe", recipe, "--source", source, "--seed", seed, "--out", out, "--quiet")
    assert code == 0, output
    assert run_cli("export", out, "--format", "medblink", "--to", tmp_path / "export")[0] == 0
    truth = launder(tmp_path / "export", tmp_path / "published.parquet", 0)
    release = tmp_path / "release.toml"
    release.write_text(
        'name = "subset"\nversion = "1.0.0"\nseed = 0\n'
        + "".join(f'[[task]]\nid = "{t}"\nrecipe = "{recipe}"\ncount = 50\nsources = ["{source_id}"]\n' for t in tasks)
    )
    drawn = {row["id"]: json.loads(row["provenance"])["parameters"] for rows in rows_of(out).values() for row in rows}
    return release, tmp_path / "published.parquet", {q: drawn[t["original"]] for q, t in truth.items()}


def test_align_recovers_rotations_the_release_seed_did_not_draw(samples_root: Path, tmp_path: Path) -> None:
    """A copy drawn with another seed: its rotations are found from the transform family, and the
    derived answers (the recipe run with each found rotation pinned) agree with the published ones."""
    tasks = ("imaging_orientation_cxr", "imaging_orientation_pelvic")
    release, published, drawn = _other_seed_copy(
        samples_root, tmp_path, "orientation", "medblink-sample-xray", tasks, 5
    )
    code, output, audit = _align(published, samples_root, release, tmp_path)
    assert code == 0, output
    assert len(audit["rows"]) == len(drawn)
    assert all(r["status"] == "matched" and r["label_agrees"] is True for r in audit["rows"])
    assert all(r["params"]["rotation"] == drawn[r["question_id"]]["rotation"] for r in audit["rows"])
    index = audit["summary"]["index"]
    assert index["candidates"] == 4 * (index["items"] - index["items_skipped"])  # four rotations per item
    assert index["items_built"] == index["items"]
    pins = (tmp_path / "PINS.toml").read_text()
    code, output, again = _align(published, samples_root, release, tmp_path)  # the index comes from the cache
    assert code == 0, output
    assert again["summary"]["index"]["items_built"] == 0
    assert again["summary"]["index"]["items_from_cache"] == index["items"]
    assert again["rows"] == audit["rows"] and (tmp_path / "PINS.toml").read_text() == pins


def _vd_copy(samples_root: Path, tmp_path: Path, seed: int) -> tuple[Path, Path, dict[str, Any]]:
    tasks = ("visual_depth_estimation",)
    return _other_seed_copy(samples_root, tmp_path, "visual-depth", "medblink-sample-endoscopy", tasks, seed)


def _align(published: Path, samples_root: Path, release: Path, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    code, output = run_cli(
        "align", published, "--sources-root", samples_root, "--release", release,
        "--out", tmp_path / "PINS.toml", "--report", tmp_path / "AUDIT.json",
    )  # fmt: skip
    return code, output, json.loads((tmp_path / "AUDIT.json").read_text())


def test_markers_drawn_elsewhere_are_recovered_from_the_published_image(samples_root: Path, tmp_path: Path) -> None:
    """The same endoscopy frames with markers (and questions) from another seed: the markers are
    found by colour against the re-rendered item, the question's `ask` by trying its values, and
    the answers derived under the recovered markers agree with the published ones."""
    release, published, drawn = _vd_copy(samples_root, tmp_path, 5)
    code, output, audit = _align(published, samples_root, release, tmp_path)
    assert code == 0, output
    assert all(r["status"] == "matched" and r["label_agrees"] is True for r in audit["rows"])
    for r in audit["rows"]:
        truth = drawn[r["question_id"]]
        assert r["params"]["ask"] == truth["ask"]
        got = r["params"]["markers"]
        assert [m["letter"] for m in got] == [m["letter"] for m in truth["markers"]]
        assert all(
            abs(a["x"] - b["x"]) <= 1 and abs(a["y"] - b["y"]) <= 1 for a, b in zip(got, truth["markers"], strict=True)
        )


def test_markers_that_cannot_be_recovered_leave_the_row_unmatched(samples_root: Path, tmp_path: Path) -> None:
    """Markers painted over in the published copy: the image still looks like the item, but no
    parameters reproduce it, so the rows are unmatched (naming the item) and never audited with the
    release seed's markers, which would flag correct labels as wrong."""
    import io

    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw

    release, published, drawn = _vd_copy(samples_root, tmp_path, 5)
    table = pq.read_table(published)
    rows = table.to_pylist()
    for row in rows:
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        scale = 512 / 320  # the sample frames are 320 px wide, the laundered copy 512
        for m in drawn[row["question_id"]]["markers"]:
            x, y = m["x"] * scale, m["y"] * scale
            ImageDraw.Draw(image).rectangle((x - 22, y - 22, x + 22, y + 22), fill=(128, 128, 128))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        row["image"] = {"bytes": buffer.getvalue(), "path": row["image"]["path"]}
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), published)
    code, output, audit = _align(published, samples_root, release, tmp_path)
    assert code != 0 and "no published row matched a source item" in output
    assert not (tmp_path / "PINS.toml").exists()
    assert audit["rows"] and all(r["status"] == "unmatched" and r["label_agrees"] is None for r in audit["rows"])
    assert all("differs locally" in r["note"] for r in audit["rows"])


def test_align_searches_every_ct_slice(sample_release: Path, samples_root: Path, tmp_path: Path) -> None:
    """A copy showing other slices than the recipe's own choice: each CT series is searched slice
    by slice (windowed as the recipe shows its slice), and the pins name the published slices."""
    from medblink_build.release.definition import Pin, builtin_releases
    from medblink_build.release.pins import PinnedTask, pins_toml, write_pins

    rows = rows_of(sample_release)["image_enhancement_detection"]
    shown = {}
    for row in rows:
        provenance = json.loads(row["provenance"])
        k, depth = provenance["parameters"]["slice_index"], provenance["read"]["volume"]["shape"][0]
        shown[provenance["example_key"]] = k - 2 if k >= 2 else min(k + 2, depth - 1)
    base = builtin_releases()["medblink-sample-1.0"]
    task = next(t for t in base.tasks if t.id == "image_enhancement_detection")
    pins = [Pin(key, {"slice_index": k}) for key, k in shown.items()]
    write_pins(
        tmp_path / "other-slices.toml", pins_toml(base, [PinnedTask(task.id, task.recipe, task.sources, pins)], {})
    )
    out = tmp_path / "other-slices"
    code, output = run_cli(
        "build", "--release", tmp_path / "other-slices.toml", "--sources-root", samples_root, "--out", out, "--quiet"
    )
    assert code == 0, output
    assert run_cli("export", out, "--format", "medblink", "--to", tmp_path / "export")[0] == 0
    launder(tmp_path / "export", tmp_path / "published.parquet", 0)
    release = tmp_path / "ct.toml"
    release.write_text(
        'name = "ct"\nversion = "1.0.0"\nseed = 0\n[[task]]\nid = "image_enhancement_detection"\n'
        'recipe = "enhancement"\ncount = 50\nsources = ["medblink-sample-ct-series"]\n'
    )
    code, output, audit = _align(tmp_path / "published.parquet", samples_root, release, tmp_path)
    assert code == 0, output
    assert len(audit["rows"]) == len(shown)
    assert all(r["status"] == "matched" and r["label_agrees"] is True for r in audit["rows"])
    assert {r["item_key"]: r["params"]["slice_index"] for r in audit["rows"]} == shown
    drawn = [json.loads(r["provenance"])["parameters"]["slice_index"] for r in rows]
    assert sum(k != d for k, d in zip(shown.values(), drawn, strict=True)) >= 5  # not the recipe's own slices
    assert audit["summary"]["index"]["candidates"] > 5 * len(shown)  # every slice of every series
