"""`utils.py` of the lmms-eval task folder that `export --format lmms-eval` writes (copied verbatim).

Standalone on purpose: lmms-eval imports it from the task folder, where medblink-build need not be
installed. The functions follow lmms-eval's BLINK task (EvolvingLMMs-Lab/lmms-eval,
`lmms_eval/tasks/blink/utils.py` at 75571cfe) on the same columns (`idx, question, sub_task,
image_1..image_4, choices, answer "(A)", prompt`): the images of the `image_k` columns, the
pre-prompt naming the letters before the row's prompt, and the answer read as the first letter of
the reply ("B", "(B) ...", "b." all give B); accuracy is the mean of 0/1 per row.
`medblink-build score --parser lmms-eval` applies the same rule to a predictions file.
"""

from __future__ import annotations

import re
from typing import Any

_LEADING_LETTER = re.compile(r"[\(\s]*([A-Z])[\)\.\s]*", flags=re.IGNORECASE)
_IMAGE_COLUMN = re.compile(r"^image_\d+$")


def extract_answer_letter(text: str) -> str:
    """The reply's leading choice letter, upper-cased; "" if it starts with none."""
    match = _LEADING_LETTER.match(text.strip())
    return match.group(1).upper() if match else ""


def medblink_doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    return [doc[k].convert("RGB") for k in doc if _IMAGE_COLUMN.match(k) and doc[k] is not None]


def medblink_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    letters = ", ".join(chr(65 + i) for i in range(len(doc["choices"])))
    return kwargs.get("pre_prompt", "").format(letters) + doc["prompt"] + kwargs.get("post_prompt", "")


def medblink_doc_to_messages(
    doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "image", "url": image} for image in medblink_doc_to_visual(doc)]
    content.append({"type": "text", "text": medblink_doc_to_text(doc, lmms_eval_specific_kwargs)})
    return [{"role": "user", "content": content}]


def medblink_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    gold = doc["answer"].strip("()")
    parsed = extract_answer_letter(results[0])
    return {
        "medblink_acc": {
            "id": doc["idx"],
            "sub_task": doc["sub_task"],
            "gt_content": gold,
            "pred_parsed": parsed,
            "pred": results[0],
            "is_correct": parsed == gold,
        }
    }


def medblink_aggregate_results(results: list[dict[str, Any]]) -> float:
    return sum(bool(r["is_correct"]) for r in results) / len(results) if results else 0.0
