"""SHA-256 digests of input files and of output bytes, recorded in provenance and manifests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BackgroundDigests:
    """sha256 digests of byte strings computed in a helper thread while the caller goes on.

    hashlib releases the interpreter lock over a large buffer, so a worker reading a DICOM series
    hashes file k on the second core while it parses and decodes file k (a third of the per-file
    time with one worker). Only hashing moves: a thread that also read the files was measured to
    wait for the lock after every read. At most `window` byte strings wait to be hashed, so memory
    stays at a few files. `digests()` gives them in the order the bytes were added."""

    def __init__(self, pool: Executor, window: int) -> None:
        self._pool = pool
        self._window = window
        self._futures: list[Future[str]] = []

    def add(self, data: bytes) -> None:
        if len(self._futures) > self._window:
            self._futures[-self._window - 1].result()  # hashed by now, almost always: bounds memory
        self._futures.append(self._pool.submit(sha256_bytes, data))

    def digests(self) -> list[str]:
        return [f.result() for f in self._futures]


@contextmanager
def background_digests(window: int = 2) -> Iterator[BackgroundDigests]:
    """A `BackgroundDigests` whose thread is gone when the block ends (waited for on an error too)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medblink-sha256") as pool:
        yield BackgroundDigests(pool, window)


def sha256_file(path: str | Path) -> str:
    """Digest of a file read in 1 MiB chunks, so memory does not grow with file size."""
    from .fsnames import open_regular

    h = hashlib.sha256()
    with open_regular(path) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class HashCache:
    """sha256 digests remembered by (path, size, mtime, ctime, inode), so re-checking terabytes
    re-hashes nothing.

    Stored as JSON under the user's cache folder (MEDBLINK_CACHE_DIR, else
    ~/.cache/medblink-build); any change of those means the file is hashed again. The status-change
    time is included because an edit can keep size and mtime (`touch -d`, `cp -p`) but not ctime.
    """

    def __init__(self, path: Path | None = None) -> None:
        import json
        import os

        base = Path(os.environ.get("MEDBLINK_CACHE_DIR") or Path.home() / ".cache" / "medblink-build")
        self.path = path or base / "sha256-cache.json"
        try:
            self._entries: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._entries = {}
        self.hits = 0
        self.misses = 0

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        entry = self._entries.get(key)
        identity = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
        if entry and len(entry) == 5 and entry[:4] == identity:
            self.hits += 1
            return str(entry[4])
        self.misses += 1
        value = sha256_file(path)
        self._entries[key] = [*identity, value]
        return value

    def save(self) -> None:
        """Write the cache atomically; a cache that cannot be written is simply not kept."""
        import json
        import os
        import tempfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sha256-cache-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._entries, f, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            pass
