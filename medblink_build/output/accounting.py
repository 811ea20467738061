"""Where every file under a source root ended, so nothing disappears without a word.

For each recipe and each source it reads, every regular file found under the root ends as
exactly one of: an input of a row, a file of a recorded skip, or a recorded filter with a reason
(`not_this_recipe_modality`, `companion` of a row's item, `metadata_table`, `not_an_image`,
`hidden`, `limit_reached`, ...). A file seen in several roles keeps the strongest: in a row, then
skipped, then an item-level filter, then a discovery filter. `manifest.json` gets one entry per
(source, recipe) with `files = in_rows + skipped + filtered`; a source read by two recipes of one
build therefore has two entries, each accounting for all its files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

IN_ROWS, SKIPPED, FILTERED = "in_rows", "skipped", "filtered"
#: Lower is stronger; discovery filters (from the folder walk) are the weakest.
_RANK = {IN_ROWS: 0, SKIPPED: 1, FILTERED: 2}
_DISCOVERY_RANK = 3


class SourceAccount:
    """The fate of each file of one source in one recipe's run."""

    def __init__(
        self,
        source_id: str,
        recipe: str,
        inventory: dict[str, str | None],
        shown: Callable[[str], str] = str,
    ) -> None:
        self.source_id = source_id
        self.recipe = recipe
        self.shown = shown  # how outputs name a file: its path, or its pseudonym for non-public sources
        self._fate: dict[str, tuple[int, str, str]] = {}  # rel -> (rank, kind, reason)
        for rel, reason in inventory.items():
            # Candidates no item claims stay "unaccounted": a bug the tests look for, never silent.
            self._fate[rel] = (_DISCOVERY_RANK, FILTERED, reason or "unaccounted")

    def mark(self, files: Iterable[str], kind: str, reason: str = "") -> None:
        """Record `files` as `kind` (IN_ROWS, SKIPPED or FILTERED with `reason`), unless stronger."""
        rank = _RANK[kind]
        for rel in files:
            current = self._fate.get(rel)
            if current is not None and current[0] <= rank:
                continue
            if current is None:
                continue  # not a file under the root (e.g. resolved elsewhere): not counted
            self._fate[rel] = (rank, kind, reason)

    def counts(self) -> dict[str, int]:
        kinds = Counter(kind for _rank, kind, _reason in self._fate.values())
        return {"files": len(self._fate), IN_ROWS: kinds[IN_ROWS], SKIPPED: kinds[SKIPPED], FILTERED: kinds[FILTERED]}

    def to_json(self) -> dict[str, Any]:
        filtered: dict[str, list[str]] = {}
        for rel, (_rank, kind, reason) in sorted(self._fate.items()):
            if kind == FILTERED:
                filtered.setdefault(reason, []).append(self.shown(rel))
        return {
            "source": self.source_id,
            "recipe": self.recipe,
            **self.counts(),
            "filtered_by_reason": {reason: len(paths) for reason, paths in sorted(filtered.items())},
            "filtered_paths": {reason: sorted(paths) for reason, paths in sorted(filtered.items())},
        }


def totals(accounts: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Sums over manifest accounting entries (a source read by two recipes counts twice)."""
    out = Counter[str]()
    for entry in accounts:
        for key in ("files", IN_ROWS, SKIPPED, FILTERED):
            out[key] += int(entry[key])
    return {key: out[key] for key in ("files", IN_ROWS, SKIPPED, FILTERED)}
