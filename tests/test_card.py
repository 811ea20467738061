"""The public dataset card: metadata from the rows written, no internal notes, complete citations."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli


def _build(recipe: str, out: Path) -> dict:
    code, output = run_cli("recipe", recipe, "--out", out, "--quiet")
    assert code == 0, output
    return json.loads((out / "manifest.json").read_text())


def _card_row(out: Path, config: str) -> list[str]:
    (line,) = [x for x in (out / "README.md").read_text().splitlines() if x.startswith(f"| `{config}` |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize(
    ("recipe", "config"), [("age", "age_estimation"), ("wave-depth", "wave_based_depth_estimation")]
)
def test_modality_and_anatomy_come_from_the_rows_written(recipe: str, config: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = _build(recipe, out)
    rows = pq.read_table(out / manifest["configs"][config]["files"][0]["path"], columns=["modality", "anatomy"])
    anatomies = set(rows.column("anatomy").to_pylist())
    modalities = set(rows.column("modality").to_pylist())
    info = manifest["configs"][config]
    assert set(info["anatomy"].split(", ")) == anatomies and set(info["modality"].split(", ")) == modalities
    cells = _card_row(out, config)
    assert cells[1] == info["modality"] and cells[2] == info["anatomy"]
    if recipe == "age":
        assert anatomies == {"chest", "pelvis"}  # the case the card used to call "chest"
    else:
        assert cells[2] == "phantom"  # not the task's declared "various"
