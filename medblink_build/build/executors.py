"""Where item builds run: in this process, a local pool of worker processes, or a Dask cluster.

Both give results in input order with a bounded number of items in flight, so output bytes do
not depend on the executor or worker count and memory does not grow with the corpus.
Workers are started with the `forkserver` method: clean processes that import what they need,
with no copies of the parent's threads or open files. They die with the build (`lifeline`), and
`close(abort=True)` (an error, a signal) ends them at once instead of waiting for their items.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from ..errors import MedblinkError
from .lifeline import BUILD_PID_ENV, worker_started

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("serial", "process", "dask")


class Executor(Protocol):
    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]: ...

    def close(self, abort: bool = False) -> None: ...


def _ordered(submit: Callable[[Any], Any], items: Iterable[Any], limit: int) -> Generator[Any, None, None]:
    """Results of `submit`ted futures in input order, with at most `limit` in flight."""
    window: deque[Any] = deque()
    try:
        for item in items:
            window.append(submit(item))
            if len(window) >= limit:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for future in window:
            future.cancel()


class SerialExecutor:
    """Runs each item in the calling process: simplest to debug, used for --workers 1."""

    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        for item in items:
            yield fn(item)

    def close(self, abort: bool = False) -> None:
        pass


class ProcessExecutor:
    """A pool of `workers` processes; at most `workers * prefetch` items are in flight."""

    def __init__(self, workers: int, prefetch: int = 4) -> None:
        if workers < 1:
            raise MedblinkError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.prefetch = prefetch
        context = multiprocessing.get_context("forkserver")
        os.environ[BUILD_PID_ENV] = str(os.getpid())  # the forkserver arms its lifeline to this pid
        context.set_forkserver_preload(["medblink_build.build.lifeline", "medblink_build.build.worker"])
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=worker_started, initargs=(os.getpid(),)
        )

    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        return _ordered(lambda item: self._pool.submit(fn, item), items, self.workers * self.prefetch)

    def close(self, abort: bool = False) -> None:
        if not abort:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        # Nothing more will be read: end the workers now, not after their current items. The
        # pool's manager thread may trip over the workers killed under it (a pipe closing while it
        # reads); that is the kill, not a fault, so it is not printed as "Exception in thread".
        manager = getattr(self._pool, "_executor_manager_thread", None)
        previous = threading.excepthook

        def quiet(args: threading.ExceptHookArgs) -> None:
            if manager is None or args.thread is not manager:
                previous(args)

        threading.excepthook = quiet
        try:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            threading.excepthook = previous


class DaskExecutor:
    """Items as tasks on a Dask distributed cluster: an existing scheduler (tcp://HOST:PORT), or a
    LocalCluster of `workers` processes when none is given. Results still come back in input
    order through a bounded window, so the output is the same bytes as with any other executor.
    Needs the optional extra: pip install 'medblink-build[dask]'.
    """

    def __init__(self, workers: int, scheduler: str | None = None, prefetch: int = 4) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MedblinkError(
                "--executor dask needs the 'distributed' package: pip install 'medblink-build[dask]'"
            ) from None
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="10s")
            else:
                self._cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
                self._client = Client(self._cluster)
        except OSError as exc:
            raise MedblinkError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}") from exc
        self.limit = max(1, len(self._client.scheduler_info().get("workers", {})) or workers) * prefetch

    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Generator[R, None, None]:
        return _ordered(lambda item: self._client.submit(fn, item, pure=False), items, self.limit)

    def close(self, abort: bool = False) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str, workers: int, scheduler: str | None = None) -> Executor:
    if scheduler and kind != "dask":
        raise MedblinkError("--scheduler is only used with --executor dask")
    if kind == "serial" or (kind == "process" and workers == 1):
        return SerialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise MedblinkError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
