"""The static preview: every image renders in headless Chromium; contact sheets have one tile per row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from medblink_build.errors import OutputError
from medblink_build.release.preview import CAPTION, TILE, contact_sheet_size, write_preview
from tests.conftest import run_cli
from tests.release_helpers import build_orientation, give_row_images, rows_of


class _Page(HTMLParser):
    """What the tests need from a page: <body> attributes, <img> sources, links, questions, choices."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.articles: list[dict[str, str]] = []
        self.choices: list[tuple[str, str, str]] = []  # (article id, class, letter)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "img":
            self.images.append(a["src"])
        elif tag in ("a", "link", "script") and ("href" in a or "src" in a):
            self.links.append(a.get("href") or a.get("src", ""))
        elif tag == "article":
            self.articles.append(a)
        elif tag == "li" and "data-letter" in a:
            self.choices.append((self.articles[-1]["id"], a.get("class", ""), a["data-letter"]))


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        if "CI" in os.environ:
            pytest.fail("chromium is not installed; CI must install it (.ci/run: apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium); this test runs in CI")
    return binary


def _rendered(index: Path, tmp_path: Path) -> _Page:
    """The DOM after load, as headless Chromium dumps it (file:// only, no network)."""
    result = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            index.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return _parse(result.stdout)


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_orientation(xray_source, tmp_path_factory.mktemp("preview") / "orient-preview", "--limit", 3)
    give_row_images(out, "imaging_orientation_cxr", 2, 2)  # one two-image question
    return out


def test_every_image_renders_in_headless_chromium(release: Path, tmp_path: Path) -> None:
    dest = tmp_path / "gallery"
    code, output = run_cli("preview", release, "--to", dest)
    assert code == 0, output
    index = dest / "index.html"
    assert str(index) in output
    rows = rows_of(release)
    expected = sum(len(r["images"]) for rs in rows.values() for r in rs)
    assert expected == 7  # 6 questions, one of them with two images

    static = _parse(index.read_text())
    assert len(static.images) == expected
    assert all((dest / src).is_file() for src in static.images)
    assert not [u for u in static.images + static.links if "://" in u or u.startswith("//")], "network resource"

    rendered = _rendered(index, tmp_path)
    assert rendered.body.get("data-images-total") == str(expected), rendered.body
    assert rendered.body.get("data-images-loaded") == str(expected), rendered.body

    # The counter has teeth: one undecodable image is counted as not loaded.
    (dest / static.images[0]).write_bytes(b"not a png")
    broken = _rendered(index, tmp_path)
    assert broken.body.get("data-images-loaded") == str(expected - 1)
    assert broken.body.get("data-images-total") == str(expected)


def test_each_question_shows_its_choices_with_the_answer_highlighted(release: Path, tmp_path: Path) -> None:
    index = write_preview(release, tmp_path / "gallery")
    text = index.read_text()
    page = _parse(text)
    rows = {r["id"]: r for rs in rows_of(release).values() for r in rs}
    assert [a["id"] for a in page.articles] == list(rows)
    for article in page.articles:
        row = rows[article["id"]]
        assert article["data-answer"] == row["answer"]
        mine = [(cls, letter) for row_id, cls, letter in page.choices if row_id == article["id"]]
        assert len(mine) == len(row["choices"])
        assert [letter for cls, letter in mine if "correct" in cls.split()] == [row["answer"]]
    for config in rows_of(release):
        assert f'id="config-{config}"' in text
    assert '<details class="label"><summary>label</summary>' in text


def test_contact_sheets_have_one_tile_per_row(release: Path, tmp_path: Path) -> None:
    dest = tmp_path / "gallery"
    write_preview(release, dest)
    for config, rows in rows_of(release).items():
        with Image.open(dest / f"contact_{config}.png") as sheet:
            sheet.load()
            assert sheet.format == "PNG"
            assert sheet.size == contact_sheet_size(len(rows))
            columns = sheet.width // TILE
            filled = 0
            for line in range(sheet.height // (TILE + CAPTION)):
                for col in range(columns):
                    # caption band: dark for a tile, lighter grey where the grid has no tile
                    pixel = sheet.getpixel((col * TILE + TILE // 2, line * (TILE + CAPTION) + TILE + 2))
                    filled += pixel == (24, 24, 24)
            assert filled == len(rows)
    marker = json.loads((dest / "preview.json").read_text())
    assert marker["images"] == 7 and sum(marker["configs"].values()) == 6


def test_preview_defaults_beside_the_release_and_never_inside_it(release: Path, tmp_path: Path) -> None:
    copy = tmp_path / "rel"
    shutil.copytree(release, copy)
    code, output = run_cli("preview", copy)
    assert code == 0, output
    assert (tmp_path / "rel-preview" / "index.html").is_file()
    assert not any(p.name == "index.html" for p in copy.rglob("*"))
    with pytest.raises(OutputError, match="inside the release folder"):
        write_preview(copy, copy / "preview")
    code, output = run_cli("preview", copy, "--to", copy / "preview")
    assert code != 0 and "inside the release folder" in output
