"""Evaluation of a translator (or the rule-based parser) on both test splits (paper: abstract;
``docs/papers/ttg.md``, "Metrics").

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

import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core import io, noise, records, runtime

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


def _mean_se(values: Sequence[float]) -> float | None:
    """Standard error of the mean over items (noise.mean_se); None for fewer than two."""
    return noise.mean_se(values)[1] if len(values) > 1 else None


@dataclass
class _PlanTally:
    """The solve-and-judge counts of :func:`score_examples`, one example at a time."""

    ratios: list[float] = field(default_factory=list)
    ratios_valid: list[float] = field(default_factory=list)
    strict: list[float] = field(default_factory=list)
    solve_s: list[float] = field(default_factory=list)
    no_plan: int = 0
    violating: int = 0
    valid: int = 0
    solver_valid: int = 0
    plans: int = 0

    def add(self, row: Mapping[str, Any], pred: Mapping[str, Any] | None, tables: Tables) -> dict[str, Any]:
        """Solve ``pred`` (None: unparsed) and judge its plan against the row's gold request; the
        example's detail fields."""
        status, plan, seconds = "unparsed", None, None
        if pred is not None:
            start = time.perf_counter()
            status, cost, plan = solve(pred, tables)
            seconds = time.perf_counter() - start
            self.solve_s.append(seconds)
        d: dict[str, Any] = {"status": status, "solve_s": seconds}
        if status != OPTIMAL:
            self.no_plan += 1
            self.strict.append(0.0)
            return d
        self.plans += 1
        self.solver_valid += validate_plan(plan, pred, tables, claimed_cost=cost).ok
        judged = validate_plan(plan, row["request"], tables)
        ratio = float(row["optimal_cost"]) / judged.cost
        self.ratios.append(ratio)
        d.update(plan_cost=judged.cost, cost_ratio=ratio, violations=judged.violations)
        if judged.ok:
            self.valid += 1
            self.ratios_valid.append(ratio)
            self.strict.append(ratio)
        else:
            self.violating += 1
            self.strict.append(0.0)
        return d

    def metrics(self, n: int) -> dict[str, float | None]:
        """The plan metrics over ``n`` examples, with standard errors (``_se``; ttg.md "Noise and verdicts"):
        the cost ratio's over the returned plans, the guarantee's binomial over them."""
        return {
            "cost_ratio": float(np.mean(self.ratios)) if self.ratios else None,
            "cost_ratio_se": _mean_se(self.ratios),
            "cost_ratio_valid": float(np.mean(self.ratios_valid)) if self.ratios_valid else None,
            "cost_ratio_strict": float(np.mean(self.strict)),
            "infeasible_rate": self.no_plan / n,
            "violation_rate": self.violating / n,
            "valid_rate": self.valid / n,
            "solver_plan_valid_rate": self.solver_valid / self.plans if self.plans else None,
            "solver_plan_valid_rate_se": noise.rate_se(self.solver_valid, self.plans)[1] if self.plans else None,
            "latency_solve_p50_s": _pct(self.solve_s, 50),
            "latency_solve_p95_s": _pct(self.solve_s, 95),
        }


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
    field_fractions = []  # (n,) the share of the fields each example gets right
    details = []
    tally = _PlanTally()
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
        field_fractions.append(sum(fields.values()) / len(FIELDS))
        d: dict[str, Any] = {
            "id": row.get("id"),
            "exact_match": bool(match),
            "wrong_fields": [f for f, ok in fields.items() if not ok],
        }
        if solve_plans:
            d.update(tally.add(row, pred, tables))
        details.append(d)
    metrics: dict[str, float | None] = {
        "exact_match": em / n,
        "exact_match_se": noise.rate_se(em, n)[1],  # binomial over the test requests
        "field_accuracy": sum(per_field.values()) / (n * len(FIELDS)),
        "field_accuracy_se": _mean_se(field_fractions),
        "parse_rate": parsed / n,
        **{f"acc_{f}": per_field[f] / n for f in FIELDS},
        "n_examples": float(n),
    }
    if solve_plans:
        metrics.update(tally.metrics(n))
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


@dataclass
class _Reader:
    """Turns test texts into requests: the rule-based parser (``translator`` None) or a translator,
    plain or constrained to the target grammar (``grammar_cities``)."""

    translator: Translator | None
    cities: list[str]
    base_date: str
    grammar_cities: list[str] | None

    def read_all(self, texts: list[str]) -> tuple[list[str], list[dict | None], list[dict | None] | None]:
        """(translator outputs, or [] for the parser; parsed requests; readable fields of unparsed ones)."""
        if self.translator is None:
            predictions = []
            for text in texts:
                try:
                    predictions.append(parse_text(text, self.cities, self.base_date))
                except ValueError:
                    predictions.append(None)
            return [], predictions, None
        outputs = self.translator.translate(texts, cities=self.grammar_cities)
        predictions, partials = _parse_outputs(outputs, self.base_date, self.cities)
        return outputs, predictions, partials

    def seconds_for_one(self, text: str) -> float:
        """Seconds to read one request alone (batch 1), as a user sends it."""
        t0 = time.perf_counter()
        if self.translator is None:
            with contextlib.suppress(ValueError):
                parse_text(text, self.cities, self.base_date)
        else:
            self.translator.translate([text], batch_size=1, cities=self.grammar_cities)
        return time.perf_counter() - t0


def _load_translator(method: str, model_dir, threads: int, constrained: bool) -> Translator | None:
    """The trained translator of ``model_dir``; None for the rule-based parser."""
    if method == "rule_parser":
        return None
    translator = Translator(model_dir, threads=threads)
    if constrained and translator.kind != "seq2seq":
        raise ValueError(f"constrained decoding needs a seq2seq translator, {model_dir} is {translator.kind}")
    return translator


def _latency_metrics(translate_s: list[float], details: list[dict], solve_plans: bool) -> dict[str, float | None]:
    """Translate percentiles of the sampled requests, and with ``solve_plans`` translate + solve."""
    out = {"latency_translate_p50_s": _pct(translate_s, 50), "latency_translate_p95_s": _pct(translate_s, 95)}
    if solve_plans:
        total = [t + (d["solve_s"] or 0.0) for t, d in zip(translate_s, details)]
        out["latency_total_p50_s"] = _pct(total, 50)
        out["latency_total_p95_s"] = _pct(total, 95)
        out["latency_total_mean_s"] = float(np.mean(total)) if total else None
        out["latency_total_mean_s_se"] = _mean_se(total)  # over the sampled requests
    return out


def _score_split(
    reader: _Reader, rows: list[dict], tables: Tables, solve_plans: bool, latency_samples: int
) -> tuple[dict, list[dict], float, int]:
    """(metrics, per-example details, seconds to read the whole split, latency sample size)."""
    texts = [r["text"] for r in rows]
    start = time.perf_counter()
    outputs, predictions, partials = reader.read_all(texts)
    translate_wall = time.perf_counter() - start
    metrics, details = score_examples(rows, predictions, tables, solve_plans, partials)
    k = min(int(latency_samples), len(rows))
    translate_s = [reader.seconds_for_one(text) for text in texts[:k]]
    metrics.update(_latency_metrics(translate_s, details[:k], solve_plans))
    for i, d in enumerate(details):
        d["output"] = outputs[i] if outputs else None
        d["translate_s"] = translate_s[i] if i < k else None
    return metrics, details, translate_wall, k


def _log_split(method: str, experiment: str, metrics: Mapping[str, Any], solve_plans: bool) -> None:
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
    cities = list(tables.city_names)
    start_all = time.perf_counter()
    translator = _load_translator(method, model_dir, threads, constrained)
    reader = _Reader(translator, cities, tables.base_date.isoformat(), cities if constrained else None)
    out = {}
    for split, path in test_files.items():
        experiment = SPLIT_EXPERIMENTS[split]
        metrics, details, translate_wall, k = _score_split(
            reader, read_pairs(path), tables, solve_plans, latency_samples
        )
        train_pairs = translator.meta["train_pairs"] if translator is not None else None
        metrics["train_pairs"] = float(train_pairs) if train_pairs is not None else None
        metrics["train_steps"] = float(translator.meta["steps"]) if translator is not None else None
        _log_split(method, experiment, metrics, solve_plans)
        rec = records.make_record(
            paper="ttg",
            experiment=experiment,
            method=method,
            seed=int(seed),
            scale=scale,
            metrics=metrics,
            wall_s=time.perf_counter() - start_all,
            device=str(translator.device) if translator is not None else "cpu",
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
            io.write_text(out_predictions[split], "".join(json.dumps(d, sort_keys=True) + "\n" for d in details))
        out[split] = rec
    return out
