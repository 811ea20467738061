"""Croissant 1.0 metadata (`croissant.json`) of an output folder, with the Responsible-AI fields.

Everything comes from the folder's `manifest.json` (sources, licenses, recipes and their
descriptions, counts, skipped items, release facts) and from the parquet files' own schemas (the
record-set fields), so the metadata cannot drift from the data. The output is deterministic:
sorted keys, no timestamps, lists in manifest order. `croissant.json` is derived from the
manifest and is therefore not listed in it.

Layout of the JSON-LD:

- `distribution`: one `cr:FileObject` per parquet file (path, size, sha256 as in manifest.json)
  and one `cr:FileSet` per config (`data/<config>/*.parquet`) that the record set reads; the
  FileSet carries the config's license (as derived from its sources) and its restrictions.
- `recordSet`: one per config, one field per parquet column (`choices` and `images` repeated,
  images as `sc:ImageObject` taken from the `bytes` of the Hugging Face image struct).
- `rai:*`: data collection, preprocessing, annotation protocol, personal/sensitive information,
  limitations, biases and use cases, written from the manifest facts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OutputError
from .card import MEDBLINK_CITATION, license_label, license_restrictions, public_text
from .folder import MANIFEST_NAME

CROISSANT_NAME = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

#: The @context of Croissant 1.0 as the specification's examples give it (plus the RAI prefix).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    # In mlcroissant's 1.0 context too (later 1.0 examples); without them it logs a non-standard warning.
    "equivalentProperty": "cr:equivalentProperty",
    "samplingRate": "cr:samplingRate",
}

PARQUET = "application/x-parquet"

#: License ids that are SPDX identifiers, so they can be given with their SPDX URL.
_SPDX = frozenset(
    {
        "CC0-1.0",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "CC-BY-SA-4.0",
        "CC-BY-NC-4.0",
        "CC-BY-NC-SA-3.0",
        "CC-BY-NC-SA-4.0",
        "CC-BY-NC-ND-4.0",
        "MIT",
        "Apache-2.0",
    }
)

#: What each row column holds (the README's table); columns not named here still get a field.
COLUMN_DESCRIPTIONS = {
    "id": "Row id: <config>-<16 hex>, derived from the task and the item key (source id + relative path).",
    "task": "The config name (task id).",
    "question": "The question text.",
    "choices": "The answer choices, in the order lettered A, B, ...",
    "answer": "The correct letter (A, B, ...); letters are balanced per config by a seeded plan.",
    "answer_text": "The text of the correct choice (the choice the answer letter names).",
    "images": "The image(s) shown with the question: 8-bit PNG.",
    "prompt": "Question, lettered choices and the answer instruction, as given to a model.",
    "modality": "Imaging modality, e.g. X-ray, CT.",
    "anatomy": "Anatomy shown, e.g. chest.",
    "source": "Id of the source manifest the row's inputs came from.",
    "license": "License of that source.",
    "label": "Task-specific, machine-readable truth (JSON string).",
    "provenance": (
        "JSON string: input files with sha256, how they were decoded, transforms applied in order with "
        "parameters, how the label was derived, tool and recipe versions, seed."
    ),
}


def croissant_for(folder: Path) -> dict[str, Any]:
    """The Croissant JSON-LD (as a dict) describing the output folder `folder`."""
    manifest = _read_manifest(folder)
    configs: dict[str, Any] = manifest.get("configs", {})
    sources: list[dict[str, Any]] = manifest.get("sources", [])
    release = manifest.get("release") or {}
    tool = manifest.get("tool", {})
    sample = bool(manifest.get("sample"))
    version = release.get("version") or tool.get("version") or "0.0.0"
    base_name = release.get("name") or "MedBLINK"

    distribution: list[dict[str, Any]] = []
    record_sets: list[dict[str, Any]] = []
    for config in sorted(configs):
        info = configs[config]
        file_ids = []
        for entry in info["files"]:
            file_ids.append(entry["path"])
            distribution.append(
                {
                    "@type": "cr:FileObject",
                    "@id": entry["path"],
                    "name": entry["path"],
                    "contentUrl": entry["path"],
                    "contentSize": f"{entry['bytes']} B",
                    "encodingFormat": PARQUET,
                    "sha256": entry["sha256"],
                }
            )
        distribution.append(
            {
                "@type": "cr:FileSet",
                "@id": _fileset_id(config),
                "name": _fileset_id(config),
                "description": f"The parquet files of config {config} (split test): {', '.join(file_ids)}. "
                + _license_sentence(info),
                "encodingFormat": PARQUET,
                "includes": f"data/{config}/*.parquet",
                "license": _license_works(info["license"]),
            }
        )
        record_sets.append(_record_set(folder, config, info))

    licenses = sorted(
        {
            part
            for text in [s["license"] for s in sources] + [c["license"] for c in configs.values()]
            for part in text.split(" AND ")
        }
    )
    dataset: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": f"{base_name} (medblink-build sample build)" if sample else f"{base_name} (medblink-build)",
        "description": _description(manifest, configs, sample),
        "version": version,
        "license": [w for lic in licenses for w in _license_works(lic)],
        "citeAs": _cite_as(sources),
        "inLanguage": "en",
        "keywords": ["medical", "perception", "benchmark", "medblink", "multiple-choice", "visual-question-answering"]
        + (["synthetic", "sample"] if sample else []),
        "isAccessibleForFree": True,
        "distribution": distribution,
        "recordSet": record_sets,
        "rai:dataCollection": _data_collection(manifest, sources, sample),
        "rai:dataCollectionType": ["Others"] if sample else ["Secondary Data analysis"],
        "rai:dataPreprocessingProtocol": _preprocessing(manifest, configs),
        "rai:dataAnnotationProtocol": _annotation(manifest, configs),
        "rai:personalSensitiveInformation": _personal(configs, sources, sample),
        "rai:dataLimitations": _limitations(manifest, configs, sources, sample),
        "rai:dataBiases": _biases(configs, sample),
        "rai:dataUseCases": [
            "Evaluation of basic visual perception of multimodal models on medical images, as multiple-choice "
            "questions (test split only). Not a training set, and not for clinical use or diagnosis."
        ],
    }
    return dataset


def croissant_text(folder: Path) -> str:
    """`croissant_for(folder)` serialized deterministically (sorted keys, fixed indent, final newline)."""
    return json.dumps(croissant_for(folder), indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_croissant(folder: Path) -> Path:
    """Write `croissant.json` into the output folder (after manifest.json) and return its path."""
    path = folder / CROISSANT_NAME
    try:
        path.write_text(croissant_text(folder), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return path


# ---------------------------------------------------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read manifest: {exc}") from exc
    if not isinstance(manifest, dict) or "configs" not in manifest:
        raise OutputError(f"{path}: not a medblink-build manifest (no configs)")
    return manifest


def _fileset_id(config: str) -> str:
    return f"parquet-files-{config}"


def _license_works(license_text: str) -> list[dict[str, str]]:
    """One schema.org CreativeWork per license id of an 'A AND B' expression (SPDX URL when known)."""
    works = []
    for part in license_text.split(" AND "):
        work = {"@type": "sc:CreativeWork", "name": part}
        if part in _SPDX:
            work["url"] = f"https://spdx.org/licenses/{part}.html"
        works.append(work)
    return works


def _license_sentence(info: Mapping[str, Any]) -> str:
    return f"License {license_label(info)}."


def _arrow_field(record_set: str, field: pa.Field) -> dict[str, Any]:
    source: dict[str, Any] = {"fileSet": {"@id": _fileset_id(record_set)}, "extract": {"column": field.name}}
    out: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{record_set}/{field.name}",
        "name": field.name,
        "description": COLUMN_DESCRIPTIONS.get(field.name, f"Column {field.name}."),
        "source": source,
    }
    kind = field.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        out["repeated"] = True
        kind = kind.value_type
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        out["dataType"] = "sc:ImageObject"  # the Hugging Face Image struct {bytes, path}
        source["transform"] = {"jsonPath": "bytes"}
    elif pa.types.is_boolean(kind):
        out["dataType"] = "sc:Boolean"
    elif pa.types.is_integer(kind):
        out["dataType"] = "sc:Integer"
    elif pa.types.is_floating(kind):
        out["dataType"] = "sc:Float"
    else:
        out["dataType"] = "sc:Text"
    return out


def _record_set(folder: Path, config: str, info: Mapping[str, Any]) -> dict[str, Any]:
    first = folder / info["files"][0]["path"]
    try:
        schema = pq.read_schema(first)
    except (OSError, pa.ArrowException) as exc:
        raise OutputError(f"{first}: cannot read the parquet schema: {exc}") from exc
    fields = [_arrow_field(config, f) for f in schema]
    record_set: dict[str, Any] = {
        "@type": "cr:RecordSet",
        "@id": config,
        "name": config,
        "description": f"{info['description']} Question: {info['question']} "
        f"{info['rows']} rows; modality {info['modality']}, anatomy {info['anatomy']}; "
        f"recipe {info['recipe']} {info['recipe_version']}; sources {', '.join(info['sources'])}. "
        + _license_sentence(info),
        "field": fields,
    }
    if "id" in schema.names:
        record_set["key"] = {"@id": f"{config}/id"}
    return record_set


def _description(manifest: Mapping[str, Any], configs: Mapping[str, Any], sample: bool) -> str:
    parts = [
        "Multiple-choice questions probing basic visual perception in medical images (MedBLINK tasks), "
        "regenerated by medblink-build from local copies of the raw public sources. Each row holds the "
        "question, lettered choices, the answer letter, the image(s), a machine-readable label and a "
        "provenance record."
    ]
    if sample:
        parts.append(
            "Sample build: every image is a synthetic phantom generated by medblink-build, not patient data "
            "and not the MedBLINK benchmark."
        )
    if configs:
        parts.append(
            "Configs: "
            + "; ".join(
                f"{c} ({configs[c]['rows']} rows, license {license_label(configs[c])})" for c in sorted(configs)
            )
            + "."
        )
    return " ".join(parts)


def _cite_as(sources: Sequence[Mapping[str, Any]]) -> str:
    """The MedBLINK paper, then every source's citation."""
    citations = list(dict.fromkeys(s["citation"].strip() for s in sources if s.get("citation", "").strip()))
    return "\n\n".join([MEDBLINK_CITATION, *citations])


def _data_collection(manifest: Mapping[str, Any], sources: Sequence[Mapping[str, Any]], sample: bool) -> str:
    lines = [
        "No new data was collected. Every image is derived by medblink-build "
        f"{manifest.get('tool', {}).get('version', '')} from a local copy of a source listed below; each row's "
        "provenance names its input files with their sha256, and manifest.json lists all "
        f"{len(manifest.get('inputs', []))} inputs."
    ]
    for s in sources:
        text = f"Source {s['name']} (id {s['id']}): access {s['access']}"
        if s.get("synthetic"):
            text += " (synthetic phantoms generated by medblink-build; no patient data)"
        if s.get("homepage"):
            text += f"; homepage {s['homepage']}"
        if s.get("how_to_obtain"):
            text += f"; how to obtain: {' '.join(str(s['how_to_obtain']).split())}"
        text += f"; license {s['license']}"
        if s.get("license_note"):
            text += f" ({public_text(s['license_note'])})"
        lines.append(text + ".")
    if not sample:
        lines.append("`medblink-build sources show ID` prints how to obtain each source.")
    return " ".join(lines)


def _configs_of(configs: Mapping[str, Any], recipe: str) -> list[str]:
    return sorted(c for c, info in configs.items() if info["recipe"] == recipe)


def _preprocessing(manifest: Mapping[str, Any], configs: Mapping[str, Any]) -> list[str]:
    out = [
        "Inputs are decoded by format readers (e.g. DICOM through the Modality LUT and the file's VOI LUT or "
        "window, else a percentile window; 8-bit PNG/JPEG/TIFF as stored), brought to the recipe's "
        "display convention, transformed by the recipe's seeded transforms, resized to the recipe's maximum side "
        "and written as 8-bit PNG. Each row's provenance records the decode parameters and the transforms in "
        "order with their parameters; they replay exactly (medblink_build.transforms.replay).",
        f"Build seed {manifest.get('seed')}; every random choice is seeded by (seed, task, item key).",
    ]
    recipes = manifest.get("recipes", {})
    for name, text in sorted(manifest.get("recipe_descriptions", {}).items()):
        used = _configs_of(configs, name)
        where = f" (configs {', '.join(used)})" if used else ""
        out.append(f"Recipe {name} {recipes.get(name, '')}{where}: {' '.join(text.split())}")
    return out


def _annotation(manifest: Mapping[str, Any], configs: Mapping[str, Any]) -> list[str]:
    out = [
        "No human annotation was made for this dataset. Labels are derived, never typed in: from a transform "
        "the recipe chose, a metadata field, or the source's own annotations (masks, boxes, tables), as each "
        "recipe describes; ambiguous evidence skips the item with a recorded reason instead of guessing. The "
        "label column and each row's provenance record the evidence."
    ]
    for config in sorted(configs):
        info = configs[config]
        answers = ", ".join(f"{text}: {n}" for text, n in sorted(info.get("answer_texts", {}).items()))
        out.append(
            f'{config}: question "{info["question"]}"; label derived by recipe {info["recipe"]} '
            f"{info['recipe_version']} (see dataPreprocessingProtocol); correct answers: {answers or 'none'}."
        )
    return out


def _personal(configs: Mapping[str, Any], sources: Sequence[Mapping[str, Any]], sample: bool) -> list[str]:
    if sample or (sources and all(s.get("synthetic") for s in sources)):
        return [
            "None: every image is a synthetic phantom generated by medblink-build; no person is depicted and "
            "no personal data was used."
        ]
    kinds = sorted({f"{c['modality']} ({c['anatomy']})" for c in configs.values()})
    return [
        "Medical images of patients (" + ", ".join(kinds) + "), derived from the sources listed under "
        "dataCollection; health data in the sense of most privacy laws.",
        "No patient identifiers in any column: row ids are hashes of the task and the item key, images are "
        "re-encoded as PNG pixels without metadata, and no DICOM header value that identifies a patient "
        "(names, IDs, dates, UIDs, institutions) is copied into a question, label or provenance. Provenance "
        "names input files by their path inside the source's own release, which can hold the source's "
        "pseudonymous case ids.",
        "De-identification is the source's: the pixels (including any burned-in text) are as the source "
        "distributes them, under the source's terms of use.",
    ]


def _limitations(
    manifest: Mapping[str, Any], configs: Mapping[str, Any], sources: Sequence[Mapping[str, Any]], sample: bool
) -> list[str]:
    out = []
    if sample:
        out.append(
            "Sample build: every image is a synthetic phantom; the rows show the format and the build path, "
            "not the MedBLINK benchmark, and say nothing about model performance on real images."
        )
    release = manifest.get("release") or {}
    if release:
        if not release.get("pinned"):
            out.append(
                f"Item selection: {release.get('selection', 'seeded draw')}; not the published MedBLINK item "
                "selection (no pinned selection was recorded)."
            )
        for task, reason in sorted((release.get("missing_tasks") or {}).items()):
            out.append(f"Task {task} is missing from this build: {' '.join(str(reason).split())}")
        for task, expected in sorted((release.get("expected_counts") or {}).items()):
            got = configs.get(task, {}).get("rows", 0)
            if task in configs and got != expected:
                out.append(f"Task {task}: {got} rows, the published release has {expected}.")
    skipped = manifest.get("skipped", {})
    by_reason = skipped.get("by_reason", {})
    if by_reason:
        total = sum(by_reason.values())
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(by_reason.items()))
        out.append(
            f"{total} source item(s) were skipped rather than labelled on ambiguous or unreadable evidence "
            f"({reasons}); manifest.json lists each item with its reason."
        )
    else:
        out.append("No source item was skipped.")
    for config in sorted(configs):
        if license_restrictions(configs[config]):
            out.append(f"Config {config}: license {license_label(configs[config])}.")
    for s in sources:
        if s.get("license") in ("unknown", "other"):
            out.append(f"Source {s['id']}: license {s['license']}; check the source's terms before any use.")
    out.append(
        "Single test split. Answer letters are balanced per config; answer texts follow the sources "
        "(see dataBiases). Images are downscaled 8-bit renderings, not diagnostic-quality originals."
    )
    return out


def _biases(configs: Mapping[str, Any], sample: bool) -> list[str]:
    out = [
        "Items are a seeded draw from the sources' items; any population, scanner, institution or "
        "acquisition bias of the sources carries over."
        if not sample
        else "Synthetic phantoms: no population is represented."
    ]
    for config in sorted(configs):
        texts = configs[config].get("answer_texts", {})
        if texts:
            total = sum(texts.values())
            top, n = max(sorted(texts.items()), key=lambda kv: kv[1])
            out.append(
                f'{config}: {len(texts)} distinct correct answers over {total} rows; most frequent "{top}" '
                f"({n} rows, {100 * n / total:.0f} %)."
            )
    return out
