"""The built wheel ships the recipes and manifests: `medblink-build list` works from a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = dist.glob("medblink_build-*.whl")
    return found


def test_wheel_contains_recipes_and_manifests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "medblink_build/recipes/orientation.py" in names
    assert "medblink_build/data_manifests/medblink-sample-xray.toml" in names
    assert not any(n.startswith("tests/") for n in names)


def test_fresh_venv_with_the_wheel_lists_recipes(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    subprocess.run([bin_dir / "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # Dependencies come from the test environment, added as a plain path (its .pth files, among
    # them the editable install of this checkout, are not processed).
    site = Path(
        subprocess.check_output(
            [bin_dir / "python", "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run([bin_dir / "medblink-build", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "orientation" in result.stdout and "imaging_orientation_cxr" in result.stdout
    where = subprocess.check_output(
        [bin_dir / "python", "-c", "import medblink_build;print(medblink_build.__file__)"], text=True, cwd=tmp_path
    )
    assert str(venv) in where  # the wheel's copy, not this checkout
