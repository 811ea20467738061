"""Where item builds run: in this process, or in a local pool of worker processes.

Both give results in input order with a bounded number of items in flight, so output bytes do
not depend on the executor or worker count and memory does not grow with the corpus.
Workers are started with the `forkserver` method: clean processes that import what they need,
with no copies of the parent's threads or open files.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from .errors import MedblinkError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("serial", "process")


class Executor(Protocol):
    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs each item in the calling process: simplest to debug, used for --workers 1."""

    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """A pool of `workers` processes; at most `workers * prefetch` items are in flight."""

    def __init__(self, workers: int, prefetch: int = 4) -> None:
        if workers < 1:
            raise MedblinkError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.prefetch = prefetch
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["medblink_build.worker"])
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        window: deque[Future[Any]] = deque()
        limit = self.workers * self.prefetch
        iterator = iter(items)
        try:
            for item in iterator:
                window.append(self._pool.submit(fn, item))
                if len(window) >= limit:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(kind: str, workers: int) -> Executor:
    if kind == "serial" or (kind == "process" and workers == 1):
        return SerialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    raise MedblinkError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
