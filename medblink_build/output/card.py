"""The dataset card (README.md) of an output folder: Hub YAML header plus a human-readable body.

Everything in it comes from the recipes' task metadata, the source manifests and the build's own
counts, so the card cannot drift from the data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..manifests import Manifest
from ..recipe import TaskInfo
from .schema import hub_yaml_features
from .shards import SPLIT

_HF_LICENSES = {
    "CC0-1.0": "cc0-1.0",
    "CC-BY-3.0": "cc-by-3.0",
    "CC-BY-4.0": "cc-by-4.0",
    "CC-BY-SA-4.0": "cc-by-sa-4.0",
    "CC-BY-NC-4.0": "cc-by-nc-4.0",
    "CC-BY-NC-SA-4.0": "cc-by-nc-sa-4.0",
    "CC-BY-NC-ND-4.0": "cc-by-nc-nd-4.0",
    "MIT": "mit",
    "Apache-2.0": "apache-2.0",
}


#: The benchmark this toolkit rebuilds: cited on every card, beside each source's own citation.
MEDBLINK_CITATION = """@misc{bigverdi2025medblink,
  title         = {{MedBLINK}: Probing Basic Perception in Multimodal Language Models for Medicine},
  author        = {Bigverdi, Mahtab and Ikezogwo, Wisdom and Zhang, Kevin and Jeong, Hyewon and Lu, Mingyu
                   and Cho, Sungjae and Shapiro, Linda and Krishna, Ranjay},
  year          = {2025},
  eprint        = {2508.02951},
  archivePrefix = {arXiv},
  primaryClass  = {cs.AI},
  doi           = {10.48550/arXiv.2508.02951},
  url           = {https://arxiv.org/abs/2508.02951}
}"""
MEDBLINK_HOMEPAGE = "https://medblink-benchmark.github.io"

# Maintainers' evidence tags in manifest text ([V] verified, [3P] third party, [U] unverified),
# and sentences about the maintainers' own notes: internal, never on a public card.
_TAG = re.compile(r"\s*\[(?:V|3P|U)(?:[,;][^\]]*)?\]")
_SENTENCE = re.compile(r"(?<=[.;])\s+|\n\s*\n")
_INTERNAL = ("SOURCES.md", "unverified", "not recorded")


def public_text(text: str) -> str:
    """Manifest prose for a public card: evidence tags and notes about internal records removed."""
    kept = [
        " ".join(_TAG.sub("", part).split())
        for part in _SENTENCE.split(text.strip())
        if part.strip() and not any(word in part for word in _INTERNAL)
    ]
    return " ".join(k for k in kept if k)


def hub_license(licenses: Sequence[str]) -> str:
    """The single Hub license id if every source shares one, else 'other'."""
    unique = sorted(set(licenses))
    if len(unique) == 1 and unique[0] in _HF_LICENSES:
        return _HF_LICENSES[unique[0]]
    return "other"


def license_restrictions(info: Mapping[str, Any]) -> list[str]:
    """The restrictions of a config's license (`config_license` values), in the card's words."""
    out = []
    if info.get("non_commercial"):
        out.append("non-commercial")
    if info.get("redistributable") is False:
        out.append("not redistributable")
    elif info.get("redistributable") is None:
        out.append("redistribution terms not stated")
    return out


def license_label(info: Mapping[str, Any]) -> str:
    """E.g. 'CC-BY-NC-SA-4.0 (non-commercial; redistribution terms not stated)'."""
    limits = license_restrictions(info)
    return str(info["license"]) + (f" ({'; '.join(limits)})" if limits else "")


def _size_category(n: int) -> str:
    return "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"


def dataset_info(
    configs: Sequence[str], counts: Mapping[str, int], sizes: Mapping[str, Mapping[str, int]]
) -> list[dict[str, Any]]:
    """The card's `dataset_info`: per config the features and the split's size, which `datasets`
    checks against what it loads (a wrong `num_examples` is a NonMatchingSplitsSizesError).
    `sizes[config]`: `num_bytes` (Arrow bytes of the rows) and `download_size` (parquet bytes)."""
    return [
        {
            "config_name": c,
            "features": hub_yaml_features(),
            "splits": [{"name": SPLIT, "num_bytes": sizes[c]["num_bytes"], "num_examples": counts[c]}],
            "download_size": sizes[c]["download_size"],
            "dataset_size": sizes[c]["num_bytes"],
        }
        for c in configs
    ]


def render_card(
    *,
    tasks: Sequence[TaskInfo],
    counts: Mapping[str, int],
    letters: Mapping[str, Mapping[str, int]],
    sources: Sequence[Manifest],
    recipes: Mapping[str, str],
    recipe_descriptions: Mapping[str, str],
    seed: int,
    tool_version: str,
    sample: bool,
    skipped: Mapping[str, int],
    licenses: Mapping[str, Mapping[str, Any]] | None = None,
    release: Mapping[str, Any] | None = None,
    sizes: Mapping[str, Mapping[str, int]] | None = None,
    described: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """`licenses`: per config, the `config_license` values (license, non_commercial, redistributable);
    `release`: the release record of a `build` (version, expected counts, missing tasks);
    `sizes`: per config, `num_bytes` and `download_size` for `dataset_info`;
    `described`: per config, (modality, anatomy) as the written rows give them (else the task's)."""
    licenses = licenses or {}
    described = described or {}
    written = [t for t in tasks if counts.get(t.task_id, 0) > 0]
    header: dict[str, Any] = {
        "pretty_name": "MedBLINK (medblink-build sample build)" if sample else "MedBLINK (medblink-build)",
        "license": hub_license([s.license for s in sources]),
        "language": ["en"],
        "task_categories": ["visual-question-answering", "multiple-choice"],
        "tags": ["medical", "perception", "benchmark", "medblink"] + (["synthetic", "sample"] if sample else []),
        "size_categories": [_size_category(sum(counts.values()))],
        "configs": [
            {"config_name": t.task_id, "data_files": [{"split": SPLIT, "path": f"data/{t.task_id}/{SPLIT}-*.parquet"}]}
            for t in written
        ],
    }
    if sizes:
        header["dataset_info"] = dataset_info([t.task_id for t in written], counts, sizes)
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    title = "MedBLINK — sample build" if sample else "MedBLINK — rebuilt with medblink-build"
    lines += [f"# {title}", ""]
    if sample:
        lines += [
            "> **Sample build.** Every image here is a synthetic phantom generated by medblink-build, not",
            "> patient data and not the MedBLINK benchmark. It shows the output format and the build path.",
            "",
        ]
    lines += [
        "Multiple-choice questions probing basic visual perception in medical images. Each row holds the",
        "question, lettered choices, the answer letter, the image(s), a machine-readable `label` (JSON) and",
        "a `provenance` record (JSON: input sha256s, transforms in order, how the label was derived).",
        "",
        "## Configs",
        "",
        "| config | modality | anatomy | rows | answer letters | license | question |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in written:
        dist = ", ".join(f"{k}: {v}" for k, v in sorted(letters.get(t.task_id, {}).items()))
        lic = licenses.get(t.task_id)
        terms = "-" if lic is None else license_label(lic)
        modality, anatomy = described.get(t.task_id, (t.modality, t.anatomy))
        lines.append(
            f"| `{t.task_id}` | {modality} | {anatomy} | {counts[t.task_id]} | {dist} | {terms} | {t.question} |"
        )
    restricted = [t.task_id for t in written if t.task_id in licenses and license_restrictions(licenses[t.task_id])]
    if restricted:
        lines += [
            "",
            "> **License restrictions.** "
            + "; ".join(f"`{c}`: {license_label(licenses[c])}" for c in restricted)
            + ". Each config's license is derived from its sources; check their terms before any use or",
            "> redistribution.",
        ]
    lines += ["", "## How the labels were derived", ""]
    for name, text in sorted(recipe_descriptions.items()):
        lines += [f"**{name}** (recipe version {recipes[name]}): {text.strip()}", ""]
    lines += ["## Sources", ""]
    for s in sources:
        lines += [
            f"### {s.name}",
            "",
            f"- Source id: `{s.id}`; access: {s.access}; license: **{s.license}**"
            + (" (non-commercial)" if s.non_commercial else ""),
        ]
        if s.homepage:
            lines.append(f"- Homepage: {s.homepage}")
        note = public_text(s.license_note) if s.license_note else ""
        if note:
            lines.append(f"- License note: {note}")
        if s.citation:
            lines += ["", "```bibtex", s.citation, "```"]
        lines.append("")
    if release:
        lines += [
            "## Release",
            "",
            f"- {release.get('name')} {release.get('version')}; item selection: {release.get('selection')}",
            "",
            "| task | rows | published |",
            "|---|---|---|",
        ]
        missing = release.get("missing_tasks") or {}
        for task, expected in sorted((release.get("expected_counts") or {}).items()):
            note = f" (missing: {missing[task]})" if task in missing else ""
            lines.append(f"| `{task}` | {counts.get(task, 0)}{note} | {expected} |")
        lines.append("")
    lines += [
        "## Citation",
        "",
        f"The tasks are those of MedBLINK ({MEDBLINK_HOMEPAGE}); cite it, and each source above whose",
        "data you use:",
        "",
        "```bibtex",
        MEDBLINK_CITATION,
        "```",
        "",
    ]
    example_config = written[0].task_id if written else "CONFIG"
    lines += [
        "## Build",
        "",
        f"- Tool: medblink-build {tool_version}; seed {seed}",
        "- Recipes: " + ", ".join(f"{n} {v}" for n, v in sorted(recipes.items())),
        "- Items skipped, by reason: " + (", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "none"),
        "- `manifest.json` lists every input digest, every parquet digest and a digest per example.",
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        f"ds = datasets.load_dataset(PATH_OR_REPO, name={example_config!r}, split={SPLIT!r})",
        "```",
        "",
    ]
    return "\n".join(lines)
