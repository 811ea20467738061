"""Release notes: what changed between two builds, as Markdown, from their manifests.

Everything comes from `manifest.json` (a folder or the file itself may be given): the release's
semantic version, the tool, recipe and library versions, the seed, and per task config the row
count, the answer-letter counts, the counts of correct answer texts (the label distribution) and the
`[id, digest]` of every example. Items are matched by id (derived from task + item key, so the same
source item keeps its id across builds); a kept id whose digest differs is a *changed* item. When
both arguments are folders, each changed item also names the columns that differ (read from the
parquet rows of the configs that have changes only).

A "Checks" section flags what a release manager should look at: content changed while the release
version did not, and items of a recipe that changed although nothing that should change them did
(recipe version, tool version, library versions, seed and input files all equal).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import OutputError
from .verify import iter_rows, load_manifest

LIST_OPEN_LIMIT = 20  # longer id lists are folded into <details>


def release_notes(old: Path, new: Path) -> str:
    """Markdown notes for the change from build OLD to build NEW (folders or manifest.json files)."""
    a, a_folder = load_manifest(Path(old))
    b, b_folder = load_manifest(Path(new))
    diffs = {config: _config_diff(a["configs"].get(config), b["configs"].get(config)) for config in _configs(a, b)}
    if a_folder is not None and b_folder is not None:
        for config, diff in diffs.items():
            if diff["changed"]:
                diff["columns"] = _changed_columns(
                    a_folder, a["configs"][config], b_folder, b["configs"][config], diff["changed"]
                )

    lines = [f"# Release notes: {_title(a)} → {_title(b)}", ""]
    lines += [f"- old: `{old}` — {_describe(a)}", f"- new: `{new}` — {_describe(b)}", ""]
    lines += _summary(diffs)
    lines += _versions(a, b, diffs)
    lines += _checks(a, b, diffs)
    for config, diff in diffs.items():
        lines += _config_section(config, diff)
    return "\n".join(lines).rstrip() + "\n"


def write_release_notes(old: Path, new: Path, out: Path) -> Path:
    """`release_notes` written to OUT (UTF-8 Markdown); returns OUT."""
    text = release_notes(old, new)
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the release notes: {exc.strerror or exc}") from exc
    return Path(out)


# --- comparing ---------------------------------------------------------------------------------


def _configs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Configs in the new build's order, then those only in the old build."""
    order = list(b["configs"])
    return order + [c for c in a["configs"] if c not in b["configs"]]


def _config_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    old_examples = {i: d for i, d in (old or {}).get("examples", [])}
    new_examples = {i: d for i, d in (new or {}).get("examples", [])}
    return {
        "old": old,
        "new": new,
        "added": [i for i in new_examples if i not in old_examples],
        "removed": [i for i in old_examples if i not in new_examples],
        "changed": [i for i, d in new_examples.items() if i in old_examples and old_examples[i] != d],
        "unchanged": sum(1 for i, d in new_examples.items() if old_examples.get(i) == d),
        "columns": {},
    }


def _changed_columns(
    a_folder: Path, a_info: Mapping[str, Any], b_folder: Path, b_info: Mapping[str, Any], ids: Sequence[str]
) -> dict[str, list[str]]:
    wanted = set(ids)
    old_rows = {r["id"]: _fingerprint(r) for r in iter_rows(a_folder, a_info) if r["id"] in wanted}
    columns: dict[str, list[str]] = {}
    for row in iter_rows(b_folder, b_info):
        if row["id"] in wanted and row["id"] in old_rows:
            before, after = old_rows[row["id"]], _fingerprint(row)
            columns[row["id"]] = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return columns


def _fingerprint(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with images replaced by their sha256, so rows compare without holding pixels twice."""
    out = dict(row)
    if isinstance(out.get("images"), list):
        out["images"] = [hashlib.sha256(img["bytes"]).hexdigest() if img else None for img in out["images"]]
    return out


# --- rendering ---------------------------------------------------------------------------------


def _title(m: Mapping[str, Any]) -> str:
    release = m.get("release") or {}
    if release.get("version"):
        return f"{release.get('name', 'release')} {release['version']}"
    return "build (no release version)"


def _describe(m: Mapping[str, Any]) -> str:
    tool = m.get("tool", {})
    parts = [f"{tool.get('name', 'medblink-build')} {tool.get('version', '?')}", f"seed {m.get('seed', '?')}"]
    if m.get("sample"):
        parts.append("sample build (synthetic sources)")
    rows = sum(info.get("rows", 0) for info in m["configs"].values())
    parts.append(f"{len(m['configs'])} config(s), {rows} row(s)")
    return ", ".join(parts)


def _arrow(old: Any, new: Any) -> str:
    if old == new:
        return f"{_show(new)} (unchanged)"
    return f"{_show(old)} → {_show(new)}"


def _show(value: Any) -> str:
    return "—" if value is None else f"`{value}`"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _summary(diffs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [
        "## Summary",
        "",
        "| config | rows | Δ | added | removed | changed | unchanged |",
        "|---|---|---|---|---|---|---|",
    ]
    totals = [0, 0, 0, 0, 0, 0]
    for config, d in diffs.items():
        old_rows = (d["old"] or {}).get("rows", 0)
        new_rows = (d["new"] or {}).get("rows", 0)
        note = " (new config)" if d["old"] is None else " (config removed)" if d["new"] is None else ""
        values = [old_rows, new_rows, len(d["added"]), len(d["removed"]), len(d["changed"]), d["unchanged"]]
        totals = [t + v for t, v in zip(totals, values, strict=True)]
        lines.append(
            f"| `{config}`{note} | {old_rows} → {new_rows} | {_signed(new_rows - old_rows)} | "
            f"{values[2]} | {values[3]} | {values[4]} | {values[5]} |"
        )
    lines.append(
        f"| **total** | {totals[0]} → {totals[1]} | {_signed(totals[1] - totals[0])} | "
        f"{totals[2]} | {totals[3]} | {totals[4]} | {totals[5]} |"
    )
    return [*lines, ""]


def _versions(a: Mapping[str, Any], b: Mapping[str, Any], diffs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["## Versions", ""]
    lines.append(
        f"- release: {_arrow((a.get('release') or {}).get('version'), (b.get('release') or {}).get('version'))}"
    )
    lines.append(f"- tool: {_arrow(a.get('tool', {}).get('version'), b.get('tool', {}).get('version'))}")
    lines.append(f"- seed: {_arrow(a.get('seed'), b.get('seed'))}")
    ra, rb = a.get("recipes", {}), b.get("recipes", {})
    for name in sorted(set(ra) | set(rb)):
        lines.append(f"- recipe `{name}`: {_arrow(ra.get(name), rb.get(name))}")
    ea, eb = a.get("environment", {}), b.get("environment", {})
    env_changes = [f"{k} {_arrow(ea.get(k), eb.get(k))}" for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k)]
    lines.append("- libraries: " + ("; ".join(env_changes) if env_changes else "unchanged"))
    ia = {(i["source"], i["path"]): i["sha256"] for i in a.get("inputs", [])}
    ib = {(i["source"], i["path"]): i["sha256"] for i in b.get("inputs", [])}
    added = len(set(ib) - set(ia))
    removed = len(set(ia) - set(ib))
    changed = sum(1 for k in set(ia) & set(ib) if ia[k] != ib[k])
    lines.append(
        f"- input files: {len(ia)} → {len(ib)} ({added} added, {removed} removed, {changed} with a different sha256)"
    )
    sa = (a.get("skipped") or {}).get("by_reason", {})
    sb = (b.get("skipped") or {}).get("by_reason", {})
    skip_changes = [f"{r} {sa.get(r, 0)} → {sb.get(r, 0)}" for r in sorted(set(sa) | set(sb)) if sa.get(r) != sb.get(r)]
    lines.append("- skipped items: " + ("; ".join(skip_changes) if skip_changes else "unchanged"))
    return [*lines, ""]


def _checks(a: Mapping[str, Any], b: Mapping[str, Any], diffs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = []
    content_changed = any(d["added"] or d["removed"] or d["changed"] for d in diffs.values())
    va, vb = (a.get("release") or {}).get("version"), (b.get("release") or {}).get("version")
    if content_changed and va is not None and va == vb:
        problems.append(f"content changed but the release version stayed at `{vb}`: bump it")
    if _semver(va) and _semver(vb) and _semver(vb) < _semver(va):  # type: ignore[operator]
        problems.append(f"the release version went backwards: `{va}` → `{vb}`")
    same_context = (
        a.get("tool") == b.get("tool")
        and a.get("environment") == b.get("environment")
        and a.get("seed") == b.get("seed")
        and a.get("inputs") == b.get("inputs")
    )
    if same_context:
        for config, d in diffs.items():
            if not d["changed"] or d["old"] is None or d["new"] is None:
                continue
            if d["old"].get("recipe_version") == d["new"].get("recipe_version"):
                problems.append(
                    f"`{config}`: {len(d['changed'])} item(s) changed although recipe `{d['new'].get('recipe')}` "
                    f"stayed at `{d['new'].get('recipe_version')}` and tool, libraries, seed and inputs are equal: "
                    "a recipe change without a version bump?"
                )
    lines = ["## Checks", ""]
    lines += [f"- ⚠ {p}" for p in problems] if problems else ["- nothing to flag"]
    return [*lines, ""]


def _semver(version: str | None) -> tuple[int, int, int] | None:
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _config_section(config: str, d: Mapping[str, Any]) -> list[str]:
    old, new = d["old"] or {}, d["new"] or {}
    lines = [f"## `{config}`", ""]
    if d["old"] is None:
        lines += ["New config in this release.", ""]
    elif d["new"] is None:
        lines += ["Config removed in this release.", ""]
    if old.get("recipe_version") != new.get("recipe_version") or old.get("recipe") != new.get("recipe"):
        lines += [
            f"Recipe: {_show(_recipe(old))} → {_show(_recipe(new))}",
            "",
        ]
    lines += [f"Rows: {old.get('rows', 0)} → {new.get('rows', 0)} ({_signed(new.get('rows', 0) - old.get('rows', 0))})"]
    lines += ["", "Answer-letter balance:", ""]
    lines += _count_table("letter", old.get("answer_letters", {}), new.get("answer_letters", {}), sort=True)
    lines += ["", "Label distribution (correct answer texts):", ""]
    lines += _count_table("answer", old.get("answer_texts", {}), new.get("answer_texts", {}), sort=False)
    lines.append("")
    lines += _id_list("Added", d["added"], {})
    lines += _id_list("Removed", d["removed"], {})
    lines += _id_list("Changed", d["changed"], d["columns"])
    if not (d["added"] or d["removed"] or d["changed"]):
        lines += ["No item added, removed or changed.", ""]
    return lines


def _recipe(info: Mapping[str, Any]) -> str | None:
    return f"{info['recipe']} {info.get('recipe_version', '?')}" if info.get("recipe") else None


def _count_table(what: str, old: Mapping[str, int], new: Mapping[str, int], *, sort: bool) -> list[str]:
    keys = sorted(set(old) | set(new)) if sort else [*new, *(k for k in old if k not in new)]
    n_old, n_new = sum(old.values()) or 1, sum(new.values()) or 1
    lines = [f"| {what} | old | new | Δ |", "|---|---|---|---|"]
    for k in keys:
        o, n = old.get(k, 0), new.get(k, 0)
        lines.append(f"| {_cell(k)} | {o} ({o / n_old:.0%}) | {n} ({n / n_new:.0%}) | {_signed(n - o)} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _id_list(title: str, ids: Sequence[str], columns: Mapping[str, Sequence[str]]) -> list[str]:
    if not ids:
        return []
    items = [f"- `{i}`" + (f": {', '.join(columns[i])}" if columns.get(i) else "") for i in ids]
    heading = f"{title} ({len(ids)}):"
    if len(ids) > LIST_OPEN_LIMIT:
        return [f"<details><summary>{heading}</summary>", "", *items, "", "</details>", ""]
    return [heading, "", *items, ""]
