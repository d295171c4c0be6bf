"""Metric identities of the evaluation (docs/papers/ttg.md, "Known answers"): EM(x, x) = 1, cost
ratio 1 for a perfect translation, ≤ 1 whenever the plan is valid for x, invalid and infeasible
translations counted apart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from papersuite.ttg.evaluate import score_examples
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.solver import OPTIMAL, solve


@pytest.fixture(scope="module")
def gold_rows(tables):
    rng = np.random.default_rng(21)
    rows = []
    while len(rows) < 12:
        req, _ = sample_candidate(
            rng,
            tables,
            {
                **REQUEST_DEFAULTS,
                "destination_probs": [0.0, 0.6, 0.4],
                "min_nights": [1, 3],
                "max_width": 1,
                "start_window_days": 25,
            },
        )
        status, cost, _ = solve(req, tables)
        if status == OPTIMAL and len(req["destinations"]) >= 2:
            rows.append({"id": f"r{len(rows)}", "request": req, "optimal_cost": cost})
    return rows


def test_perfect_translation_scores_one_everywhere(gold_rows, tables):
    metrics, details = score_examples(gold_rows, [r["request"] for r in gold_rows], tables, solve_plans=True)
    assert metrics["exact_match"] == 1.0 and metrics["field_accuracy"] == 1.0 and metrics["parse_rate"] == 1.0
    assert metrics["cost_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["cost_ratio_valid"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["cost_ratio_strict"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["infeasible_rate"] == 0.0 and metrics["violation_rate"] == 0.0 and metrics["valid_rate"] == 1.0
    assert metrics["solver_plan_valid_rate"] == 1.0
    assert all(d["exact_match"] and d["violations"] == [] for d in details)


def test_unparseable_and_wrong_translations_are_counted_apart(gold_rows, tables):
    preds = []
    for i, row in enumerate(gold_rows):
        req = row["request"]
        if i % 3 == 0:
            preds.append(None)  # the translator's output did not parse
        elif i % 3 == 1:
            preds.append({**req, "destinations": req["destinations"][:-1]})  # a relaxed x̂: drops a city
        else:
            preds.append({**req, "travelers": req["travelers"] + 1})  # a wrong party size
    metrics, details = score_examples(gold_rows, preds, tables, solve_plans=True)
    n = len(gold_rows)
    assert metrics["exact_match"] == 0.0 and metrics["parse_rate"] == pytest.approx(1 - 4 / n)
    assert metrics["infeasible_rate"] >= 4 / n
    assert metrics["violation_rate"] + metrics["valid_rate"] + metrics["infeasible_rate"] == pytest.approx(1.0)
    assert metrics["solver_plan_valid_rate"] == 1.0  # every returned plan is valid for the x̂ it solved
    dropped = [d for i, d in enumerate(details) if i % 3 == 1 and d["status"] == OPTIMAL]
    assert dropped and all(d["violations"] for d in dropped)  # invalid for the true request
    assert any(d["cost_ratio"] > 1.0 for d in dropped)  # a cheaper plan that skips a city
    # a wrong party size books the wrong plan: a violation, though the same itinerary may be optimal
    party = [d for i, d in enumerate(details) if i % 3 == 2 and d["status"] == OPTIMAL]
    assert party and all(any("travellers" in v for v in d["violations"]) for d in party)
    assert metrics["cost_ratio_strict"] <= metrics["cost_ratio"]


def test_ratio_is_at_most_one_for_every_plan_valid_for_the_true_request(gold_rows, tables):
    preds = []
    for row in gold_rows:
        req = row["request"]
        tighter = dict(req)
        tighter["hotel_min_stars"] = max(req["hotel_min_stars"] or 0, 3) if req["hotel_min_stars"] != 5 else 5
        tighter["nonstop_only"] = True
        preds.append(tighter)  # stricter than x: any plan of x̂ is also valid for x
    metrics, details = score_examples(gold_rows, preds, tables, solve_plans=True)
    valid = [d for d in details if d.get("status") == OPTIMAL and not d["violations"]]
    assert valid
    assert all(d["cost_ratio"] <= 1.0 + 1e-12 for d in valid)
    assert metrics["cost_ratio_valid"] <= 1.0 + 1e-12


def test_em_only_scoring_needs_no_solver(gold_rows):
    metrics, _ = score_examples(gold_rows, [r["request"] for r in gold_rows])
    assert metrics["exact_match"] == 1.0 and "cost_ratio" not in metrics
    with pytest.raises(ValueError):
        score_examples([], [])


def test_standard_errors_of_the_claim_metrics(gold_rows, tables):
    """ttg.md "Noise and verdicts": EM binomial over the requests, field accuracy and cost ratio the sem of their
    per-example values, the guarantee binomial over the returned plans; checked against scipy by hand."""
    from scipy import stats

    from papersuite.ttg.schema import FIELDS

    preds = [
        r["request"] if i % 2 else {**r["request"], "travelers": r["request"]["travelers"] + 1}
        for i, r in enumerate(gold_rows)
    ]
    metrics, details = score_examples(gold_rows, preds, tables, solve_plans=True)
    n, p = len(gold_rows), metrics["exact_match"]
    assert p == 0.5 and metrics["exact_match_se"] == pytest.approx(math.sqrt(0.25 / n), rel=1e-12)
    fractions = [1 - len(d["wrong_fields"]) / len(FIELDS) for d in details]
    assert metrics["field_accuracy"] == pytest.approx(np.mean(fractions))
    assert metrics["field_accuracy_se"] == pytest.approx(stats.sem(fractions), rel=1e-12)
    ratios = [d["cost_ratio"] for d in details if "cost_ratio" in d]
    assert metrics["cost_ratio_se"] == pytest.approx(stats.sem(ratios), rel=1e-12)
    assert metrics["solver_plan_valid_rate"] == 1.0 and metrics["solver_plan_valid_rate_se"] == 0.0


def test_latency_se_is_over_the_timed_requests():
    from scipy import stats

    from papersuite.ttg.evaluate import _latency_metrics

    translate = [0.01, 0.02, 0.04, 0.03]
    details = [{"solve_s": 0.1}, {"solve_s": None}, {"solve_s": 0.3}, {"solve_s": 0.2}]
    out = _latency_metrics(translate, details, solve_plans=True)
    total = [0.11, 0.02, 0.34, 0.23]
    assert out["latency_total_mean_s"] == pytest.approx(np.mean(total))
    assert out["latency_total_mean_s_se"] == pytest.approx(stats.sem(total), rel=1e-12)
