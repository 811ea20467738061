"""Built-in sample sources, generated on demand from a manifest's `generator` name."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import SourceError
from ..manifests import get_manifest
from .folder import FolderSource

#: generator name -> "module:function" writing the source into a folder (imported when used).
GENERATORS: dict[str, str] = {
    "xray": "medblink_build.samples.sample_xray:write_xray_sample",
    "ct-series": "medblink_build.samples.sample_ct:write_ct_series_sample",
    "ct-seg": "medblink_build.samples.sample_ct:write_ct_seg_sample",
    "endoscopy": "medblink_build.samples.sample_endoscopy:write_endoscopy_sample",
    "ultrasound": "medblink_build.samples.sample_ultrasound:write_ultrasound_sample",
    "dental": "medblink_build.samples.sample_dental:write_dental_sample",
    "age": "medblink_build.samples.sample_age:write_age_sample",
    "histology": "medblink_build.samples.sample_histology:write_histology_sample",
}


def materialize_sample(source_id: str, dest: Path) -> FolderSource:
    """Write the sample source `source_id` under `dest` and return it bound to its manifest."""
    manifest = get_manifest(source_id)
    if manifest.generator not in GENERATORS:
        raise SourceError(
            f"{manifest.origin}: generator {manifest.generator!r} unknown; known: {', '.join(sorted(GENERATORS))}"
        )
    module, _, function = GENERATORS[manifest.generator].partition(":")
    root = dest / source_id
    getattr(importlib.import_module(module), function)(root)
    return FolderSource(root=root, manifest=manifest)


def sample_source_ids() -> list[str]:
    """Every built-in source with a generator, by id."""
    from ..manifests import builtin_manifests

    return sorted(sid for sid, m in builtin_manifests().items() if m.generator)


def write_samples(dest: Path, source_ids: list[str] | None = None) -> list[FolderSource]:
    """Write built-in sample sources (default: all) into `dest/<source id>`, as a user holds real
    sources, so `build --sources-root DEST --release medblink-sample-1.0` reads them from disk.

    A folder that already exists is refused (it might be someone's data), named in the error.
    """
    ids = source_ids or sample_source_ids()
    unknown = [sid for sid in ids if sid not in sample_source_ids()]
    if unknown:
        raise SourceError(f"not a built-in sample source: {unknown[0]!r}; known: {', '.join(sample_source_ids())}")
    existing = [dest / sid for sid in ids if (dest / sid).exists()]
    if existing:
        raise SourceError(f"{existing[0]}: already exists; give an empty folder or remove it first")
    return [materialize_sample(sid, dest) for sid in ids]
