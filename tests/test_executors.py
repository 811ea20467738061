"""Executors: serial, process pool and Dask give byte-identical outputs; bad settings are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from medblink_build.build.executors import make_executor
from medblink_build.errors import MedblinkError
from tests.conftest import run_cli


def _digests(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_serial_process_and_dask_give_identical_bytes(xray_source: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    outputs = []
    for name, args in (
        ("serial", ["--executor", "serial"]),
        ("process", ["--executor", "process", "--workers", "2"]),
        ("dask", ["--executor", "dask", "--workers", "2"]),
    ):
        out = tmp_path / name
        code, output = run_cli(
            "recipe",
            "orientation",
            "--source",
            f"medblink-sample-xray={xray_source}",
            "--out",
            out,
            "--quiet",
            "--no-resume",
            *args,
        )
        assert code == 0, output
        outputs.append(_digests(out))
    assert outputs[0] == outputs[1] == outputs[2]


def test_executor_settings_are_checked() -> None:
    with pytest.raises(MedblinkError, match="valid: serial, process, dask"):
        make_executor("threads", 2)
    with pytest.raises(MedblinkError, match="only used with --executor dask"):
        make_executor("process", 2, "tcp://127.0.0.1:8786")
    with pytest.raises(MedblinkError, match="at least 1"):
        make_executor("process", 0)


def test_unreachable_scheduler_is_a_clear_error(xray_source: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    code, output = run_cli(
        "recipe",
        "orientation",
        "--source",
        f"medblink-sample-xray={xray_source}",
        "--out",
        tmp_path / "o",
        "--executor",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert code != 0 and "Dask scheduler" in output
