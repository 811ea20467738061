"""Multiple-choice questions: choices, the correct one, balanced letters and the prompt text.

A recipe says what the choices are and which is correct; if their order carries no meaning
(`shuffle=True`) the writer places the correct choice at a letter planned per task so that answer
letters are balanced across the task, using a seeded generator (never enumeration luck).
Choices whose order is fixed by the image (marker letters drawn into pixels) keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import MedblinkError
from .seeding import rng_for

LETTERS = "ABCDEFGHIJ"

PROMPT_SUFFIX = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    correct: int  # index into `choices`
    shuffle: bool = True  # may the writer reorder the choices?

    def __post_init__(self) -> None:
        if not 2 <= len(self.choices) <= len(LETTERS):
            raise MedblinkError(f"a question needs 2..{len(LETTERS)} choices, got {len(self.choices)}")
        if len(set(self.choices)) != len(self.choices):
            raise MedblinkError(f"choices must be distinct, got {list(self.choices)}")
        if not 0 <= self.correct < len(self.choices):
            raise MedblinkError(f"correct index {self.correct} outside 0..{len(self.choices) - 1}")


@dataclass(frozen=True)
class FinalQuestion:
    text: str
    choices: tuple[str, ...]
    answer: str  # the letter
    prompt: str


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
