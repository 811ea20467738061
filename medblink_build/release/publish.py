"""Publishing an output folder to the Hugging Face Hub, as it stands, through huggingface_hub.

Two gates come first, both before any network call:

1. Licenses: a config whose sources are non-commercial, or that a source says may not be
   redistributed, is refused (naming each config and its license) unless the caller states that
   they hold the rights (`i_hold_the_rights=True`, `--i-hold-the-rights`). A config whose sources
   say nothing about redistribution is published with a warning: its license is on the card.
2. Integrity: the folder must pass `verify_folder` (every parquet file and example digest as in
   manifest.json) and hold its dataset card (README.md, whose YAML declares the configs). A
   missing or stale croissant.json (not what manifest.json gives) is a warning, not a refusal.

Then `HfApi.create_repo(repo_type="dataset", exist_ok=True)` and `HfApi.upload_folder`. With the
installed huggingface_hub (>= 1.x with hf_xet, the default) `upload_folder` is itself resumable:
it streams files, commits in batches, skips files whose remote oid already matches and lets the
Xet backend deduplicate uploaded chunks, so re-running an interrupted `publish` sends only what
is missing. (`upload_large_folder`, the older resumable API, is gone from huggingface_hub 2.x and
wrote a `.cache/` folder into the output; `upload_folder` needs neither.) Without hf_xet it falls
back to one commit whose LFS uploads are skipped when the Hub already has the object.

Hidden files (a name starting with ".") are not uploaded; everything else in the folder is.
`plan_publish` runs both gates and lists the files without importing huggingface_hub or touching
the network (`publish --dry-run`).
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import MedblinkError
from ..output.card import license_label
from ..output.croissant import CROISSANT_NAME, croissant_text
from .verify import load_manifest, verify_folder

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_REQUIREMENT = "huggingface_hub>=1.0"


class PublishError(MedblinkError):
    """The folder may not be published (license, integrity) or the Hub refused the upload."""


@dataclass
class PublishResult:
    repo_id: str
    repo_url: str
    commit_url: str
    commit_oid: str
    files: list[str]  # paths in the repository, as uploaded
    rights_asserted: dict[str, str] = field(default_factory=dict)  # config -> license, published on the user's word
    warnings: list[str] = field(default_factory=list)


@dataclass
class PublishPlan:
    """What `publish` would send, after both gates passed: nothing has touched the network."""

    repo_id: str
    files: list[tuple[str, int]]  # (path in the repository, size in bytes)
    rights_asserted: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def restricted_configs(manifest: dict[str, Any]) -> dict[str, str]:
    """Configs that need the rights holder's word: non-commercial or not redistributable -> label."""
    return {
        config: license_label(info)
        for config, info in sorted(manifest["configs"].items())
        if info.get("non_commercial") or info.get("redistributable") is False
    }


def unstated_configs(manifest: dict[str, Any]) -> dict[str, str]:
    """Configs whose sources say nothing about redistribution -> label."""
    return {
        config: license_label(info)
        for config, info in sorted(manifest["configs"].items())
        if info.get("redistributable") is None and not info.get("non_commercial")
    }


def files_to_upload(folder: Path) -> list[str]:
    """Every file of the folder as it stands, relative POSIX paths, hidden ones left out."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(rel.as_posix())
    return out


def check_publishable(folder: Path, *, i_hold_the_rights: bool = False) -> tuple[dict[str, str], list[str]]:
    """The license and integrity gates; returns (configs published on the user's word, warnings)."""
    manifest, _ = load_manifest(folder)
    if not manifest["configs"]:
        raise PublishError(f"{folder}: no config to publish (manifest.json lists none)")
    restricted = restricted_configs(manifest)
    if restricted and not i_hold_the_rights:
        listed = "; ".join(f"{c}: {label}" for c, label in restricted.items())
        raise PublishError(
            f"{folder}: refusing to publish config(s) whose sources restrict use or redistribution: {listed}. "
            "Publish them only if you hold the rights to (--i-hold-the-rights), or rebuild without those sources"
        )
    report = verify_folder(folder)
    if not report.ok:
        problems = list(report.problems)
        if report.first_difference is not None:
            diff = report.first_difference
            problems.append(f"{diff.config}/{diff.example_id}: {diff.problem}")
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        raise PublishError(f"{folder}: fails verification, not publishing: {shown}")
    _check_card(folder, manifest)
    warnings = [
        f"config {c}: license {label}: check the sources' terms allow publishing it"
        for c, label in unstated_configs(manifest).items()
    ]
    croissant = folder / CROISSANT_NAME
    if not croissant.is_file():
        warnings.append(f"{CROISSANT_NAME}: missing (an output of an older medblink-build?)")
    elif croissant.read_text(encoding="utf-8") != croissant_text(folder):
        warnings.append(
            f"{CROISSANT_NAME}: differs from what manifest.json gives (edited, or written by another "
            "medblink-build version); uploading it as it stands"
        )
    return (restricted if i_hold_the_rights else {}), warnings


def _check_card(folder: Path, manifest: dict[str, Any]) -> None:
    """The card must exist and its YAML header must declare every config of the manifest."""
    card = folder / "README.md"
    if not card.is_file():
        raise PublishError(f"{card}: missing; the dataset card declares the configs on the Hub")
    text = card.read_text(encoding="utf-8")
    head, sep, _ = text.removeprefix("---\n").partition("\n---\n")
    try:
        header = yaml.safe_load(head) if text.startswith("---\n") and sep else None
    except yaml.YAMLError as exc:
        raise PublishError(f"{card}: the YAML header does not parse: {' '.join(str(exc).split())}") from exc
    if not isinstance(header, dict):
        raise PublishError(f"{card}: no YAML header (the Hub reads the configs and license from it)")
    declared = {c.get("config_name") for c in header.get("configs") or [] if isinstance(c, dict)}
    undeclared = sorted(set(manifest["configs"]) - declared)
    if undeclared:
        raise PublishError(f"{card}: the YAML header does not declare config(s) {', '.join(undeclared)}")
    if not header.get("license"):
        raise PublishError(f"{card}: the YAML header states no license")


def plan_publish(folder: Path, repo_id: str, *, i_hold_the_rights: bool = False) -> PublishPlan:
    """The repo id, license, integrity and card checks, and the file list: a dry run of `publish`."""
    folder = Path(folder)
    if not _REPO_ID.match(repo_id):
        raise PublishError(f"repo id {repo_id!r} is not of the form ORG/NAME")
    rights, warnings = check_publishable(folder, i_hold_the_rights=i_hold_the_rights)
    files = [(rel, (folder / rel).stat().st_size) for rel in files_to_upload(folder)]
    return PublishPlan(repo_id, files, rights, warnings)


def publish(
    folder: Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    i_hold_the_rights: bool = False,
    endpoint: str | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PublishResult:
    """Upload `folder` to the dataset repository `repo_id` (created if missing) and return what was sent.

    `token=None` lets huggingface_hub find one (HF_TOKEN, or the saved `hf auth login`).
    `private=True` creates the repository private; an existing repository keeps its visibility.
    """
    folder = Path(folder)
    plan = plan_publish(folder, repo_id, i_hold_the_rights=i_hold_the_rights)
    manifest, _ = load_manifest(folder)
    files = [rel for rel, _ in plan.files]

    hub = _import_hub()
    errors = _hub_errors()
    api = hub.HfApi(endpoint=endpoint, token=token)
    tool_version = manifest.get("tool", {}).get("version", "")
    version = (manifest.get("release") or {}).get("version") or tool_version
    message = commit_message or f"Upload release {version} (medblink-build {tool_version})"
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=True if private else None, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="dataset",
            revision=revision,
            commit_message=message,
            allow_patterns=[glob.escape(f) for f in files],  # exactly these files
        )
    except errors as exc:
        raise PublishError(f"{repo_id}: upload failed: {type(exc).__name__}: {exc}") from exc
    return PublishResult(
        repo_id=repo_id,
        repo_url=str(repo_url),
        commit_url=str(getattr(info, "commit_url", "")),
        commit_oid=str(getattr(info, "oid", "")),
        files=files,
        rights_asserted=plan.rights_asserted,
        warnings=plan.warnings,
    )


def _import_hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:  # pragma: no cover - a dependency of `datasets`, so present with [hub] or [test]
        raise PublishError(f"publish needs {HUB_REQUIREMENT}: pip install '{HUB_REQUIREMENT}'") from None
    return huggingface_hub


def _hub_errors() -> tuple[type[BaseException], ...]:
    """The exceptions an upload can end with: Hub HTTP errors, offline mode, transport errors.

    `huggingface_hub.errors` is a submodule that `import huggingface_hub` does not load: import it.
    """
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    found: list[type[BaseException]] = [HfHubHTTPError, OfflineModeIsEnabled, ValueError, OSError]
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        try:
            found.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)
