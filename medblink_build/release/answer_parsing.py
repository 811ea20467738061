"""From a model's reply to a choice letter, by the rules the two common harnesses apply.

Scores are only comparable across papers if replies are parsed the way the harnesses parse them,
so this module re-implements their rules rather than inventing a new one:

- `vlmevalkit` (the default): VLMEvalKit's exact-matching `can_infer` (open-compass/VLMEvalKit,
  `vlmeval/utils/matching_util.py` at e8e78f05: `can_infer_option`, then `can_infer_text`), the
  rule its multiple-choice evaluation uses when no judge model is configured. In order:
  a refusal from its list gives no answer; punctuation `.()[],:;!*#{}` becomes spaces and the reply
  is split into words; if exactly one choice letter is a word and it is among the last four words,
  that letter; else "answer is X" / "correct answer is X"; else, when the reply is at most twice as
  long as all choice texts together, the one choice whose text (lower-cased) occurs in the reply.
  Two deliberate deviations: the "answer is X" pattern accepts the row's letters (VLMEvalKit:
  A-D only) and only an upper-case letter standing alone (VLMEvalKit matches case-insensitively,
  so "the answer is a rotation" would read as A).
- `lmms-eval`: lmms-eval's BLINK task (EvolvingLMMs-Lab/lmms-eval,
  `lmms_eval/tasks/blink/utils.py` at 75571cfe, `_extract_answer_letter`): the first letter of the
  reply after optional spaces and "(" ("(B) ...", "B.", "b" all give B). The lmms-eval export
  (`export --format lmms-eval`) scores with this rule, so `score --parser lmms-eval` reproduces it.

A letter that is not one of the row's letters is no answer (`None`), and so is a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..questions import LETTERS
from .lmms_eval_utils import extract_answer_letter

#: VLMEvalKit's `reject_to_answer` list: replies that are a refusal, not a choice.
REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_PUNCTUATION = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
_ANSWER_IS = re.compile(r"(?i:(?:correct\s+)?answer\s+is)\s+\**([A-J])\**(?![A-Za-z])")


_NO_ANSWER = "Z"  # VLMEvalKit's option for "no answer": final, the choice texts are not searched


def _option(reply: str, letters: str) -> str | None:
    """VLMEvalKit's `can_infer_option`: a lone choice letter near the end, or 'answer is X'."""
    if any(refusal in reply for refusal in REFUSALS):
        return _NO_ANSWER
    words = reply.translate(_PUNCTUATION).split()
    named = [ch for ch in letters if ch in words]
    if len(named) == 1 and words.index(named[0]) > len(words) - 5:
        return named[0]
    if not named and _NO_ANSWER in words:
        return _NO_ANSWER
    match = _ANSWER_IS.search(reply)
    return match.group(1) if match and match.group(1) in letters else None


def _text(reply: str, choices: Sequence[str]) -> str | None:
    """VLMEvalKit's `can_infer_text`: exactly one choice text occurs in a reply of bounded length."""
    lowered = reply.lower()
    if len(lowered) > 2 * sum(len(c) for c in choices):
        return None
    found = [LETTERS[i] for i, c in enumerate(choices) if c.lower() in lowered]
    return found[0] if len(found) == 1 else None


def parse_vlmevalkit(reply: str, choices: Sequence[str]) -> str | None:
    letters = LETTERS[: len(choices)]
    if "Failed to obtain answer via API" in reply:
        return _text(reply, choices)
    option = _option(reply, letters)
    if option == _NO_ANSWER:
        return None
    return option or _text(reply, choices)


def parse_lmms_eval(reply: str, choices: Sequence[str]) -> str | None:
    letter = extract_answer_letter(reply)  # the exported lmms-eval task's own function
    return letter if letter and letter in LETTERS[: len(choices)] else None


PARSERS: dict[str, Callable[[str, Sequence[str]], str | None]] = {
    "vlmevalkit": parse_vlmevalkit,
    "lmms-eval": parse_lmms_eval,
}
