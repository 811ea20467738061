"""A static HTML gallery of a release, and a PNG contact sheet per task config, for curators.

`write_preview(RELEASE, DEST)` writes

    DEST/index.html               one section per config: every question with its image(s), the
                                  prompt, the choices with the correct one highlighted, the label
                                  JSON folded
    DEST/images/<id>-<n>.png      the row's image bytes as stored in the release (not re-encoded)
    DEST/contact_<config>.png     thumbnails in a grid, one tile per row, answer letter drawn
    DEST/preview.json             what was previewed (marks the folder as replaceable by a re-run)

The page is static and self-contained: no network resource (a Content-Security-Policy forbids
any), no lazy loading. A small inline script counts, on load, the images that decoded
(`naturalWidth > 0`) and writes `data-images-loaded` / `data-images-total` on <body>, which a
headless browser test reads back. DEST must lie outside the release folder (it would otherwise
become part of the Hub repository); the CLI's default is `<RELEASE>-preview`.
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

from .. import __version__
from ..errors import OutputError
from ..hashing import sha256_file
from ..output.folder import MANIFEST_NAME
from .staging import StagedFolder, check_outside
from .verify import iter_rows, load_manifest

PREVIEW_MARKER = "preview.json"
PREVIEW_FORMAT = "medblink-build-preview"

# Contact sheet geometry: COLUMNS tiles per line, each TILE px square for the image(s) plus a caption.
TILE = 192
CAPTION = 28
COLUMNS = 8
_BACKGROUND = (24, 24, 24)
_EMPTY = (64, 64, 64)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #1b1b1b; }
header p { margin: .25rem 0; }
.banner { background: #fff4cc; border: 1px solid #e0c060; padding: .5rem .75rem; }
nav ul { columns: 2; }
section.config { border-top: 3px solid #444; margin-top: 2rem; }
article.question { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: .75rem; }
article.question h3 { font-size: .95rem; font-family: monospace; margin: 0 0 .5rem; }
.images { display: flex; flex-wrap: wrap; gap: .5rem; }
.images img { width: 256px; height: auto; background: #000; }
pre.prompt { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; }
ol.choices { list-style: none; padding: 0; }
ol.choices li { padding: .2rem .5rem; margin: .15rem 0; border-left: 4px solid transparent; }
ol.choices li.correct { background: #d8f5d0; border-left-color: #2e8b2e; font-weight: bold; }
ol.choices li.correct::after { content: "  \\2713 answer"; color: #2e8b2e; }
.meta { color: #555; font-size: .9rem; }
details pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
  }
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-total", String(images.length));
});
"""

_CSP = "default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def contact_sheet_size(rows: int) -> tuple[int, int]:
    """(width, height) of the contact sheet of a config with `rows` rows: one tile per row."""
    columns = min(max(rows, 1), COLUMNS)
    lines = max(math.ceil(rows / columns), 1)
    return columns * TILE, lines * (TILE + CAPTION)


def write_preview(folder: Path, dest: Path) -> Path:
    """Write the gallery of release FOLDER into DEST; returns the path of DEST/index.html."""
    folder, dest = Path(folder), Path(dest)
    manifest, _ = load_manifest(folder)
    if not manifest["configs"]:
        raise OutputError(f"{folder}: the release has no task configs to preview")
    check_outside(folder, dest, "the preview folder")
    counts: dict[str, int] = {}
    images_total = 0
    with StagedFolder(dest, PREVIEW_MARKER, PREVIEW_FORMAT, "preview") as staging:
        (staging / "images").mkdir()
        sections = []
        for config, info in manifest["configs"].items():
            articles, tiles = [], []
            for row in iter_rows(folder, info):
                names, sizes, thumbs = [], [], []
                for n, image in enumerate(row["images"] or []):
                    name = f"images/{_SAFE.sub('_', row['id'])}-{n}.png"
                    (staging / name).write_bytes(image["bytes"])
                    size, thumb = _open(image["bytes"], row["id"], n)
                    names.append(name)
                    sizes.append(size)
                    thumbs.append(thumb)
                images_total += len(names)
                articles.append(_article(row, names, sizes))
                tiles.append((thumbs, row["answer"], row["id"]))
            counts[config] = len(articles)
            _contact_sheet(tiles).save(staging / f"contact_{config}.png", optimize=False)
            sections.append(_section(config, info, articles))
        page = _page(manifest, folder, counts, images_total, sections)
        (staging / "index.html").write_text(page, encoding="utf-8")
        marker = {
            "format": PREVIEW_FORMAT,
            "format_version": 1,
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


def _open(data: bytes, row_id: str, n: int) -> tuple[tuple[int, int], Image.Image]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            size = im.size
            thumb = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise OutputError(f"{row_id}: image {n} cannot be decoded: {exc}") from exc
    thumb.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    return size, thumb


# --- HTML --------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _page(
    manifest: Mapping[str, Any], folder: Path, counts: Mapping[str, int], images_total: int, sections: Sequence[str]
) -> str:
    release = manifest.get("release") or {}
    title = f"{release.get('name', 'medblink-build output')} {release.get('version', '')}".strip() + " — preview"
    tool = manifest.get("tool", {})
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
        f'<body data-images-expected="{images_total}">',
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
        f"{sum(counts.values())} questions, {images_total} images.</p>",
        "<nav><ul>",
        *[
            f'<li><a href="#config-{_e(c)}">{_e(c)}</a> ({n}) · <a href="contact_{_e(c)}.png">contact sheet</a></li>'
            for c, n in counts.items()
        ],
        "</ul></nav>",
        "</header>",
        "<main>",
    ]
    tail = ["</main>", f"<script>{_SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join([*head, *sections, *tail])


def _section(config: str, info: Mapping[str, Any], articles: Sequence[str]) -> str:
    letters = ", ".join(f"{k}: {v}" for k, v in sorted(info.get("answer_letters", {}).items()))
    parts = [
        f'<section class="config" id="config-{_e(config)}">',
        f"<h2>{_e(config)}</h2>",
        f'<p class="meta">{_e(info.get("modality", ""))} · {_e(info.get("anatomy", ""))} · {len(articles)} rows · '
        f"recipe {_e(info.get('recipe', '?'))} {_e(info.get('recipe_version', ''))} · "
        f"license {_e(info.get('license', '?'))} · answer letters {_e(letters)}</p>",
        f'<p><a href="contact_{_e(config)}.png">contact sheet</a></p>',
        *articles,
        "</section>",
    ]
    return "\n".join(parts)


def _article(row: Mapping[str, Any], names: Sequence[str], sizes: Sequence[tuple[int, int]]) -> str:
    row_id = row["id"]
    images = "".join(
        f'<a href="{_e(name)}"><img src="{_e(name)}" width="{w}" height="{h}" alt="{_e(row_id)} image {n + 1}"></a>'
        for n, (name, (w, h)) in enumerate(zip(names, sizes, strict=True))
    )
    choices = []
    for i, choice in enumerate(row["choices"]):
        letter = chr(ord("A") + i)
        cls = "choice correct" if letter == row["answer"] else "choice"
        choices.append(f'<li class="{cls}" data-letter="{letter}">({letter}) {_e(choice)}</li>')
    try:
        label = json.dumps(json.loads(row["label"]), indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        label = str(row["label"])
    return "\n".join(
        [
            f'<article class="question" id="{_e(row_id)}" data-answer="{_e(row["answer"])}">',
            f'<h3><a href="#{_e(row_id)}">{_e(row_id)}</a></h3>',
            f'<div class="images">{images}</div>',
            f'<pre class="prompt">{_e(row["prompt"])}</pre>',
            f'<ol class="choices">{"".join(choices)}</ol>',
            f'<p class="meta">answer {_e(row["answer"])} · source {_e(row.get("source", ""))} · '
            f"license {_e(row.get('license', ''))} · {_e(row.get('modality', ''))}, {_e(row.get('anatomy', ''))}</p>",
            f'<details class="label"><summary>label</summary><pre>{_e(label)}</pre></details>',
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
    for i, (thumbs, answer, row_id) in enumerate(tiles):
        x0, y0 = (i % columns) * TILE, (i // columns) * (TILE + CAPTION)
        draw.rectangle([x0, y0, x0 + TILE - 1, y0 + TILE + CAPTION - 1], fill=_BACKGROUND)
        if thumbs:
            slot = TILE // len(thumbs)
            for k, thumb in enumerate(thumbs):
                im = (
                    thumb
                    if thumb.width <= slot
                    else thumb.resize(
                        (slot, max(1, round(thumb.height * slot / thumb.width))), Image.Resampling.LANCZOS
                    )
                )
                sheet.paste(im, (x0 + k * slot + (slot - im.width) // 2, y0 + (TILE - im.height) // 2))
        # The answer sits in the caption band, never over the image (markers may be anywhere in it).
        caption_y = y0 + TILE + CAPTION // 2
        draw.rectangle([x0 + 3, y0 + TILE + 3, x0 + 25, y0 + TILE + CAPTION - 4], fill=(46, 139, 46))
        _text(draw, (x0 + 14, caption_y), answer, big, "mm", (255, 255, 255))
        _text(draw, (x0 + 31, caption_y), "answer", small, "lm", (144, 238, 144))
        _text(draw, (x0 + TILE - 6, caption_y), row_id[-8:], small, "rm", (200, 200, 200))
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
