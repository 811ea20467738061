"""The static preview: a filterable grid and plots, checked in headless Chromium (DOM and screenshot)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medblink_build.errors import OutputError
from medblink_build.release.preview import CAPTION, THUMB, TILE, contact_sheet_size, write_preview
from tests.conftest import run_cli
from tests.release_helpers import build_orientation, give_row_images, rows_of


class _Page(HTMLParser):
    """What the tests need from a page: <body> attributes, <img> tags, links, tiles, choices, plot bars."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tiles: list[dict[str, str]] = []
        self.choices: list[tuple[str, str, str]] = []  # (tile id, class, letter)
        self.bars: dict[str, dict[str, dict[str, int]]] = {}  # config -> svg kind -> name -> count
        self._plot = ""
        self._svg = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "img":
            self.images.append(a)
        elif tag in ("a", "link", "script") and ("href" in a or "src" in a):
            self.links.append(a.get("href") or a.get("src", ""))
        elif tag == "article":
            self.tiles.append(a)
        elif tag == "li" and "data-letter" in a:
            self.choices.append((self.tiles[-1]["id"], a.get("class", ""), a["data-letter"]))
        elif tag == "figure" and a.get("id", "").startswith("plot-"):
            self._plot = a["id"].removeprefix("plot-")
        elif tag == "svg":
            self._svg = a["class"].split()[-1]
        elif tag == "rect" and "data-name" in a:
            self.bars.setdefault(self._plot, {}).setdefault(self._svg, {})[a["data-name"]] = int(a["data-count"])


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


def _chromium_run(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a file:// URL (no network), with `args` (--dump-dom, --screenshot=...)."""
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
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _rendered(index: Path, tmp_path: Path, fragment: str = "") -> _Page:
    """The DOM after load, as headless Chromium dumps it."""
    url = index.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    return _parse(_chromium_run(url, tmp_path, "--window-size=1400,4000", "--dump-dom").stdout)


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_orientation(xray_source, tmp_path_factory.mktemp("preview") / "orient-preview", "--limit", 3)
    give_row_images(out, "imaging_orientation_cxr", 2, 2)  # one two-image question
    return out


def _answer_text(row: dict) -> str:
    return row["choices"]["ABCDEFGHIJ".index(row["answer"])]


def test_every_thumbnail_renders_in_headless_chromium(release: Path, tmp_path: Path) -> None:
    dest = tmp_path / "gallery"
    code, output = run_cli("preview", release, "--to", dest)
    assert code == 0, output
    index = dest / "index.html"
    assert str(index) in output
    rows = {r["id"]: r for rs in rows_of(release).values() for r in rs}
    assert len(rows) == 6

    static = _parse(index.read_text())
    thumbs = [img for img in static.images if "thumb" in img.get("class", "")]
    assert len(thumbs) == len(rows) and all(img["loading"] == "lazy" for img in thumbs)
    assert all((dest / img["src"]).is_file() for img in thumbs)
    full = [link for link in static.links if link.startswith("images/")]
    assert len(set(full)) == 7  # every image of every row, the two-image row's both, linked in full
    for link in set(full):
        with Image.open(dest / link) as im:
            im.load()
    assert not [u for u in [i["src"] for i in static.images] + static.links if "://" in u or u.startswith("//")]

    rendered = _rendered(index, tmp_path)
    assert rendered.body.get("data-images-total") == "6", rendered.body
    assert rendered.body.get("data-images-loaded") == "6", rendered.body
    assert rendered.body.get("data-shown") == "6"

    # The counter has teeth: one undecodable thumbnail is counted as not loaded.
    (dest / thumbs[0]["src"]).write_bytes(b"not a png")
    broken = _rendered(index, tmp_path)
    assert broken.body.get("data-images-loaded") == "5"


def test_each_tile_shows_the_answer_letter_and_text_and_the_choices(release: Path, tmp_path: Path) -> None:
    index = write_preview(release, tmp_path / "gallery")
    text = index.read_text()
    page = _parse(text)
    rows = {r["id"]: (config, r) for config, rs in rows_of(release).items() for r in rs}
    assert [t["id"] for t in page.tiles] == list(rows)
    for tile in page.tiles:
        config, row = rows[tile["id"]]
        assert tile["data-answer"] == row["answer"] and tile["data-task"] == config
        assert tile["data-answer-text"] == _answer_text(row) and tile["data-source"] == row["source"]
        assert f'<span class="letter">{row["answer"]}</span><span class="text">{_answer_text(row)}</span>' in text
        mine = [(cls, letter) for tile_id, cls, letter in page.choices if tile_id == tile["id"]]
        assert len(mine) == len(row["choices"])
        assert [letter for cls, letter in mine if "correct" in cls.split()] == [row["answer"]]
    assert '<details class="label"><summary>label</summary>' in text


def test_filters_by_task_answer_and_source_run_in_the_browser(release: Path, tmp_path: Path) -> None:
    index = write_preview(release, tmp_path / "gallery")
    rows = [(config, r) for config, rs in rows_of(release).items() for r in rs]
    letter = rows[0][1]["answer"]
    cases = {
        "task=imaging_orientation_pelvic": {r["id"] for c, r in rows if c == "imaging_orientation_pelvic"},
        f"answer={letter}": {r["id"] for _, r in rows if r["answer"] == letter},
        f"task=imaging_orientation_cxr&answer={letter}": {
            r["id"] for c, r in rows if c == "imaging_orientation_cxr" and r["answer"] == letter
        },
        f"source={rows[0][1]['source']}&answer={letter}": {r["id"] for _, r in rows if r["answer"] == letter},
        f"q={rows[-1][1]['id'][-16:]}": {rows[-1][1]["id"]},  # the text filter: a row id
    }
    for fragment, expected in cases.items():
        page = _rendered(index, tmp_path, fragment)
        shown = {t["id"] for t in page.tiles if "hidden" not in t}
        assert shown == expected, fragment
        assert page.body["data-shown"] == str(len(expected))


def test_plots_give_each_tasks_letter_and_label_distributions(release: Path, tmp_path: Path) -> None:
    page = _parse(write_preview(release, tmp_path / "gallery").read_text())
    manifest = json.loads((release / "manifest.json").read_text())
    assert set(page.bars) == set(manifest["configs"])
    for config, info in manifest["configs"].items():
        assert page.bars[config]["letters"] == info["answer_letters"]
        assert page.bars[config]["labels"] == info["answer_texts"]


def test_screenshot_shows_the_grid_with_answer_badges(release: Path, tmp_path: Path) -> None:
    index = write_preview(release, tmp_path / "gallery")
    shot = tmp_path / "shot.png"
    _chromium_run(index.resolve().as_uri(), tmp_path, "--window-size=1200,1600", f"--screenshot={shot}")
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[:2] == (1600, 1200)
    badge = np.all(pixels == (46, 139, 46), axis=-1)  # the answer-letter badge of each tile
    assert badge.sum() > 6 * 100, badge.sum()
    rows_with_badges = np.flatnonzero(badge.any(axis=1))
    bars = np.all(pixels == (58, 120, 181), axis=-1)  # the plots' bars
    assert bars.sum() > 500 and np.flatnonzero(bars.any(axis=1)).min() < rows_with_badges.min()
    dark = np.all(pixels < 40, axis=-1)[rows_with_badges.min() - 150 : rows_with_badges.min()]
    assert dark.mean() > 0.05  # thumbnails (radiographs on black) just above the badges


def test_a_release_of_1429_rows_stays_light(release: Path, tmp_path: Path) -> None:
    big = _replicated(release, tmp_path / "big", 1429)
    index = write_preview(big, tmp_path / "big-gallery")
    assert index.stat().st_size < 3_000_000
    page = _parse(index.read_text())
    assert len(page.tiles) == 1429
    thumbs = [img for img in page.images if "thumb" in img.get("class", "")]
    assert len(thumbs) == 1429 and all(img["loading"] == "lazy" for img in thumbs)
    assert max(int(img["width"]) for img in thumbs) <= THUMB
    rendered = _rendered(index, tmp_path, "answer=B")
    assert rendered.body["data-rows"] == "1429"
    assert int(rendered.body["data-shown"]) == sum(1 for t in page.tiles if t["data-answer"] == "B") > 0


def _replicated(release: Path, dest: Path, n: int) -> Path:
    """A copy of `release` with `n` rows in all: its first config grown (copies of its rows, new ids)."""
    shutil.copytree(release, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    config, info = next(iter(manifest["configs"].items()))
    n -= sum(other["rows"] for name, other in manifest["configs"].items() if name != config)
    path = dest / info["files"][0]["path"]
    table = pq.read_table(path)
    rows = table.to_pylist()
    out = []
    for k in range(n):
        row = dict(rows[k % len(rows)])
        row["id"] = f"{config}-{k:016x}"
        out.append(row)
    pq.write_table(pa.Table.from_pylist(out, schema=table.schema), path, compression="zstd")
    info["rows"] = n
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


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
