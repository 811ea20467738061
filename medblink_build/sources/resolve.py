"""Turn what the user typed after `--source` into a bound source.

`--source PATH` binds PATH to the built-in manifest whose `detect` files (paths or globs) it holds,
or to a `source.toml` inside it, else treats it as a generic local folder (license unknown).
`--source ID=PATH` binds PATH to the built-in manifest ID explicitly.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SourceError
from ..manifests import Manifest, builtin_manifests, get_manifest, is_glob, load_manifest_file
from .folder import FolderSource

LOCAL_MANIFEST = "source.toml"


def generic_manifest(root: Path) -> Manifest:
    """A folder no manifest describes. Its name may be a patient's: the id is a keyed pseudonym of it."""
    from ..pseudonym import load_key, pseudonym

    slug = pseudonym(load_key(), f"folder:{root.resolve().name}")[:10]
    return Manifest(
        id=f"local-{slug}",
        name=f"Local folder {slug}",
        homepage="",
        license="unknown",
        access="open",
        how_to_obtain="A local folder given on the command line.",
        citation="",
        modality="",
        anatomy="",
        license_note="No manifest describes this folder: its license is unknown. Add a source.toml.",
        origin=str(root),
    )


def marker_present(root: Path, marker: str) -> bool:
    """A detect marker is a path under the root, or a glob (e.g. "manifest-*/metadata.csv")."""
    if is_glob(marker):
        return next(iter(root.glob(marker)), None) is not None
    return (root / marker).exists()


def resolve_source(spec: str) -> FolderSource:
    if "=" in spec and not Path(spec).exists():
        source_id, _, path = spec.partition("=")
        root = Path(path).expanduser()
        manifest = get_manifest(source_id.strip())
    else:
        root = Path(spec).expanduser()
        manifest = None
    if not root.is_dir():
        raise SourceError(f"{root}: source folder does not exist or is not a folder")
    if manifest is None:
        local = root / LOCAL_MANIFEST
        if local.is_file():
            manifest = load_manifest_file(local)
        else:
            detected = [
                m for m in builtin_manifests().values() if m.detect and all(marker_present(root, d) for d in m.detect)
            ]
            if len(detected) > 1:
                ids = ", ".join(m.id for m in detected)
                raise SourceError(f"{root}: matches several source manifests ({ids}); name one with ID=PATH")
            manifest = detected[0] if detected else generic_manifest(root)
    return FolderSource(root=root, manifest=manifest)
