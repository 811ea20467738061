"""Scoring a model's predictions on a release: accuracy per config with its uncertainty and chance.

Every row of the release is scored: a row with no prediction, or whose reply parses to no choice
(`answer_parsing`), counts as wrong and is listed, so a model cannot gain by skipping hard rows;
prediction ids the release does not hold are reported, never silently dropped. Intervals are
Wilson 95 % intervals and the paired comparison of two models is the exact McNemar test (a
binomial test on the rows where exactly one model is right), both computed by scipy.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from ..errors import MedblinkError
from ..questions import LETTERS
from .answer_parsing import PARSERS
from .verify import iter_rows, load_manifest

PREDICTION_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
_GOLD_COLUMNS = ["id", "task", "answer", "choices"]


@dataclass(frozen=True)
class Gold:
    id: str
    config: str
    answer: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    gold: Gold
    reply: str | None  # None: no prediction for this row
    letter: str | None  # the parsed choice, None if missing or unparseable

    @property
    def correct(self) -> bool:
        return self.letter == self.gold.answer


def load_gold(folder: Path) -> list[Gold]:
    """The release's rows (id, config, answer letter, choices), in manifest order."""
    manifest, _ = load_manifest(Path(folder))
    gold = []
    for config, info in manifest["configs"].items():
        for row in iter_rows(Path(folder), info, columns=_GOLD_COLUMNS):
            gold.append(Gold(row["id"], config, row["answer"], tuple(row["choices"])))
    return gold


def read_predictions(path: Path) -> dict[str, str | None]:
    """`id` -> reply, from JSONL (one object a line, or lmms-eval's logged samples), JSON (a list of objects,
    or {id: reply}), CSV or TSV (e.g. VLMEvalKit's prediction file of the vlmevalkit export).

    A duplicated id is an error: which of two replies counts would be a guess."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PREDICTION_SUFFIXES:
        valid = ", ".join(PREDICTION_SUFFIXES)
        raise MedblinkError(f"{path}: predictions must be {valid}; got {suffix or 'no suffix'}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MedblinkError(f"{path}: cannot read predictions: {exc}") from exc
    records: list[tuple[str, Any]] = []  # (where, record)
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                records.append((f"{path}:{n}", _json(line, f"{path}:{n}")))
    elif suffix == ".json":
        data = _json(text, str(path))
        if isinstance(data, dict):
            data = [{"id": k, "prediction": v} for k, v in data.items()]
        if not isinstance(data, list):
            raise MedblinkError(f"{path}: expected a list of {{id, prediction}} objects or one {{id: prediction}}")
        records = [(f"{path}[{i}]", r) for i, r in enumerate(data)]
    else:
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        missing = {"id", "prediction"} - set(reader.fieldnames or ())
        if missing:
            raise MedblinkError(f"{path}: no {' and no '.join(sorted(missing))} column (columns: {reader.fieldnames})")
        records = [(f"{path}:{n}", r) for n, r in enumerate(reader, start=2)]
    out: dict[str, str | None] = {}
    for where, record in records:
        row_id, value = _id_and_reply(record, where)
        if row_id in out:
            raise MedblinkError(f"{where}: a second prediction for {row_id}")
        out[row_id] = "" if value is None else str(value)
    return out


def _id_and_reply(record: Any, where: str) -> tuple[str, Any]:
    """`{id, prediction}`, or a sample lmms-eval logs (`--log_samples`) for the exported task:
    `doc.idx` is the row id and `filtered_resps` holds the reply."""
    if isinstance(record, dict) and "id" in record and "prediction" in record:
        return str(record["id"]), record["prediction"]
    if isinstance(record, dict) and isinstance(record.get("doc"), dict) and "idx" in record["doc"]:
        value = record.get("filtered_resps")
        while isinstance(value, list) and value:
            value = value[0]
        return str(record["doc"]["idx"]), value if isinstance(value, str) else None
    raise MedblinkError(f"{where}: a prediction needs an `id` and a `prediction` (or lmms-eval's `doc.idx`)")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MedblinkError(f"{where}: not valid JSON: {exc}") from exc


def judge(gold: Sequence[Gold], predictions: Mapping[str, str | None], parser: str = "vlmevalkit") -> list[Outcome]:
    if parser not in PARSERS:
        raise MedblinkError(f"unknown answer parser {parser!r}; valid: {', '.join(PARSERS)}")
    parse = PARSERS[parser]
    outcomes = []
    for g in gold:
        reply = predictions.get(g.id)
        outcomes.append(Outcome(g, reply, None if reply is None else parse(reply, g.choices)))
    return outcomes


def wilson(correct: int, n: int) -> list[float] | None:
    """The Wilson score 95 % interval of a proportion (None for n = 0)."""
    if n == 0:
        return None
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def _stats(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    correct = sum(o.correct for o in outcomes)
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "ci95": wilson(correct, n),
        "chance": sum(1 / len(o.gold.choices) for o in outcomes) / n if n else None,
        "missing": sum(o.reply is None for o in outcomes),
        "unparsed": sum(_unparsed(o) for o in outcomes),
        "letters": _letters(outcomes),
    }


def _unparsed(o: Outcome) -> bool:
    return o.reply is not None and o.letter is None


def _letters(outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """Answer-letter bias: how often each letter was predicted, against how often it is correct."""
    predicted = Counter(o.letter for o in outcomes if o.letter is not None)
    gold = Counter(o.gold.answer for o in outcomes)
    return {ch: {"predicted": predicted[ch], "gold": gold[ch]} for ch in LETTERS if predicted[ch] or gold[ch]}


def _by_config(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.gold.config, []).append(o)
    return groups


def summarise(outcomes: Sequence[Outcome], predictions: Mapping[str, str | None]) -> dict[str, Any]:
    groups = _by_config(outcomes)
    configs = {config: _stats(group) for config, group in groups.items()}
    scored = [c for c in configs.values() if c["n"]]
    known = {o.gold.id for o in outcomes}
    return {
        "configs": configs,
        "overall": {  # micro: every row counts once; macro: the mean over configs (lmms-eval's group score)
            **_stats(outcomes),
            "macro": {
                "configs": len(scored),
                "accuracy": sum(c["accuracy"] for c in scored) / len(scored) if scored else None,
                "chance": sum(c["chance"] for c in scored) / len(scored) if scored else None,
            },
        },
        "missing": [o.gold.id for o in outcomes if o.reply is None],
        "unparsed": [{"id": o.gold.id, "prediction": o.reply} for o in outcomes if _unparsed(o)],
        "unknown_ids": sorted(set(predictions) - known),
    }


def mcnemar(first: Sequence[Outcome], second: Sequence[Outcome]) -> dict[str, Any]:
    """Paired counts of two models on the same rows and the exact (binomial) McNemar p-value."""
    pairs = Counter((a.correct, b.correct) for a, b in zip(first, second, strict=True))
    only_first, only_second = pairs[(True, False)], pairs[(False, True)]
    discordant = only_first + only_second
    return {
        "n": len(first),
        "both_correct": pairs[(True, True)],
        "only_first": only_first,
        "only_second": only_second,
        "both_wrong": pairs[(False, False)],
        "p_value": float(binomtest(only_first, discordant, 0.5).pvalue) if discordant else 1.0,
    }


def score(
    folder: Path, predictions: Path, *, parser: str = "vlmevalkit", compare: Path | None = None
) -> dict[str, Any]:
    """The score report of PREDICTIONS on release FOLDER (and, with `compare`, of a second model)."""
    gold = load_gold(folder)
    preds = read_predictions(predictions)
    outcomes = judge(gold, preds, parser)
    report = {"predictions": str(predictions), "parser": parser, **summarise(outcomes, preds)}
    if compare is not None:
        other_preds = read_predictions(compare)
        other = judge(gold, other_preds, parser)
        first_by, second_by = _by_config(outcomes), _by_config(other)
        report["compare"] = {
            "predictions": str(compare),
            "other": summarise(other, other_preds),
            "paired": {
                "configs": {c: mcnemar(first_by[c], second_by[c]) for c in first_by},
                "overall": mcnemar(outcomes, other),
            },
        }
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f} %"


def _ci(ci: Sequence[float] | None) -> str:
    return "-" if ci is None else f"[{100 * ci[0]:4.1f}, {100 * ci[1]:4.1f}]"


def _listing(title: str, items: Sequence[str], limit: int = 20) -> list[str]:
    if not items:
        return []
    more = f", ... and {len(items) - limit} more (--json lists all)" if len(items) > limit else ""
    shown = ", ".join(items[:limit]) + more
    return [f"{title} ({len(items)}): {shown}"]


def _table(report: Mapping[str, Any]) -> list[str]:
    width = max([len(c) for c in report["configs"]] + [len("overall (micro)")])
    lines = [f"{'config':{width}s} {'n':>5s} {'correct':>7s} {'accuracy':>8s}  {'95 % CI':14s} {'chance':>7s}"]
    rows = [*report["configs"].items(), ("overall (micro)", report["overall"])]
    for name, s in rows:
        lines.append(
            f"{name:{width}s} {s['n']:5d} {s['correct']:7d} {_pct(s['accuracy']):>8s}  {_ci(s['ci95']):14s} "
            f"{_pct(s['chance']):>7s}"
        )
    macro = report["overall"]["macro"]
    lines.append(
        f"{'overall (macro)':{width}s} {macro['configs']:5d} {'':7s} {_pct(macro['accuracy']):>8s}  {'':14s} "
        f"{_pct(macro['chance']):>7s}"
    )
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    """The report for a terminal: the table, letter bias, and every row that counted as wrong unseen."""
    lines = [f"{report['predictions']} (parser: {report['parser']})", *_table(report)]
    letters = report["overall"]["letters"]
    bias = ", ".join(f"{k} {v['predicted']}/{v['gold']}" for k, v in letters.items())
    lines.append(f"answer letters, predicted / gold: {bias}")
    lines += _listing("missing predictions, counted wrong", report["missing"])
    unparsed = [f"{u['id']} {json.dumps(u['prediction'][:60], ensure_ascii=False)}" for u in report["unparsed"]]
    lines += _listing("unparseable predictions, counted wrong", unparsed)
    lines += _listing("prediction ids not in the release, ignored", report["unknown_ids"])
    if "compare" in report:
        cmp = report["compare"]
        lines += ["", f"{cmp['predictions']} (parser: {report['parser']})", *_table(cmp["other"])]
        lines += _listing("missing predictions, counted wrong", cmp["other"]["missing"])
        lines += _listing("prediction ids not in the release, ignored", cmp["other"]["unknown_ids"])
        lines += ["", "paired: both right / only first / only second / both wrong, exact McNemar p"]
        paired = cmp["paired"]
        for name, p in [*paired["configs"].items(), ("overall", paired["overall"])]:
            lines.append(
                f"  {name}: {p['both_correct']} / {p['only_first']} / {p['only_second']} / {p['both_wrong']}, "
                f"p = {p['p_value']:.4g}"
            )
    return "\n".join(lines) + "\n"
