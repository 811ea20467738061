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


def test_one_worker_pool_serves_every_recipe_of_a_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release runs its recipes one after another on the same workers: a pool per recipe cost
    its start, its imports and a wait for the items built ahead of the last row, nine times over."""
    from medblink_build.build import pipeline

    made: list[tuple[object, ...]] = []
    real = pipeline.make_executor

    def counted(*args: object) -> object:
        made.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "make_executor", counted)
    outputs = []
    for workers in ("2", "1"):
        out = tmp_path / f"w{workers}"
        tasks = "imaging_orientation_cxr,morphology_quantification,age_estimation"
        code, output = run_cli("build", "--tasks", tasks, "--out", out, "--workers", workers, "--quiet")
        assert code == 0, output
        outputs.append(_digests(out))
    assert [args[1] for args in made] == [2, 1]  # one executor per build, whatever the recipes
    assert outputs[0] == outputs[1]
