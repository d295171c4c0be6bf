"""Evaluation of a translator (or the rule-based parser) on both test splits (spec B1.2, B5.4).

Per split, one metrics record (experiment = split key, method = the run):

- ``exact_match``: back-translation EM, 1[canonical(x̂) == canonical(x)]; ``field_accuracy``: the
  mean over examples and the eleven fields of the per-field match (``acc_<field>`` each; an output
  that does not parse as a whole gets credit for each field that can be read from it);
  ``parse_rate``: outputs that parse into a valid request.
- With ``solve=True``: x̂ is solved by the MILP and the plan s*(x̂) is checked against the true
  request x by the independent validator, costed with the same tables for x's party.
  ``cost_ratio`` = mean over translations that returned a plan of C*(x) / C_x(s*(x̂)) — 1 for a
  perfect translation, ≤ 1 whenever s*(x̂) is valid for x, and possibly > 1 for a relaxed x̂ whose
  cheaper plan breaks x ([recon]: the paper's direction and its treatment of invalid plans are
  not retrievable). Reported beside it: ``cost_ratio_valid`` (plans valid for x only),
  ``cost_ratio_strict`` (0 for no plan or an invalid one), ``infeasible_rate`` (no plan: the
  output did not parse, or its MILP is infeasible), ``violation_rate`` (a plan that breaks x),
  ``valid_rate``, and ``solver_plan_valid_rate`` (plans valid for the x̂ they were solved for:
  the solver's guarantee).
- Latency (seconds per request): ``latency_translate_*`` for one request at a time (batch 1, as a
  user sends it) on the first ``latency_samples`` examples, ``latency_solve_*`` for every solve,
  ``latency_total_*`` = translate + solve of the sampled requests; p50 and p95, mean for total.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core import io, records, runtime

from .batching import read_pairs
from .decoding import Translator
from .parser import parse_text
from .schema import FIELDS, SchemaError, delinearize, exact_match, field_matches, lenient_fields
from .solver import OPTIMAL, solve
from .validate import validate_plan
from .world import Tables, load_tables

__all__ = ["SPLIT_EXPERIMENTS", "evaluate", "score_examples"]

log = logging.getLogger("papersuite.ttg.evaluate")

# test split file -> experiment key of the records
SPLIT_EXPERIMENTS = {"test_in": "in_template", "test_held": "held_out"}


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def score_examples(
    rows: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any] | None],
    tables: Tables | None = None,
    solve_plans: bool = False,
    partials: Sequence[Mapping[str, Any] | None] | None = None,
) -> tuple[dict, list[dict]]:
    """Metrics of predicted requests against the rows' gold requests; and one dict per example.

    ``predictions[i]`` is the parsed request or None (unparseable); ``partials[i]``, when given, the
    fields readable from an output that does not parse (field accuracy gives them credit one by
    one). With ``solve_plans`` each parsed prediction is solved over ``tables`` and its plan judged
    against the gold request.
    """
    n = len(rows)
    if n == 0:
        raise ValueError("no examples to score")
    per_field = {f: 0 for f in FIELDS}
    em = parsed = 0
    details = []
    ratios, ratios_valid, strict, solve_s = [], [], [], []
    no_plan = violating = valid = solver_valid = plans = 0
    for i, (row, pred) in enumerate(zip(rows, predictions)):
        gold = row["request"]
        match = exact_match(pred, gold)
        if pred is None and partials is not None and partials[i]:
            fields = field_matches(partials[i], gold, partial=True)
        else:
            fields = field_matches(pred, gold)
        em += match
        parsed += pred is not None
        for f, ok in fields.items():
            per_field[f] += ok
        d: dict[str, Any] = {
            "id": row.get("id"),
            "exact_match": bool(match),
            "wrong_fields": [f for f, ok in fields.items() if not ok],
        }
        if solve_plans:
            status, plan, seconds = "unparsed", None, None
            if pred is not None:
                start = time.perf_counter()
                status, cost, plan = solve(pred, tables)
                seconds = time.perf_counter() - start
                solve_s.append(seconds)
            d.update(status=status, solve_s=seconds)
            if status != OPTIMAL:
                no_plan += 1
                strict.append(0.0)
            else:
                plans += 1
                solver_valid += validate_plan(plan, pred, tables, claimed_cost=cost).ok
                judged = validate_plan(plan, gold, tables)
                ratio = float(row["optimal_cost"]) / judged.cost
                ratios.append(ratio)
                d.update(plan_cost=judged.cost, cost_ratio=ratio, violations=judged.violations)
                if judged.ok:
                    valid += 1
                    ratios_valid.append(ratio)
                    strict.append(ratio)
                else:
                    violating += 1
                    strict.append(0.0)
        details.append(d)
    metrics: dict[str, float | None] = {
        "exact_match": em / n,
        "field_accuracy": sum(per_field.values()) / (n * len(FIELDS)),
        "parse_rate": parsed / n,
        **{f"acc_{f}": per_field[f] / n for f in FIELDS},
        "n_examples": float(n),
    }
    if solve_plans:
        metrics.update(
            {
                "cost_ratio": float(np.mean(ratios)) if ratios else None,
                "cost_ratio_valid": float(np.mean(ratios_valid)) if ratios_valid else None,
                "cost_ratio_strict": float(np.mean(strict)),
                "infeasible_rate": no_plan / n,
                "violation_rate": violating / n,
                "valid_rate": valid / n,
                "solver_plan_valid_rate": solver_valid / plans if plans else None,
                "latency_solve_p50_s": _pct(solve_s, 50),
                "latency_solve_p95_s": _pct(solve_s, 95),
            }
        )
    return metrics, details


def _parse_outputs(
    outputs: Sequence[str], base_date: str, cities: Sequence[str]
) -> tuple[list[dict | None], list[dict | None]]:
    """(parsed requests or None, readable fields of the outputs that did not parse or None)."""
    parsed, partials = [], []
    for text in outputs:
        try:
            parsed.append(delinearize(text, base_date, cities))
            partials.append(None)
        except SchemaError:
            parsed.append(None)
            partials.append(lenient_fields(text, base_date, cities))
    return parsed, partials


def evaluate(
    method: str,
    test_files: Mapping[str, str | Path],
    cities_path,
    flights_path,
    hotels_path,
    meta_path,
    seed: int,
    scale: str,
    out_records: Mapping[str, str | Path],
    out_predictions: Mapping[str, str | Path] | None = None,
    model_dir=None,
    solve_plans: bool = True,
    latency_samples: int = 50,
    config: Mapping[str, Any] | None = None,
    constrained: bool = False,
    threads: int = 1,
    log_path=None,
) -> dict[str, dict]:
    """Evaluate ``method`` ("rule_parser", or a trained translator in ``model_dir``) on each test
    split (``test_files``: split -> JSONL); write one metrics record per split. ``constrained``
    decodes with the target grammar (:mod:`papersuite.ttg.grammar`, seq2seq translators only)."""
    runtime.setup_logging(log_path)
    tables = load_tables(cities_path, flights_path, hotels_path, meta_path)
    base_date = tables.base_date.isoformat()
    cities = list(tables.city_names)
    start_all = time.perf_counter()
    if method == "rule_parser":
        device, translator, train_pairs = "cpu", None, None
    else:
        translator = Translator(model_dir, threads=threads)
        device, train_pairs = str(translator.device), translator.meta["train_pairs"]
        if constrained and translator.kind != "seq2seq":
            raise ValueError(f"constrained decoding needs a seq2seq translator, {model_dir} is {translator.kind}")
    grammar_cities = cities if constrained else None
    out = {}
    for split, path in test_files.items():
        experiment = SPLIT_EXPERIMENTS[split]
        rows = read_pairs(path)
        texts = [r["text"] for r in rows]
        start = time.perf_counter()
        partials = None
        if translator is None:
            outputs, predictions = [], []
            for text in texts:
                try:
                    predictions.append(parse_text(text, cities, base_date))
                except ValueError:
                    predictions.append(None)
        else:
            outputs = translator.translate(texts, cities=grammar_cities)
            predictions, partials = _parse_outputs(outputs, base_date, cities)
        translate_wall = time.perf_counter() - start
        metrics, details = score_examples(rows, predictions, tables, solve_plans, partials)

        # one request at a time, as a user sends it
        k = min(int(latency_samples), len(rows))
        translate_s = []
        for text in texts[:k]:
            t0 = time.perf_counter()
            if translator is None:
                try:
                    parse_text(text, cities, base_date)
                except ValueError:
                    pass
            else:
                translator.translate([text], batch_size=1, cities=grammar_cities)
            translate_s.append(time.perf_counter() - t0)
        metrics["latency_translate_p50_s"] = _pct(translate_s, 50)
        metrics["latency_translate_p95_s"] = _pct(translate_s, 95)
        if solve_plans:
            total = [t + (d["solve_s"] or 0.0) for t, d in zip(translate_s, details[:k])]
            metrics["latency_total_p50_s"] = _pct(total, 50)
            metrics["latency_total_p95_s"] = _pct(total, 95)
            metrics["latency_total_mean_s"] = float(np.mean(total)) if total else None
        for i, d in enumerate(details):
            d["output"] = outputs[i] if outputs else None
            d["translate_s"] = translate_s[i] if i < k else None
        metrics["train_pairs"] = float(train_pairs) if train_pairs is not None else None
        metrics["train_steps"] = float(translator.meta["steps"]) if translator is not None else None
        log.info(
            "%s on %s: EM %.3f, field accuracy %.3f%s",
            method,
            experiment,
            metrics["exact_match"],
            metrics["field_accuracy"],
            f", cost ratio {metrics['cost_ratio']}, infeasible {metrics['infeasible_rate']:.3f}, "
            f"violations {metrics['violation_rate']:.3f}"
            if solve_plans
            else "",
        )
        rec = records.make_record(
            paper="ttg",
            experiment=experiment,
            method=method,
            seed=int(seed),
            scale=scale,
            metrics=metrics,
            wall_s=time.perf_counter() - start_all,
            device=device,
            config={
                **dict(config or {}),
                "method": method,
                "split": split,
                "solve": bool(solve_plans),
                "constrained": bool(constrained),
            },
            extra={
                "translate_wall_s": translate_wall,
                "latency_samples": k,
                "model_dir": str(model_dir) if model_dir else None,
            },
        )
        records.write_record(out_records[split], rec)
        if out_predictions is not None:
            import json

            io.write_text(out_predictions[split], "".join(json.dumps(d, sort_keys=True) + "\n" for d in details))
        out[split] = rec
    return out
