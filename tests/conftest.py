"""Shared fixtures: a small sample X-ray source written once per session, and a CLI runner."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from medblink_build.cli import main
from medblink_build.samples.sample_xray import write_xray_sample

# Tests never touch the network, and never reuse a `datasets` cache from an earlier run (its cache
# key for local files would hand back stale rows for a rebuilt folder at the same path).
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="medblink-hf-cache-")
# Pseudonyms of local paths come from a key beside the user's configuration: tests use one of their
# own, created on first use, never the developer's.
os.environ["MEDBLINK_BUILD_PSEUDONYM_KEY"] = os.path.join(tempfile.mkdtemp(prefix="medblink-key-"), "pseudonym.key")


@pytest.fixture(scope="session")
def xray_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in sample source at a small size (256 px, 6 DICOMs per anatomy + rasters)."""
    return write_xray_sample(tmp_path_factory.mktemp("xray") / "src", size=256, per_anatomy=6)


def shown(relpath: str) -> str:
    """How outputs name a file of a source whose paths are not public (its keyed pseudonym)."""
    from medblink_build.pseudonym import file_pseudonym, load_key

    return file_pseudonym(load_key(), relpath)


def declare_public(root: Path, modality: str = "unknown", anatomy: str = "unknown") -> Path:
    """Give a test's local folder a source.toml declaring its names public ids (`public_paths`),
    for tests that follow rows back to the files they were made from by name."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "source.toml").write_text(
        f'id = "local-{root.name.lower()}"\npublic_paths = true\nname = "Local folder {root.name}"\n'
        'license = "unknown"\naccess = "open"\nhomepage = "-"\ncitation = "-"\nhow_to_obtain = "made by a test"\n'
        f'modality = "{modality}"\nanatomy = "{anatomy}"\n',
        encoding="utf-8",
    )
    return root


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli


def load_config(out: Path, config: str):  # type: ignore[no-untyped-def]
    """`datasets.load_dataset` on an output folder, with a cache of its own.

    `datasets` names its cache of a local folder after the folder's base name and the config, so
    two different folders both called `out` can collide (stale rows, or a split-size mismatch).
    """
    import datasets

    return datasets.load_dataset(str(out), name=config, split="test", cache_dir=tempfile.mkdtemp(prefix="hf-"))


@pytest.fixture(scope="session")
def samples_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every built-in sample source written to disk (`samples write`), as a user holds sources."""
    from medblink_build.sources.samples import write_samples

    root = tmp_path_factory.mktemp("samples") / "sources"
    write_samples(root)
    return root


@pytest.fixture(scope="session")
def sample_release(samples_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `medblink-sample-1.0` release built from the sources on disk."""
    out = tmp_path_factory.mktemp("sample-release") / "sample-release"
    code, output = run_cli(
        "build", "--release", "medblink-sample-1.0", "--sources-root", samples_root, "--out", out, "--quiet"
    )
    assert code == 0, output
    return out
