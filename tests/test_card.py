"""The public dataset card: metadata from the rows written, no internal notes, complete citations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medblink_build.manifests import builtin_manifests
from medblink_build.output.card import MEDBLINK_CITATION, render_card
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


ROOT = Path(__file__).resolve().parents[1]
_INTERNAL = re.compile(r"\[(?:V|3P|U)\b|unverified|SOURCES\.md", re.I)


def _public_text(folder: Path) -> str:
    return (folder / "README.md").read_text() + (folder / "croissant.json").read_text()


def test_cards_carry_no_internal_notes_and_cite_medblink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = _build("orientation", out)
    assert manifest["configs"]
    text = _public_text(out)
    assert not _INTERNAL.search(text), _INTERNAL.search(text)
    assert "## Citation" in text and "eprint        = {2508.02951}" in text and "Bigverdi, Mahtab" in text
    assert json.loads((out / "croissant.json").read_text())["citeAs"].startswith(MEDBLINK_CITATION)


def test_a_card_over_every_real_source_is_public() -> None:
    """Every shipped manifest's license note and citation, as a card renders them."""
    sources = [m for m in builtin_manifests().values() if m.generator is None]
    assert len(sources) >= 22
    card = render_card(
        tasks=(),
        counts={},
        letters={},
        sources=sources,
        recipes={},
        recipe_descriptions={},
        seed=0,
        tool_version="0",
        sample=False,
        skipped={},
    )
    assert not _INTERNAL.search(card), _INTERNAL.search(card)
    assert MEDBLINK_CITATION in card


@pytest.mark.parametrize("source_id", sorted(k for k, m in builtin_manifests().items() if m.generator is None))
def test_every_real_source_has_a_complete_citation_and_a_homepage(source_id: str) -> None:
    m = builtin_manifests()[source_id]
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{(.+)\},?$", m.citation, re.M))
    assert {"title", "author", "year", "doi"} <= set(fields), (source_id, sorted(fields))
    assert {"journal", "booktitle", "howpublished"} & set(fields), source_id  # the venue
    assert re.fullmatch(r"(19|20)\d\d", fields["year"]) and fields["doi"].startswith("10.")
    assert re.match(r"[^,{}]+, [A-Z]", fields["author"]), fields["author"]  # named authors, "Last, First"
    assert m.homepage.startswith("https://"), m.homepage


def test_docs_that_are_referenced_exist() -> None:
    texts = [p.read_text(encoding="utf-8") for p in ROOT.glob("*.md")]
    texts += [
        p.read_text(encoding="utf-8")
        for pattern in ("docs/**/*", "data_manifests/**/*.toml", "medblink_build/**/*.py", "recipes/*.py")
        for p in ROOT.glob(pattern)
        if p.is_file()
    ]
    # `owner/repo:docs/...` names another project's file (an evidence note), not one of ours
    referenced = {ref for text in texts for ref in re.findall(r"(?<![\w:/.-])docs/[\w./-]+\.(?:md|py)\b", text)}
    assert "docs/releases.md" in referenced
    missing = sorted(ref for ref in referenced if not (ROOT / ref).is_file())
    assert not missing, missing


def test_export_cards_are_public_and_cite_medblink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build("orientation", out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sources"][0]["license_note"] = "Open data [3P]. Terms not recorded in SOURCES.md. Attribute the authors."
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, output = run_cli("export", out, "--format", "medblink", "--to", tmp_path / "export")
    assert code == 0, output
    card = (tmp_path / "export" / "README.md").read_text()
    assert not _INTERNAL.search(card), _INTERNAL.search(card)
    assert "Open data. Attribute the authors." in card and MEDBLINK_CITATION in card
