"""Pseudonyms for local paths: a keyed hash stands in for file, folder and source names.

Folder and file names of a local copy often hold a patient's name or ID. Unless a source's
manifest declares its identifiers public (`public_paths = true`: TotalSegmentator `s0001`, NIH
`00000001_000.png`), item keys, input paths, skip details, source ids and card headings carry
HMAC-SHA256(key, relative path) instead. The key is a random secret kept beside the user's
configuration (`$XDG_CONFIG_HOME/medblink-build/pseudonym.key`, or the file named by
MEDBLINK_BUILD_PSEUDONYM_KEY), created on first use and never written to an output. The same key
gives the same pseudonyms, so builds stay byte-identical; `explain --source` maps a row back.

Seeding follows the pseudonymised key: the item key seeds each item's random choices and the
visiting order, so a different key draws different (equally valid) questions.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import MedblinkError

KEY_ENV = "MEDBLINK_BUILD_PSEUDONYM_KEY"
KEY_BYTES = 32
LENGTH = 16  # hex characters of the HMAC kept: 64 bits, collisions negligible per source


def key_path() -> Path:
    """Where the pseudonym key is kept: $MEDBLINK_BUILD_PSEUDONYM_KEY, else beside the user's config."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "medblink-build" / "pseudonym.key"


def load_key(path: Path | None = None, *, create: bool = True) -> bytes:
    """The secret key (hex in a file), created with mode 0600 on first use when `create`."""
    path = path or key_path()
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise MedblinkError(f"{path}: no pseudonym key there") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(KEY_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise MedblinkError(f"{path}: cannot read the pseudonym key: {exc}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise MedblinkError(f"{path}: the pseudonym key is not hex text") from None
    if len(key) < 16:
        raise MedblinkError(f"{path}: the pseudonym key is shorter than 16 bytes")
    return key


def pseudonym(key: bytes, text: str) -> str:
    """HMAC-SHA256 of `text` under `key`, shortened: the same text and key give the same name."""
    return hmac.new(key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:LENGTH]


def file_pseudonym(key: bytes, relpath: str) -> str:
    """A relative file path's pseudonym, keeping its suffix (`.dcm`, `.nii.gz`): a format is not identifying."""
    name = PurePosixPath(relpath).name
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else PurePosixPath(name).suffix
    suffix = suffix if suffix[1:].isalnum() or suffix.lower() == ".nii.gz" else ""
    return pseudonym(key, relpath) + suffix.lower()


def replacements(files: Iterable[str], shown: Iterable[str], local_key: str, shown_key: str) -> list[tuple[str, str]]:
    """(real, pseudonym) text pairs for one item, longest first: its key, relative paths and file names."""
    pairs: dict[str, str] = {}
    if local_key:
        pairs[local_key] = shown_key
    for rel, name in zip(files, shown, strict=True):
        pairs.setdefault(rel, name)
        base = PurePosixPath(rel).name
        if "." in base.strip(".") and len(base) >= 4:
            pairs.setdefault(base, name)
    return sorted(pairs.items(), key=lambda p: (-len(p[0]), p[0]))


def redact(value: Any, pairs: list[tuple[str, str]]) -> Any:
    """`value` (a JSON-like structure) with every real path text replaced by its pseudonym."""
    if not pairs:
        return value
    if isinstance(value, str):
        for real, shown in pairs:
            if real and real in value:
                value = value.replace(real, shown)
        return value
    if isinstance(value, dict):
        return {redact(k, pairs): redact(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, pairs) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, pairs) for v in value)
    return value
