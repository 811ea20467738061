"""A static HTML gallery of a release for curators: a filterable grid, per-task plots, contact sheets.

`write_preview(RELEASE, DEST)` writes

    DEST/index.html               per-task plots of the answer-letter and label (correct answer text)
                                  distributions as inline SVG, filters (task, answer letter, source,
                                  text), and a grid of tiles: thumbnail, answer letter and answer
                                  text; a tile unfolds to the question, the choices with the correct
                                  one highlighted, links to the full images and the label JSON
    DEST/thumbs/<id>.png          one thumbnail per row (its images side by side, at most THUMB px)
    DEST/images/<id>-<n>.png      the row's image bytes as stored in the release (not re-encoded)
    DEST/contact_<config>.png     thumbnails in a grid, one tile per row, answer letter and text drawn
    DEST/preview.json             what was previewed (marks the folder as replaceable by a re-run)

The page is static and self-contained: no network resource (a Content-Security-Policy forbids
any). Tiles' thumbnails load lazily (`loading="lazy"`) and full images only when followed, so a
1,429-row release stays light. Filters are plain JavaScript over the tiles' data attributes; they
can be preset from the address (`index.html#task=CONFIG&answer=B&source=ID&q=TEXT`). On load an
inline script writes, on <body>, how many thumbnails decoded (`data-images-loaded`, of
`data-images-total`) and how many tiles the filters show (`data-shown`), which a headless browser
test reads back. DEST must lie outside the release folder (it would otherwise become part of the
Hub repository); the CLI's default is `<RELEASE>-preview`.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..errors import OutputError
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME
from ..version import __version__
from .staging import StagedFolder, check_outside
from .verify import iter_rows, load_manifest

PREVIEW_MARKER = "preview.json"
PREVIEW_FORMAT = "medblink-build-preview"

# Contact sheet geometry: COLUMNS tiles per line, each TILE px square for the image(s) plus a caption.
TILE = 192
CAPTION = 28
COLUMNS = 8
#: Longer side of a grid thumbnail (all of a row's images side by side), pixels.
THUMB = 256
#: Label-distribution bars per task before the rest is summed as "other".
TOP_LABELS = 12
_BACKGROUND = (24, 24, 24)
_EMPTY = (64, 64, 64)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 96rem; padding: 1rem; color: #1b1b1b; }
header p { margin: .25rem 0; }
.banner { background: #fff4cc; border: 1px solid #e0c060; padding: .5rem .75rem; }
section.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.plot { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }
figure.plot figcaption { font-size: .85rem; font-family: monospace; }
form.filters { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid #ccc;
  display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; z-index: 1; }
main.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .6rem;
  margin-top: .75rem; }
article.tile { border: 1px solid #ccc; border-radius: 6px; padding: .35rem; background: #fafafa; }
article.tile[hidden] { display: none; }
article.tile .thumb { width: 100%; height: 180px; object-fit: contain; background: #000; display: block; }
.answer { display: flex; gap: .4rem; align-items: baseline; margin: .3rem 0 .1rem; }
.letter { background: #2e8b2e; color: #fff; font-weight: bold; border-radius: 4px; padding: 0 .4rem; }
.text { font-weight: 600; overflow-wrap: anywhere; }
.meta { color: #555; font-size: .8rem; overflow-wrap: anywhere; }
p.question { font-size: .8rem; margin: .3rem 0; }
details summary { cursor: pointer; font-size: .8rem; }
pre { white-space: pre-wrap; background: #f0f0f0; padding: .4rem; font-size: .75rem; }
ol.choices { list-style: none; padding: 0; margin: .2rem 0; font-size: .8rem; }
ol.choices li { padding: .1rem .3rem; border-left: 4px solid transparent; }
ol.choices li.correct { background: #d8f5d0; border-left-color: #2e8b2e; font-weight: bold; }
ol.choices li.correct::after { content: "  \\2713 answer"; color: #2e8b2e; }
"""

_SCRIPT = """
(function () {
  var tiles = Array.prototype.slice.call(document.querySelectorAll("article.tile"));
  var fields = ["task", "answer", "source", "q"];
  function value(name) { return document.getElementById("f-" + name).value; }
  function apply() {
    var shown = 0, q = value("q").toLowerCase();
    tiles.forEach(function (t) {
      var ok = (!value("task") || t.dataset.task === value("task")) &&
               (!value("answer") || t.dataset.answer === value("answer")) &&
               (!value("source") || t.dataset.source === value("source")) &&
               (!q || t.dataset.search.indexOf(q) >= 0);
      t.hidden = !ok;
      if (ok) { shown++; }
    });
    document.getElementById("shown").textContent = String(shown);
    document.body.setAttribute("data-shown", String(shown));
  }
  var preset = new URLSearchParams(window.location.hash.slice(1));
  fields.forEach(function (name) {
    var el = document.getElementById("f-" + name);
    if (preset.has(name)) { el.value = preset.get(name); }
    el.addEventListener(name === "q" ? "input" : "change", apply);
  });
  apply();
  window.addEventListener("load", function () {
    var images = document.querySelectorAll("img.thumb"), loaded = 0;
    for (var i = 0; i < images.length; i++) {
      if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
    }
    document.body.setAttribute("data-images-loaded", String(loaded));
    document.body.setAttribute("data-images-total", String(images.length));
  });
})();
"""

_CSP = "default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def contact_sheet_size(rows: int) -> tuple[int, int]:
    """(width, height) of the contact sheet of a config with `rows` rows: one tile per row."""
    columns = min(max(rows, 1), COLUMNS)
    lines = max(math.ceil(rows / columns), 1)
    return columns * TILE, lines * (TILE + CAPTION)


def answer_text(row: Mapping[str, Any]) -> str:
    """The text of the correct choice."""
    index = ord(row["answer"]) - ord("A")
    choices = row["choices"] or []
    return str(choices[index]) if 0 <= index < len(choices) else ""


def write_preview(folder: Path, dest: Path) -> Path:
    """Write the gallery of release FOLDER into DEST; returns the path of DEST/index.html."""
    folder, dest = Path(folder), Path(dest)
    manifest, _ = load_manifest(folder)
    if not manifest["configs"]:
        raise OutputError(f"{folder}: the release has no task configs to preview")
    check_outside(folder, dest, "the preview folder")
    counts: dict[str, int] = {}
    images_total = 0
    tiles: list[str] = []
    sources: set[str] = set()
    with StagedFolder(dest, PREVIEW_MARKER, PREVIEW_FORMAT, "preview") as staging:
        (staging / "images").mkdir()
        (staging / "thumbs").mkdir()
        for config, info in manifest["configs"].items():
            sheet_tiles = []
            for row in iter_rows(folder, info):
                names, thumbs = [], []
                for n, image in enumerate(row["images"] or []):
                    name = f"images/{_SAFE.sub('_', row['id'])}-{n}.png"
                    (staging / name).write_bytes(image["bytes"])
                    names.append(name)
                    thumbs.append(_open(image["bytes"], row["id"], n))
                images_total += len(names)
                thumb_name = f"thumbs/{_SAFE.sub('_', row['id'])}.png"
                thumbnail = _thumbnail(thumbs)
                thumbnail.save(staging / thumb_name, optimize=False)
                tiles.append(_tile(row, config, names, thumb_name, thumbnail.size))
                sheet_tiles.append((thumbs, row["answer"], answer_text(row)))
                sources.add(str(row.get("source", "")))
            counts[config] = len(sheet_tiles)
            _contact_sheet(sheet_tiles).save(staging / f"contact_{config}.png", optimize=False)
        page = _page(manifest, folder, counts, tiles, sorted(sources))
        (staging / "index.html").write_text(page, encoding="utf-8")
        marker = {
            "format": PREVIEW_FORMAT,
            "format_version": 2,
            "tool": {"name": "medblink-build", "version": __version__},
            "source": {
                "release": manifest.get("release") or None,
                "manifest_sha256": sha256_file(folder / MANIFEST_NAME),
            },
            "configs": counts,
            "images": images_total,
        }
        (staging / PREVIEW_MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return dest / "index.html"


def _open(data: bytes, row_id: str, n: int) -> Image.Image:
    """Image `n` of a row, reduced to at most THUMB px (what the thumbnails and sheets need)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            thumb = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise OutputError(f"{row_id}: image {n} cannot be decoded: {exc}") from exc
    thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    return thumb


def _thumbnail(thumbs: Sequence[Image.Image]) -> Image.Image:
    """A row's images side by side, scaled so the longer side of the whole is at most THUMB px."""
    if not thumbs:
        return Image.new("RGB", (THUMB // 2, THUMB // 2), _EMPTY)
    height = max(t.height for t in thumbs)
    width = sum(t.width for t in thumbs) + 4 * (len(thumbs) - 1)
    strip = Image.new("RGB", (width, height), _BACKGROUND)
    x = 0
    for t in thumbs:
        strip.paste(t, (x, (height - t.height) // 2))
        x += t.width + 4
    strip.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    return strip


# --- HTML --------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _page(
    manifest: Mapping[str, Any],
    folder: Path,
    counts: Mapping[str, int],
    tiles: Sequence[str],
    sources: Sequence[str],
) -> str:
    release = manifest.get("release") or {}
    title = f"{release.get('name', 'medblink-build output')} {release.get('version', '')}".strip() + " — preview"
    tool = manifest.get("tool", {})
    letters = sorted({k for info in manifest["configs"].values() for k in info.get("answer_letters", {})})
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="medblink-build {_e(__version__)} preview">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        f'<body data-rows="{len(tiles)}">',
        "<header>",
        f"<h1>{_e(title)}</h1>",
    ]
    if manifest.get("sample"):
        head.append(
            '<p class="banner"><strong>Sample build.</strong> Every image is a synthetic phantom generated by '
            "medblink-build, not patient data.</p>"
        )
    head += [
        f"<p>Release folder <code>{_e(folder.name)}</code>, built by {_e(tool.get('name', 'medblink-build'))} "
        f"{_e(tool.get('version', '?'))}, seed {_e(manifest.get('seed', '?'))}; "
        f"{sum(counts.values())} questions. Contact sheets: "
        + ", ".join(f'<a href="contact_{_e(c)}.png">{_e(c)}</a>' for c in counts)
        + ".</p>",
        "</header>",
        "<details open><summary>Answer-letter and label distributions per task</summary>",
        '<section class="plots" id="plots">',
        *[_plots(config, info) for config, info in manifest["configs"].items()],
        "</section></details>",
        '<form class="filters" id="filters" onsubmit="return false">',
        _select("task", "task", [(c, f"{c} ({n})") for c, n in counts.items()]),
        _select("answer", "answer", [(x, x) for x in letters]),
        _select("source", "source", [(x, x) for x in sources]),
        '<label>text <input id="f-q" type="search" placeholder="answer, question, id"></label>',
        f'<span><b id="shown">{len(tiles)}</b> of {len(tiles)} shown</span>',
        "</form>",
        '<main class="grid" id="grid">',
    ]
    tail = ["</main>", f"<script>{_SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join([*head, *tiles, *tail])


def _select(name: str, label: str, options: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<option value="{_e(v)}">{_e(t)}</option>' for v, t in options)
    return f'<label>{_e(label)} <select id="f-{name}"><option value="">all</option>{items}</select></label>'


def _plots(config: str, info: Mapping[str, Any]) -> str:
    """Two inline SVG bar charts for one config: answer letters, and correct answer texts (the labels)."""
    letters = sorted(info.get("answer_letters", {}).items())
    texts = sorted(info.get("answer_texts", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    if len(texts) > TOP_LABELS:
        texts = [*texts[: TOP_LABELS - 1], ("other", sum(n for _, n in texts[TOP_LABELS - 1 :]))]
    return (
        f'<figure class="plot" id="plot-{_e(config)}"><figcaption>{_e(config)} · {info.get("rows", "?")} rows'
        f"</figcaption>{_bars('answer letters', letters, 'letters')}{_bars('labels (answer text)', texts, 'labels')}"
        "</figure>"
    )


def _bars(title: str, data: Sequence[tuple[str, int]], kind: str) -> str:
    """A horizontal bar chart: one bar per (name, count), labelled with both."""
    line, label_w, bar_w = 15, 130, 110
    top = max((n for _, n in data), default=0) or 1
    parts = [
        f'<svg class="bars {kind}" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 40}" '
        f'height="{line * (len(data) + 1) + 4}" role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="12" font-size="11" font-weight="bold">{_e(title)}</text>',
    ]
    for i, (name, n) in enumerate(data):
        y = line * (i + 1) + 2
        short = name if len(name) <= 24 else name[:23] + "…"
        width = max(1, round(bar_w * n / top))
        parts += [
            f'<text x="0" y="{y + 11}" font-size="11"><title>{_e(name)}</title>{_e(short)}</text>',
            f'<rect class="bar" data-name="{_e(name)}" data-count="{n}" x="{label_w}" y="{y + 2}" '
            f'width="{width}" height="{line - 4}" fill="#3a78b5"/>',
            f'<text x="{label_w + width + 4}" y="{y + 11}" font-size="11">{n}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _tile(row: Mapping[str, Any], config: str, names: Sequence[str], thumb: str, size: tuple[int, int]) -> str:
    row_id, answer, text = row["id"], row["answer"], answer_text(row)
    choices = []
    for i, choice in enumerate(row["choices"]):
        letter = chr(ord("A") + i)
        cls = "choice correct" if letter == answer else "choice"
        choices.append(f'<li class="{cls}" data-letter="{letter}">({letter}) {_e(choice)}</li>')
    try:
        label = json.dumps(json.loads(row["label"]), indent=1, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        label = str(row["label"])
    search = " ".join([row_id, text, str(row.get("source", ""))]).lower()
    links = " ".join(f'<a href="{_e(n)}">image {k + 1}</a>' for k, n in enumerate(names))
    w, h = size
    return "\n".join(
        [
            f'<article class="tile" id="{_e(row_id)}" data-task="{_e(config)}" data-answer="{_e(answer)}" '
            f'data-source="{_e(row.get("source", ""))}" data-answer-text="{_e(text)}" data-search="{_e(search)}">',
            f'<a href="{_e(names[0]) if names else "#"}"><img class="thumb" src="{_e(thumb)}" width="{w}" '
            f'height="{h}" loading="lazy" decoding="async" alt="{_e(row_id)}"></a>',
            f'<div class="answer"><span class="letter">{_e(answer)}</span><span class="text">{_e(text)}</span></div>',
            f'<div class="meta">{_e(config)} · {_e(row.get("source", ""))} · {_e(row.get("modality", ""))}, '
            f"{_e(row.get('anatomy', ''))}</div>",
            f"<details><summary>question, choices, label</summary>"
            f'<p class="question">{_e(row["question"])}</p>'
            f'<ol class="choices">{"".join(choices)}</ol>'
            f'<p class="meta">{links} · license {_e(row.get("license", ""))} · <code>{_e(row_id)}</code></p>'
            f'<details class="label"><summary>label</summary><pre>{html.escape(label, quote=False)}</pre></details>'
            "</details>",
            "</article>",
        ]
    )


# --- contact sheet -----------------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _contact_sheet(tiles: Sequence[tuple[Sequence[Image.Image], str, str]]) -> Image.Image:
    width, height = contact_sheet_size(len(tiles))
    columns = width // TILE
    sheet = Image.new("RGB", (width, height), _EMPTY)
    draw = ImageDraw.Draw(sheet)
    big, small = _font(18), _font(12)
    for i, (thumbs, answer, text) in enumerate(tiles):
        x0, y0 = (i % columns) * TILE, (i // columns) * (TILE + CAPTION)
        draw.rectangle([x0, y0, x0 + TILE - 1, y0 + TILE + CAPTION - 1], fill=_BACKGROUND)
        if thumbs:
            slot = TILE // len(thumbs)
            for k, thumb in enumerate(thumbs):
                im = thumb.copy()
                im.thumbnail((slot, TILE), Image.Resampling.LANCZOS)
                sheet.paste(im, (x0 + k * slot + (slot - im.width) // 2, y0 + (TILE - im.height) // 2))
        # The answer sits in the caption band, never over the image (markers may be anywhere in it).
        caption_y = y0 + TILE + CAPTION // 2
        draw.rectangle([x0 + 3, y0 + TILE + 3, x0 + 25, y0 + TILE + CAPTION - 4], fill=(46, 139, 46))
        _text(draw, (x0 + 14, caption_y), answer, big, "mm", (255, 255, 255))
        shown = text if len(text) <= 24 else text[:23] + "…"
        _text(draw, (x0 + 31, caption_y), shown, small, "lm", (144, 238, 144))  # the answer text
        draw.rectangle([x0, y0, x0 + TILE - 1, y0 + TILE + CAPTION - 1], outline=(90, 90, 90))
    return sheet


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: Any, anchor: str, fill: tuple) -> None:
    if isinstance(font, ImageFont.FreeTypeFont):
        draw.text(xy, text, fill=fill, font=font, anchor=anchor)
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)  # bitmap font: anchors unsupported
    w, h = right - left, bottom - top
    x = xy[0] - (w // 2 if anchor[0] == "m" else w if anchor[0] == "r" else 0)
    draw.text((x, xy[1] - h // 2), text, fill=fill, font=font)
