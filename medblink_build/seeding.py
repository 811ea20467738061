"""Seeded random generators keyed by (build seed, task, example key).

Every random choice of a build comes from a generator made here, so the order of work and the
number of workers never change a byte of output. Never use numpy's global random state.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _encoded(parts: tuple[str, ...]) -> bytes:
    """The parts as bytes. File names that are not UTF-8 (e.g. Latin-1 exports) reach Python as
    surrogate escapes; `surrogateescape` gives back their original bytes, so they hash like any
    other name (and valid UTF-8 names hash exactly as before)."""
    return "\x1f".join(parts).encode("utf-8", "surrogateescape")


def _key_words(*parts: str) -> list[int]:
    digest = hashlib.blake2b(_encoded(parts), digest_size=16).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def rng_for(seed: int, *parts: str) -> np.random.Generator:
    """A generator that depends only on `seed` and the string `parts` (e.g. task id, example key)."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *_key_words(*parts)])))


def stable_hash(*parts: str, length: int = 12) -> str:
    """A short hex digest of `parts`, used for example ids and seeded orderings."""
    return hashlib.blake2b(_encoded(parts), digest_size=16).hexdigest()[:length]
