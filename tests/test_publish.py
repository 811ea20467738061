"""`publish`: license and integrity gates, then the upload through huggingface_hub to a fake Hub.

The fake Hub (tests/fake_hub.py) sits at the HTTP boundary only: huggingface_hub runs unchanged
and its requests reach an `httpx2.MockTransport` installed with `huggingface_hub.set_client_factory`.
Nothing reaches the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medblink_build.release.publish import PublishError, files_to_upload, publish
from tests.conftest import run_cli
from tests.fake_hub import FakeHub, Repo, git_blob_sha1
from tests.licensed_sources import write_xray_source

pytest.importorskip("huggingface_hub")
pytest.importorskip("httpx2")

TOKEN = "hf_fake_token_for_tests"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    fake.install()
    yield fake
    fake.uninstall()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pub") / "sample-out"
    code, output = run_cli("recipe", "orientation", "--out", out, "--quiet")
    assert code == 0, output
    return out


def _build(root: Path, name: str, **source: object) -> Path:
    src = write_xray_source(root / f"{name}-src", **source)  # type: ignore[arg-type]
    out = root / f"{name}-out"
    code, output = run_cli("recipe", "orientation", "--source", src, "--out", out, "--quiet")
    assert code == 0, output
    return out


@pytest.fixture(scope="module")
def non_commercial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("nc"), "nc", license="CC-BY-NC-SA-4.0")


def _local_files(folder: Path) -> dict[str, bytes]:
    return {rel: (folder / rel).read_bytes() for rel in files_to_upload(folder)}


def test_every_file_is_committed_with_its_bytes(sample: Path, hub: FakeHub) -> None:
    result = publish(sample, "org/medblink-sample", token=TOKEN)
    repo = hub.repos["org/medblink-sample"]
    local = _local_files(sample)
    assert set(local) >= {
        "README.md",
        "manifest.json",
        "croissant.json",
        "data/imaging_orientation_cxr/test-00000-of-00001.parquet",
        "data/imaging_orientation_pelvic/test-00000-of-00001.parquet",
    }
    assert repo.files == local  # paths and bytes
    assert repo.repo_type == "dataset" and repo.visibility is None  # an existing default is not overridden
    assert len(repo.commits) == 1 and result.commit_oid == repo.commits[0]["oid"]
    assert result.files == sorted(local) and result.repo_url.endswith("/datasets/org/medblink-sample")
    assert hub.auth == {f"Bearer {TOKEN}"}
    assert ("POST", "/api/validate-yaml") in hub.requests  # the card's YAML was checked by the Hub


def test_rerun_after_an_interrupted_upload_sends_only_what_is_missing(sample: Path, hub: FakeHub) -> None:
    local = _local_files(sample)
    # A first attempt died after committing the card and the manifest.
    hub.repos["org/resume"] = Repo("dataset", None, files={k: local[k] for k in ("README.md", "manifest.json")})
    publish(sample, "org/resume", token=TOKEN)
    repo = hub.repos["org/resume"]
    assert repo.files == local
    assert set(repo.commits[-1]["files"]) == set(local) - {"README.md", "manifest.json"}
    # Running it again finds everything in place: no new commit.
    publish(sample, "org/resume", token=TOKEN)
    assert len(repo.commits) == 1
    assert ("GET", "/api/datasets/org/resume/revision/main") in hub.requests


def test_legacy_lfs_path_uploads_parquet_as_lfs_objects(
    sample: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Xet (HF_HUB_DISABLE_XET), parquet files go through the git-LFS batch API, PUT and verify."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    hub.lfs_suffixes = (".parquet",)
    publish(sample, "org/lfs", token=TOKEN, private=True)
    repo = hub.repos["org/lfs"]
    local = _local_files(sample)
    assert repo.files == local and repo.visibility == "private"
    assert repo.lfs_paths == {p for p in local if p.endswith(".parquet")}
    assert sum(1 for method, path in hub.requests if method == "PUT" and path.startswith("/__lfs__/")) == len(
        repo.lfs_paths
    )


def test_non_commercial_config_is_refused_before_any_request(non_commercial: Path, hub: FakeHub) -> None:
    with pytest.raises(PublishError) as err:
        publish(non_commercial, "org/nc", token=TOKEN)
    message = str(err.value)
    assert "imaging_orientation_cxr: CC-BY-NC-SA-4.0 (non-commercial" in message
    assert "imaging_orientation_pelvic: CC-BY-NC-SA-4.0" in message and "--i-hold-the-rights" in message
    assert hub.requests == []


def test_non_commercial_config_is_published_when_the_user_holds_the_rights(non_commercial: Path, hub: FakeHub) -> None:
    result = publish(non_commercial, "org/nc", token=TOKEN, i_hold_the_rights=True)
    assert hub.repos["org/nc"].files == _local_files(non_commercial)
    assert set(result.rights_asserted) == {"imaging_orientation_cxr", "imaging_orientation_pelvic"}
    assert all("CC-BY-NC-SA-4.0" in label for label in result.rights_asserted.values())


def test_not_redistributable_is_refused(tmp_path: Path, hub: FakeHub) -> None:
    out = _build(tmp_path, "nr", license="CC-BY-4.0", redistributable=False)
    with pytest.raises(PublishError, match=r"CC-BY-4\.0 \(not redistributable\)"):
        publish(out, "org/nr", token=TOKEN)
    assert hub.requests == []


def test_folder_failing_verification_is_refused(sample: Path, tmp_path: Path, hub: FakeHub) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sample, broken)
    parquet = broken / "data" / "imaging_orientation_cxr" / "test-00000-of-00001.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    with pytest.raises(PublishError, match=r"fails verification.*test-00000-of-00001\.parquet: sha256 differs"):
        publish(broken, "org/broken", token=TOKEN)
    assert hub.requests == []


def test_not_an_output_folder_and_bad_repo_ids_are_refused(tmp_path: Path, sample: Path, hub: FakeHub) -> None:
    with pytest.raises(PublishError, match="not of the form ORG/NAME"):
        publish(sample, "no-slash", token=TOKEN)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(Exception, match="not a medblink-build output"):
        publish(tmp_path, "org/x", token=TOKEN)
    assert hub.requests == []


def test_hidden_files_stay_local(sample: Path, tmp_path: Path, hub: FakeHub) -> None:
    folder = tmp_path / "with-hidden"
    shutil.copytree(sample, folder)
    (folder / ".notes").write_text("private")
    publish(folder, "org/hidden", token=TOKEN)
    assert ".notes" not in hub.repos["org/hidden"].files
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # the fake's oids are git's


def test_stale_croissant_is_uploaded_as_it_stands_with_a_warning(sample: Path, tmp_path: Path, hub: FakeHub) -> None:
    folder = tmp_path / "edited"
    shutil.copytree(sample, folder)
    with open(folder / "croissant.json", "a", encoding="utf-8") as f:
        f.write(" ")
    result = publish(folder, "org/edited", token=TOKEN)
    assert any("croissant.json: differs" in w for w in result.warnings)
    assert hub.repos["org/edited"].files["croissant.json"] == (folder / "croissant.json").read_bytes()
    assert not any("croissant" in w for w in publish(sample, "org/clean", token=TOKEN).warnings)


# -- command line ---------------------------------------------------------------------------------


def test_cli_publish_reads_the_token_from_the_named_variable(
    sample: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_HUB_TOKEN", TOKEN)
    code, output = run_cli("publish", sample, "--repo-id", "org/cli", "--token-env", "MY_HUB_TOKEN", "--private")
    assert code == 0, output
    assert "published" in output and "org/cli" in output
    assert hub.repos["org/cli"].files == _local_files(sample) and hub.repos["org/cli"].visibility == "private"
    assert hub.auth == {f"Bearer {TOKEN}"}


def test_cli_publish_refusal_and_override(non_commercial: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, output = run_cli("publish", non_commercial, "--repo-id", "org/nc-cli")
    assert code != 0
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "CC-BY-NC-SA-4.0 (non-commercial" in lines[0] and "--i-hold-the-rights" in lines[0]
    code, output = run_cli("publish", non_commercial, "--repo-id", "org/nc-cli", "--i-hold-the-rights")
    assert code == 0, output
    assert "you stated you hold the rights" in output and "imaging_orientation_cxr" in output


def test_cli_publish_warns_on_unstated_terms_and_names_a_missing_token_variable(
    tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _build(tmp_path, "unknown", license="unknown")
    code, output = run_cli("publish", out, "--repo-id", "org/unknown", "--token-env", "NOT_SET_ANYWHERE")
    assert code != 0 and "NOT_SET_ANYWHERE" in output
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, output = run_cli("publish", out, "--repo-id", "org/unknown")
    assert code == 0, output
    assert "warning: config imaging_orientation_cxr: license unknown (redistribution terms not stated)" in output


def test_cli_publish_hub_errors_are_one_line(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub(fail={"create": 401})
    fake.install()
    try:
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
        code, output = run_cli("publish", sample, "--repo-id", "org/denied")
    finally:
        fake.uninstall()
    assert code != 0
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "org/denied: upload failed" in lines[0] and "401" in lines[0]


# -- a fresh process: nothing but medblink-build has imported huggingface_hub ----------------------

_FRESH = """
import sys
from pathlib import Path

mode, out, repo = sys.argv[1], sys.argv[2], sys.argv[3]
assert "huggingface_hub" not in sys.modules and "huggingface_hub.errors" not in sys.modules
hub = None
if mode == "fake":
    from tests.fake_hub import FakeHub

    hub = FakeHub()
    hub.install()
from medblink_build.cli import main

args = ["publish", out, "--repo-id", repo] + (["--dry-run"] if mode == "dry-run" else [])
try:
    main(args, standalone_mode=False)
except Exception as exc:  # the CLI's one-line error (a ClickException) or the crash this test guards
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
if mode == "dry-run":
    assert "huggingface_hub" not in sys.modules, "a dry run imported huggingface_hub"
if hub is not None:
    print("committed:", sorted(hub.repos[repo].files))
"""


def _fresh_publish(mode: str, out: Path, repo: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | env
    environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-c", _FRESH, mode, str(out), repo],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )


def test_fresh_process_publishes_to_the_fake_hub(sample: Path) -> None:
    result = _fresh_publish("fake", sample, "org/fresh", HF_TOKEN=TOKEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published" in result.stdout and "org/fresh" in result.stdout
    assert "'data/imaging_orientation_cxr/test-00000-of-00001.parquet'" in result.stdout


def test_fresh_process_hub_errors_are_caught_not_a_crash(sample: Path) -> None:
    """Offline mode ends the upload with huggingface_hub's own error, caught by name (no network)."""
    result = _fresh_publish("real", sample, "org/offline", HF_TOKEN=TOKEN, HF_HUB_OFFLINE="1")
    assert result.returncode == 1
    assert "AttributeError" not in result.stdout + result.stderr
    assert "org/offline: upload failed: OfflineModeIsEnabled" in result.stdout


def test_dry_run_lists_the_files_checks_the_gates_and_sends_nothing(
    sample: Path, non_commercial: Path, tmp_path: Path
) -> None:
    result = _fresh_publish("dry-run", sample, "org/dry")
    assert result.returncode == 0, result.stdout + result.stderr
    for rel in files_to_upload(sample):
        assert re.search(rf"^\s+[\d,]+\s+{re.escape(rel)}$", result.stdout, re.M), rel
    assert f"would upload {len(files_to_upload(sample))} files" in result.stdout and "nothing sent" in result.stdout
    # The gates run in a dry run too: licenses, and the card's YAML declaring every config.
    code, output = run_cli("publish", non_commercial, "--repo-id", "org/nc", "--dry-run")
    assert code != 0 and "--i-hold-the-rights" in output
    code, output = run_cli("publish", non_commercial, "--repo-id", "org/nc", "--dry-run", "--i-hold-the-rights")
    assert code == 0 and "would publish imaging_orientation_cxr (CC-BY-NC-SA-4.0" in output
    edited = tmp_path / "no-card-config"
    shutil.copytree(sample, edited)
    card = edited / "README.md"
    card.write_text(card.read_text().replace("config_name: imaging_orientation_pelvic", "config_name: other"))
    code, output = run_cli("publish", edited, "--repo-id", "org/x", "--dry-run")
    assert code != 0 and "does not declare config(s) imaging_orientation_pelvic" in output
