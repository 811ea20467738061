"""Release notes between two builds with a known change."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medblink_build.release.notes import release_notes
from tests.conftest import run_cli
from tests.release_helpers import build_orientation

CONFIGS = ("imaging_orientation_cxr", "imaging_orientation_pelvic")


def _section(notes: str, config: str) -> str:
    start = notes.index(f"## `{config}`")
    end = notes.find("\n## ", start + 1)
    return notes[start : end if end != -1 else len(notes)]


def _listed(notes: str, config: str, title: str) -> list[str]:
    """The ids listed under 'Title (n):' in a config's section, checking n."""
    section = _section(notes, config)
    match = re.search(rf"^{title} \((\d+)\):\n\n((?:- `[^`]+`.*\n)+)", section, flags=re.M)
    if match is None:
        return []
    ids = re.findall(r"^- `([^`]+)`", match.group(2), flags=re.M)
    assert len(ids) == int(match.group(1))
    return ids


def _examples(folder: Path) -> dict[str, dict[str, str]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {config: dict(info["examples"]) for config, info in manifest["configs"].items()}


@pytest.fixture(scope="module")
def builds(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notes")
    return {
        "limit3": build_orientation(xray_source, root / "limit3", "--limit", 3),
        "limit4": build_orientation(xray_source, root / "limit4", "--limit", 4),
        "seed1": build_orientation(xray_source, root / "seed1", "--seed", 1, "--limit", 3),
        "seed2": build_orientation(xray_source, root / "seed2", "--seed", 2, "--limit", 3),
    }


def test_one_more_item_per_config_is_listed_as_added(builds: dict[str, Path]) -> None:
    notes = release_notes(builds["limit3"], builds["limit4"])
    new = json.loads((builds["limit4"] / "manifest.json").read_text())
    for config in CONFIGS:
        fourth = new["configs"][config]["examples"][3][0]  # a seeded order: --limit 4 = --limit 3 plus one
        assert _listed(notes, config, "Added") == [fourth]
        assert _listed(notes, config, "Removed") == [] and _listed(notes, config, "Changed") == []
        assert f"| `{config}` | 3 → 4 | +1 | 1 | 0 | 0 | 3 |" in notes
        assert "Rows: 3 → 4 (+1)" in _section(notes, config)
    assert "| **total** | 6 → 8 | +2 | 2 | 0 | 0 | 6 |" in notes
    assert "- seed: `0` (unchanged)" in notes and "- recipe `orientation`: `1.1.0` (unchanged)" in notes
    assert "- nothing to flag" in notes


def test_another_seed_lists_exactly_the_added_removed_and_changed_ids(builds: dict[str, Path]) -> None:
    old, new = _examples(builds["seed1"]), _examples(builds["seed2"])
    notes = release_notes(builds["seed1"], builds["seed2"])
    changed_somewhere = False
    for config in CONFIGS:
        a, b = old[config], new[config]
        assert set(_listed(notes, config, "Added")) == set(b) - set(a)
        assert set(_listed(notes, config, "Removed")) == set(a) - set(b)
        changed = {i for i in b if i in a and a[i] != b[i]}
        assert set(_listed(notes, config, "Changed")) == changed
        changed_somewhere |= bool(changed)
    assert changed_somewhere, "the fixture should give an item kept under both seeds with another draw"
    assert "- seed: `1` → `2`" in notes
    # Both are folders, so each changed item names its differing columns; a new seed redraws the choice order.
    line = next(ln for ln in notes.splitlines() if ln.startswith("- `") and ": " in ln)
    assert "provenance" in line and "prompt" in line


def test_letter_balance_and_label_distribution_come_from_the_manifests(builds: dict[str, Path]) -> None:
    notes = release_notes(builds["seed1"], builds["seed2"])
    a = json.loads((builds["seed1"] / "manifest.json").read_text())["configs"]
    b = json.loads((builds["seed2"] / "manifest.json").read_text())["configs"]
    for config in CONFIGS:
        section = _section(notes, config)
        for letter in sorted(set(a[config]["answer_letters"]) | set(b[config]["answer_letters"])):
            o, n = a[config]["answer_letters"].get(letter, 0), b[config]["answer_letters"].get(letter, 0)
            assert re.search(rf"^\| {letter} \| {o} \(\d+%\) \| {n} \(\d+%\) \| [+-]?\d+ \|$", section, flags=re.M)
        for text in set(a[config]["answer_texts"]) | set(b[config]["answer_texts"]):
            o, n = a[config]["answer_texts"].get(text, 0), b[config]["answer_texts"].get(text, 0)
            assert f"| {text} | {o} (" in section and f" | {n} (" in section


def test_checks_flag_an_unbumped_release_and_an_unexplained_change(builds: dict[str, Path], tmp_path: Path) -> None:
    manifest = json.loads((builds["limit3"] / "manifest.json").read_text())
    manifest["release"] = {"name": "MedBLINK", "version": "1.0.0"}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(manifest))
    config = CONFIGS[0]
    changed_id = manifest["configs"][config]["examples"][1][0]
    manifest["configs"][config]["examples"][1][1] = "0" * 64
    new = tmp_path / "new.json"
    new.write_text(json.dumps(manifest))
    notes = release_notes(old, new)
    assert notes.startswith("# Release notes: MedBLINK 1.0.0 → MedBLINK 1.0.0")
    assert _listed(notes, config, "Changed") == [changed_id]
    assert "content changed but the release version stayed at `1.0.0`: bump it" in notes
    assert f"`{config}`: 1 item(s) changed although recipe `orientation` stayed at `1.1.0`" in notes
    # Manifests only (no folders): changed ids are listed without column names.
    assert f"- `{changed_id}`\n" in notes

    manifest["release"]["version"] = "1.0.1"
    manifest["recipes"]["orientation"] = "1.2.0"
    for info in manifest["configs"].values():
        info["recipe_version"] = "1.2.0"
    new.write_text(json.dumps(manifest))
    notes = release_notes(old, new)
    assert "- release: `1.0.0` → `1.0.1`" in notes and "- recipe `orientation`: `1.1.0` → `1.2.0`" in notes
    assert "Recipe: `orientation 1.1.0` → `orientation 1.2.0`" in _section(notes, config)
    assert "- nothing to flag" in notes

    manifest["release"]["version"] = "0.9.0"
    new.write_text(json.dumps(manifest))
    assert "the release version went backwards: `1.0.0` → `0.9.0`" in release_notes(old, new)


def test_notes_cli_prints_or_writes_and_names_a_bad_folder(builds: dict[str, Path], tmp_path: Path) -> None:
    code, output = run_cli("notes", builds["limit3"], builds["limit4"])
    assert code == 0, output
    assert output.startswith("# Release notes:")
    target = tmp_path / "NOTES.md"
    code, output = run_cli("notes", builds["limit3"], builds["limit4"], "--out", target)
    assert code == 0, output
    assert target.read_text() == release_notes(builds["limit3"], builds["limit4"])
    code, output = run_cli("notes", tmp_path, builds["limit4"])
    assert code != 0 and "not a medblink-build output" in output and len(output.strip().splitlines()) == 1
