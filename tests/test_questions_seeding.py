"""Choices, balanced answer letters, prompts and seeded generators."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medblink_build.errors import MedblinkError
from medblink_build.questions import LETTERS, LetterPlanner, Question, finalize, format_prompt
from medblink_build.seeding import rng_for, stable_hash


@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.integers(1, 200))
def test_letters_stay_balanced_after_any_number_of_questions(seed: int, n: int, count: int) -> None:
    planner = LetterPlanner(seed, "task")
    counts = Counter(planner.next_position(n) for _ in range(count))
    assert max(counts.values()) - min(counts.get(i, 0) for i in range(n)) <= 1


def test_finalize_puts_the_correct_choice_at_the_planned_letter_and_keeps_all_choices() -> None:
    question = Question("Q?", ("right", "w1", "w2", "w3"), correct=0)
    planner = LetterPlanner(3, "t")
    answers = []
    for i in range(40):
        final = finalize(question, planner, 3, "t", f"key{i}")
        assert sorted(final.choices) == sorted(question.choices)
        assert final.choices[LETTERS.index(final.answer)] == "right"
        answers.append(final.answer)
    assert Counter(answers) == {"A": 10, "B": 10, "C": 10, "D": 10}


def test_fixed_order_questions_keep_their_order() -> None:
    question = Question("Which marker?", ("A", "B", "C"), correct=2, shuffle=False)
    final = finalize(question, LetterPlanner(0, "t"), 0, "t", "k")
    assert final.choices == ("A", "B", "C") and final.answer == "C"


def test_prompt_lists_lettered_choices() -> None:
    prompt = format_prompt("Q?", ("x", "y"))
    assert prompt.splitlines()[:3] == ["Q?", "(A) x", "(B) y"]


@pytest.mark.parametrize(
    ("choices", "correct", "message"),
    [(("a",), 0, "2..10 choices"), (("a", "a"), 0, "distinct"), (("a", "b"), 2, "outside")],
)
def test_bad_questions_are_rejected(choices: tuple[str, ...], correct: int, message: str) -> None:
    with pytest.raises(MedblinkError, match=message):
        Question("Q", choices, correct)


def test_rng_depends_only_on_its_inputs() -> None:
    a = rng_for(1, "task", "key").integers(0, 1 << 30, 5)
    b = rng_for(1, "task", "key").integers(0, 1 << 30, 5)
    c = rng_for(2, "task", "key").integers(0, 1 << 30, 5)
    d = rng_for(1, "task", "other").integers(0, 1 << 30, 5)
    assert list(a) == list(b)
    assert list(a) != list(c) and list(a) != list(d)
    assert stable_hash("x", "y") == stable_hash("x", "y") != stable_hash("xy")
    with pytest.raises(ValueError, match="non-negative"):
        rng_for(-1, "t")
