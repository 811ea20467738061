"""`score`: parsing replies as VLMEvalKit / lmms-eval do, accuracy with Wilson intervals, chance, McNemar."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from medblink_build.errors import MedblinkError
from medblink_build.questions import LETTERS
from medblink_build.release.answer_parsing import parse_lmms_eval, parse_vlmevalkit
from medblink_build.release.score import Gold, judge, load_gold, mcnemar, read_predictions, summarise, wilson
from tests.conftest import run_cli
from tests.release_helpers import build_orientation

CHOICES = ("rotated 90 degrees clockwise", "upside down", "upright", "rotated 90 degrees counter-clockwise")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        (" (C) upright", "C"),
        ("upside down", "B"),
        ("It looks upright to me.", "C"),
        ("The image is flipped, so the answer is D", "D"),
        ("After looking at the heart and the spine, the correct answer is **A**. Here is why: it is clear.", "A"),
        ("A rotation of 90 degrees, so it is upside down", "B"),  # 'A' early in the reply is an article
        ("the answer is a view", None),  # a lower-case 'a' is not a letter answer
        ("A or B", None),
        ("rotated 90 degrees", None),  # two choices contain it
        ("Cannot determine the answer: it looks upright", None),  # VLMEvalKit's refusal is final
        ("Z", None),
        ("E", None),  # not one of this row's letters
        ("", None),
    ],
)
def test_vlmevalkit_rules(reply: str, expected: str | None) -> None:
    assert parse_vlmevalkit(reply, CHOICES) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("B", "B"), ("(b) upside down", "B"), ("C.", "C"), ("  D) x", "D"), ("The answer is B", None), ("", None)],
)
def test_lmms_eval_blink_rule_takes_the_leading_letter(reply: str, expected: str | None) -> None:
    assert parse_lmms_eval(reply, CHOICES) == expected


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson(7, 10)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == (0.3968, 0.8922)
    for k, n in [(7, 10), (1, 29), (81, 263), (20, 20)]:
        assert wilson(k, n) == pytest.approx(_wilson_closed_form(k, n), abs=1e-9)
    lo, hi = wilson(0, 10)  # type: ignore[misc]
    assert lo == pytest.approx(0.0, abs=1e-12) and round(hi, 4) == 0.2775
    assert wilson(0, 0) is None


def test_exact_mcnemar_is_the_binomial_test_on_discordant_pairs() -> None:
    gold = [Gold(f"r{i}", "c", "A", ("x", "y")) for i in range(12)]
    first = judge(gold, {g.id: "A" for g in gold[:4]} | {g.id: "B" for g in gold[4:]})  # 4 right
    second = judge(gold, {g.id: "B" for g in gold[:3]} | {g.id: "A" for g in gold[3:11]} | {"r11": "B"})
    result = mcnemar(first, second)
    # pairs: r0-r2 first only (3), r3 both, r4-r10 second only (7), r11 both wrong
    assert (result["both_correct"], result["only_first"], result["only_second"], result["both_wrong"]) == (1, 3, 7, 1)
    assert result["p_value"] == pytest.approx(2 * sum(math.comb(10, k) for k in range(4)) / 2**10)
    assert mcnemar(first, first)["p_value"] == 1.0


def test_chance_follows_each_rows_choice_count_and_macro_averages_configs() -> None:
    gold = [Gold("a1", "two", "A", ("x", "y")), Gold("a2", "two", "B", ("x", "y"))]
    gold += [Gold(f"b{i}", "four", "C", CHOICES) for i in range(2)] + [Gold("b2", "four", "A", CHOICES[:3])]
    report = summarise(judge(gold, {"a1": "A", "a2": "A", "b0": "C"}), {"a1": "A", "a2": "A", "b0": "C"})
    assert report["configs"]["two"]["chance"] == 0.5
    assert report["configs"]["four"]["chance"] == pytest.approx((0.25 + 0.25 + 1 / 3) / 3)
    micro, macro = report["overall"], report["overall"]["macro"]
    assert (micro["n"], micro["correct"]) == (5, 2)
    assert micro["chance"] == pytest.approx((0.5 + 0.5 + 0.25 + 0.25 + 1 / 3) / 5)
    assert macro["accuracy"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert report["missing"] == ["b1", "b2"]
    assert report["configs"]["two"]["letters"] == {"A": {"predicted": 2, "gold": 1}, "B": {"predicted": 0, "gold": 1}}


@pytest.fixture(scope="module")
def release(xray_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_orientation(xray_source, tmp_path_factory.mktemp("score") / "score-release", "--limit", 4)


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_score_cli_counts_every_row_and_lists_what_counted_wrong(release: Path, tmp_path: Path) -> None:
    gold = load_gold(release)
    assert len(gold) == 8
    wrong = {g.id: next(ch for ch in LETTERS if ch != g.answer) for g in gold}
    records = [
        {"id": gold[0].id, "prediction": gold[0].answer},
        {"id": gold[1].id, "prediction": f"({gold[1].answer})"},
        {"id": gold[2].id, "prediction": gold[2].choices[LETTERS.index(gold[2].answer)]},  # the answer text
        {"id": gold[3].id, "prediction": wrong[gold[3].id]},
        {"id": gold[4].id, "prediction": "I cannot tell"},  # unparseable
        {"id": gold[5].id, "prediction": f"The answer is {gold[5].answer}"},
        # gold[6], gold[7]: missing
        {"id": "imaging_orientation_cxr-0000000000000000", "prediction": "A"},
    ]
    preds = _write_jsonl(tmp_path / "model.jsonl", records)
    code, output = run_cli("score", release, preds, "--json")
    assert code == 0, output
    report = json.loads(output)
    micro = report["overall"]
    assert (micro["n"], micro["correct"]) == (8, 4)
    assert micro["ci95"] == pytest.approx(wilson(4, 8))
    assert micro["chance"] == 0.25  # every orientation question has four choices
    for config, stats in report["configs"].items():
        rows = [g for g in gold if g.config == config]
        assert stats["n"] == len(rows) and set(stats) >= {"n", "correct", "accuracy", "ci95", "chance"}
        assert stats["accuracy"] == stats["correct"] / stats["n"]
    assert sum(s["correct"] for s in report["configs"].values()) == 4
    assert report["missing"] == [gold[6].id, gold[7].id]
    assert report["unparsed"] == [{"id": gold[4].id, "prediction": "I cannot tell"}]
    assert report["unknown_ids"] == ["imaging_orientation_cxr-0000000000000000"]
    code, text = run_cli("score", release, preds)
    assert code == 0 and "overall (micro)" in text and "50.0 %" in text
    assert f"missing predictions, counted wrong (2): {gold[6].id}, {gold[7].id}" in text
    assert "prediction ids not in the release, ignored (1)" in text


def test_score_reads_csv_and_compares_two_models(release: Path, tmp_path: Path) -> None:
    gold = load_gold(release)
    path = tmp_path / "all-right.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "prediction"])
        writer.writeheader()
        writer.writerows({"id": g.id, "prediction": f"{g.answer}."} for g in gold)
    other = _write_jsonl(tmp_path / "all-A.jsonl", [{"id": g.id, "prediction": "A"} for g in gold])
    code, output = run_cli("score", release, path, "--json", "--compare", other)
    assert code == 0, output
    report = json.loads(output)
    assert report["overall"]["accuracy"] == 1.0
    n_a = sum(g.answer == "A" for g in gold)
    paired = report["compare"]["paired"]["overall"]
    assert (paired["both_correct"], paired["only_first"], paired["only_second"]) == (n_a, 8 - n_a, 0)
    assert paired["p_value"] == pytest.approx(2 * 0.5 ** (8 - n_a))
    letters = report["compare"]["other"]["overall"]["letters"]
    assert letters["A"]["predicted"] == 8 and letters["A"]["gold"] == n_a  # the letter bias shows


def test_bad_prediction_files_fail_with_one_line(release: Path, tmp_path: Path) -> None:
    dup = _write_jsonl(tmp_path / "dup.jsonl", [{"id": "x", "prediction": "A"}, {"id": "x", "prediction": "B"}])
    with pytest.raises(MedblinkError, match=r"dup.jsonl:2: a second prediction for x"):
        read_predictions(dup)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "prediction": "A"}\n{"id": \n', encoding="utf-8")
    code, output = run_cli("score", release, broken)
    assert code != 0 and "broken.jsonl:2: not valid JSON" in output and len(output.strip().splitlines()) == 1
    nocol = tmp_path / "p.csv"
    nocol.write_text("id,answer\nx,A\n", encoding="utf-8")
    with pytest.raises(MedblinkError, match="no prediction column"):
        read_predictions(nocol)
    with pytest.raises(MedblinkError, match=r"predictions must be \.jsonl"):
        read_predictions(tmp_path / "p.xlsx")
    as_object = tmp_path / "p.json"
    as_object.write_text(json.dumps({"x": "B", "y": None}), encoding="utf-8")
    assert read_predictions(as_object) == {"x": "B", "y": ""}  # a null reply is a reply that parses to nothing
    code, output = run_cli("score", tmp_path, as_object)
    assert code != 0 and "not a medblink-build output" in output and len(output.strip().splitlines()) == 1
