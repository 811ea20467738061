"""Small local sources with a `source.toml` of a chosen license, for the license and publish tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medblink_build.samples.phantoms import chest_pa, pelvis_ap

CITATION = "@article{test2024xrays, title={Test X-rays}, author={Doe, Jane}, year={2024}}"


def write_xray_source(
    root: Path,
    *,
    source_id: str = "nc-xrays",
    license: str = "CC-BY-NC-SA-4.0",
    redistributable: bool | None = None,
    per_anatomy: int = 3,
    size: int = 128,
) -> Path:
    """X-ray PNGs (chest and pelvis) + labels.csv + a source.toml with `license`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,anatomy,view"]
    for anatomy, make, view in (("chest", chest_pa, "PA"), ("pelvis", pelvis_ap, "AP")):
        for i in range(per_anatomy):
            rel = f"{anatomy}_{i:02d}.png"
            Image.fromarray((make(i, size) >> 4).astype(np.uint8)).save(root / rel)
            rows.append(f"{rel},{anatomy},{view}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    flag = "" if redistributable is None else f"redistributable = {str(redistributable).lower()}\n"
    (root / "source.toml").write_text(
        f'id = "{source_id}"\nname = "Test X-rays ({license})"\nlicense = "{license}"\naccess = "registration"\n'
        'how_to_obtain = "Register on the test portal and download the PNG archive."\n'
        'modality = "X-ray"\nanatomy = "chest"\nhomepage = "https://example.org/test-xrays"\n'
        f"citation = '''{CITATION}'''\n{flag}",
        encoding="utf-8",
    )
    return root
