"""Multiple-choice questions: choices, the correct one, balanced letters and the prompt text.

A recipe says what the choices are and which is correct; the writer places the correct choice at
a letter planned per task (LetterPlanner) so that answer letters are balanced across the task,
using a seeded generator (never enumeration luck):

- `shuffle=True`: the choices' order carries no meaning; the writer reorders them.
- `bound=Bound(...)`: each choice names a slot in the images (a lettered marker, or an image):
  the writer re-letters the slots (redraws the markers, or reorders the images) and maps the
  label and derivation to the new letters (medblink_build/output/lettering.py), so these tasks are
  balanced too.
- otherwise (`shuffle=False`, no `bound`): the order is kept as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import MedblinkError
from .seeding import rng_for

LETTERS = "ABCDEFGHIJ"

PROMPT_SUFFIX = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class Bound:
    """Choices bound to slots in the images, which the writer re-letters consistently.

    Slot i is choice i. Its name, as the recipe writes it in the label and the derivation, is
    LETTERS[i] for `markers` (marker letters) and i + 1 for `images` (image numbers). The writer
    moves the correct slot to the planned letter and the others in a seeded order, then:
    `markers`: draws the markers (`radius`, slot centres `positions` (x, y)) on image `image`,
    which the recipe left unmarked, with the final letters; `images`: reorders the images.
    In the label, values under `label_keys` (at any depth; str, int or lists of them) that name a
    slot are renamed, and lists under `per_slot_keys` (one entry per slot) are reordered; in the
    derivation, `{A}` / `{1}` placeholders become the final letter / image number.
    """

    kind: Literal["markers", "images"]
    label_keys: tuple[str, ...] = ()
    per_slot_keys: tuple[str, ...] = ()
    image: int = 0
    radius: int = 0
    positions: tuple[tuple[float, float], ...] = ()

    def name(self, slot: int) -> str | int:
        return LETTERS[slot] if self.kind == "markers" else slot + 1


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    correct: int  # index into `choices`
    shuffle: bool = True  # may the writer reorder the choices?
    bound: Bound | None = None  # choices name slots in the images: the writer re-letters them
    pinned_letters: bool = False  # bound choices whose letters a release pins: drawn as they are, never re-planned

    def __post_init__(self) -> None:
        if not 2 <= len(self.choices) <= len(LETTERS):
            raise MedblinkError(f"a question needs 2..{len(LETTERS)} choices, got {len(self.choices)}")
        if len(set(self.choices)) != len(self.choices):
            raise MedblinkError(f"choices must be distinct, got {list(self.choices)}")
        if not 0 <= self.correct < len(self.choices):
            raise MedblinkError(f"correct index {self.correct} outside 0..{len(self.choices) - 1}")
        if self.bound is not None:
            if self.shuffle:
                raise MedblinkError("a question with bound choices keeps their texts in order: shuffle=False")
            if self.bound.kind == "markers" and len(self.bound.positions) != len(self.choices):
                raise MedblinkError(
                    f"{len(self.choices)} bound choices need as many marker positions, got {len(self.bound.positions)}"
                )


@dataclass(frozen=True)
class FinalQuestion:
    text: str
    choices: tuple[str, ...]
    answer: str  # the letter
    prompt: str
    slots: tuple[int, ...] = ()  # bound choices: slot i is shown at position slots[i]


def format_prompt(text: str, choices: tuple[str, ...]) -> str:
    lines = [text.strip()] + [f"({LETTERS[i]}) {c}" for i, c in enumerate(choices)] + [PROMPT_SUFFIX]
    return "\n".join(lines)


class LetterPlanner:
    """Hands out target answer positions so each task's letters stay balanced.

    Positions come in blocks of n (one per letter), each block a seeded permutation, so after any
    number of questions the counts of any two letters differ by at most one per choice count.
    """

    def __init__(self, seed: int, task: str) -> None:
        self._seed = seed
        self._task = task
        self._pending: dict[int, list[int]] = {}
        self._blocks: dict[int, int] = {}

    def next_position(self, n_choices: int) -> int:
        pending = self._pending.setdefault(n_choices, [])
        if not pending:
            block = self._blocks.get(n_choices, 0)
            self._blocks[n_choices] = block + 1
            rng = rng_for(self._seed, self._task, "answer-letters", str(n_choices), str(block))
            pending.extend(int(p) for p in rng.permutation(n_choices)[::-1])
        return pending.pop()


def finalize(question: Question, planner: LetterPlanner, seed: int, task: str, key: str) -> FinalQuestion:
    """Fix the choice order of one question and format its prompt."""
    choices = list(question.choices)
    correct = question.correct
    if question.bound is not None and question.pinned_letters:  # a pinned regeneration keeps the published letters
        slots = tuple(range(len(choices)))
        final = tuple(choices)
        return FinalQuestion(question.text, final, LETTERS[correct], format_prompt(question.text, final), slots)
    if question.bound is not None:
        target = planner.next_position(len(choices))
        others = [p for p in range(len(choices)) if p != target]
        order = rng_for(seed, task, key, "slot-letters").permutation(len(others))
        free = iter(others[i] for i in order)
        slots = tuple(target if i == correct else next(free) for i in range(len(choices)))
        final = tuple(choices)
        return FinalQuestion(question.text, final, LETTERS[target], format_prompt(question.text, final), slots)
    if question.shuffle:
        target = planner.next_position(len(choices))
        others = [c for i, c in enumerate(choices) if i != correct]
        order = rng_for(seed, task, key, "distractor-order").permutation(len(others))
        others = [others[i] for i in order]
        choices = [*others[:target], question.choices[correct], *others[target:]]
        correct = target
    final = tuple(choices)
    return FinalQuestion(question.text, final, LETTERS[correct], format_prompt(question.text, final))


def letter_counts(answers: list[str]) -> dict[str, int]:
    values, counts = np.unique(np.array(answers, dtype=object), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
