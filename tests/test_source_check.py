"""Local copies checked against pinned manifests; pinned release builds refuse changed inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from medblink_build.cli import main
from medblink_build.hashing import HashCache
from medblink_build.sources.check import check_source
from medblink_build.sources.resolve import resolve_source
from tests.conftest import run_cli

MANIFEST = """id = "my-cxr"
name = "My chest X-rays"
license = "CC-BY-4.0"
access = "open"
homepage = "https://example.org/my-cxr"
citation = "@misc{mycxr}"
how_to_obtain = "made by a test"
modality = "X-ray"
anatomy = "chest"
"""


@pytest.fixture
def pinned(xray_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDBLINK_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "sources" / "my-cxr"
    shutil.copytree(xray_source / "chest", root)
    (root / "source.toml").write_text(MANIFEST)
    result = CliRunner().invoke(main, ["sources", "pin", str(root)])
    assert result.exit_code == 0, result.output
    (root / "source.toml").write_text(MANIFEST + "\n" + result.output)
    return root


def test_check_reports_ok_then_missing_changed_and_extra(pinned: Path) -> None:
    code, output = run_cli("sources", "--check", pinned)
    assert code == 0 and "my-cxr: OK" in output, output
    (pinned / "chest_000.dcm").unlink()
    data = bytearray((pinned / "chest_002.dcm").read_bytes())
    data[-1] ^= 1
    (pinned / "chest_002.dcm").write_bytes(bytes(data))
    (pinned / "new.dcm").write_bytes(b"x")
    code, output = run_cli("sources", "--check", pinned)
    assert code != 0
    assert "1 missing, 1 changed, 1 extra" in output
    assert "missing: chest_000.dcm" in output and "changed: chest_002.dcm" in output and "extra: new.dcm" in output


def test_rechecking_uses_the_hash_cache(pinned: Path) -> None:
    source = resolve_source(str(pinned))
    check_source(source)
    cache = HashCache()
    report = check_source(source, cache)
    assert report.ok and cache.misses == 0 and cache.hits == report.pinned


def test_unpinned_manifest_is_reported(tmp_path: Path, xray_source: Path) -> None:
    code, output = run_cli("sources", "--check", f"medblink-sample-xray={xray_source}")
    assert code != 0 and "pins no files" in output


def test_release_build_refuses_changed_inputs_unless_allowed(pinned: Path, tmp_path: Path) -> None:
    release = tmp_path / "release.toml"
    release.write_text(
        'name = "Mini"\nversion = "0.1.0"\nseed = 0\n'
        '[[task]]\nid = "imaging_orientation_cxr"\nrecipe = "orientation"\ncount = 3\nsources = ["my-cxr"]\n'
    )
    sources_root = pinned.parent
    code, output = run_cli("build", "--release", release, "--sources-root", sources_root, "--out", tmp_path / "a")
    assert code == 0, output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["release"]["input_checks"]["my-cxr"]["changed"] == 0
    data = bytearray((pinned / "chest_002.dcm").read_bytes())
    data[-1] ^= 1
    (pinned / "chest_002.dcm").write_bytes(bytes(data))
    code, output = run_cli("build", "--release", release, "--sources-root", sources_root, "--out", tmp_path / "b")
    assert code != 0 and "chest_002.dcm" in output and "--allow-changed" in output
    assert not (tmp_path / "b").exists()
    code, output = run_cli(
        "build", "--release", release, "--sources-root", sources_root, "--out", tmp_path / "b", "--allow-changed"
    )
    assert code == 0, output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["release"]["input_checks"]["my-cxr"]["changed"] == 1
    digests = {i["path"]: i["sha256"] for i in manifest["inputs"]}
    import hashlib

    if "chest_002.dcm" in digests:  # the real digest of what was read is recorded
        assert digests["chest_002.dcm"] == hashlib.sha256((pinned / "chest_002.dcm").read_bytes()).hexdigest()
