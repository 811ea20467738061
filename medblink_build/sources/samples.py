"""Built-in sample sources, generated on demand from a manifest's `generator` name."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import SourceError
from ..manifests import get_manifest
from .folder import FolderSource

#: generator name -> "module:function" writing the source into a folder (imported when used).
GENERATORS: dict[str, str] = {
    "xray": "medblink_build.sources.sample_xray:write_xray_sample",
    "ct-series": "medblink_build.sources.sample_ct:write_ct_series_sample",
    "ct-seg": "medblink_build.sources.sample_ct:write_ct_seg_sample",
    "endoscopy": "medblink_build.sources.sample_endoscopy:write_endoscopy_sample",
    "ultrasound": "medblink_build.sources.sample_ultrasound:write_ultrasound_sample",
    "dental": "medblink_build.sources.sample_dental:write_dental_sample",
    "age": "medblink_build.sources.sample_age:write_age_sample",
    "histology": "medblink_build.sources.sample_histology:write_histology_sample",
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
