"""Standard errors of the bytelm claim metrics (docs/papers/bytelm.md "Noise and verdicts"), each against an
independent computation: scipy.stats.sem, a numpy bootstrap by hand, or the closed form of a constructed case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from papersuite.bytelm import midtoken, steps, toy, uncertainty
from papersuite.bytelm.ensemble_eval import _add_document_se
from papersuite.core import tables


def _bootstrap_by_hand(statistic, items: np.ndarray, n_boot: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    n = len(items)
    return float(np.std([statistic(items[rng.integers(0, n, n)]) for _ in range(n_boot)], ddof=1))


def test_ratio_of_sums_with_equal_denominators_is_the_sem_of_the_per_item_rates():
    rng = np.random.default_rng(0)
    y = rng.normal(3.0, 0.5, size=25) * 100  # bits of 25 documents of 100 bytes
    ratio, se = uncertainty.ratio_of_sums_se(y, np.full(25, 100.0))
    assert ratio == pytest.approx(np.mean(y / 100), rel=1e-12)
    assert se == pytest.approx(stats.sem(y / 100), rel=1e-12)


def test_ratio_of_sums_with_unequal_denominators_matches_a_bootstrap():
    rng = np.random.default_rng(1)
    b = rng.integers(30, 320, size=400).astype(float)  # bytes per document
    y = b * rng.normal(2.5, 0.4, size=400) + rng.normal(0, 20, size=400)  # bits per document
    ratio, se = uncertainty.ratio_of_sums_se(y, b)
    items = np.stack([y, b], axis=1)  # (400, 2)
    boot = _bootstrap_by_hand(lambda s: s[:, 0].sum() / s[:, 1].sum(), items, n_boot=4000, seed=2)
    assert ratio == pytest.approx(y.sum() / b.sum())
    assert se == pytest.approx(boot, rel=0.08)  # 4000 resamples: about 1% Monte Carlo error; n=400 linearisation


def test_ratio_of_sums_of_one_item_has_no_se_and_bad_input_fails():
    ratio, se = uncertainty.ratio_of_sums_se([3.0], [2.0])
    assert ratio == 1.5 and math.isnan(se)
    with pytest.raises(ValueError):
        uncertainty.ratio_of_sums_se([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        uncertainty.ratio_of_sums_se([1.0, 2.0], [0.0, 0.0])


def _pass_rows(passed: dict[str, list[bool]]) -> list[dict]:
    return [
        {"task_id": f"HumanEval/{i}", "method": method, "passed": p}
        for method, outcomes in passed.items()
        for i, p in enumerate(outcomes)
    ]


def test_paired_pass_difference_is_the_mean_and_sem_of_per_task_differences():
    byte = [True, True, False, True, True, False, True, True, False, True]
    naive = [False, True, False, False, True, False, False, True, True, False]
    rows = _pass_rows({"byte_level": byte, "naive": naive})[::-1]  # order must not matter
    difference, se = uncertainty.paired_pass_difference(rows, "byte_level", "naive")
    d = np.array(byte, dtype=float) - np.array(naive, dtype=float)
    assert difference == pytest.approx(0.3) and se == pytest.approx(stats.sem(d), rel=1e-12)


def test_paired_pass_difference_skips_unmatched_tasks_and_rejects_duplicates():
    rows = _pass_rows({"byte_level": [True, False, True], "naive": [False, False]})
    difference, _ = uncertainty.paired_pass_difference(rows, "byte_level", "naive")
    assert difference == pytest.approx(0.5)  # tasks 0 and 1 only
    with pytest.raises(ValueError, match="twice"):
        uncertainty.paired_pass_difference(rows + rows[:1], "byte_level", "naive")
    with pytest.raises(ValueError, match="no task"):
        uncertainty.paired_pass_difference(rows, "byte_level", "token_healing")


def test_add_differences_writes_the_paired_se_on_the_byte_level_record():
    byte, naive, healing = [True] * 6 + [False] * 2, [True] * 3 + [False] * 5, [True] * 5 + [False] * 3
    rows = _pass_rows({"byte_level": byte, "naive": naive, "token_healing": healing})
    recs = {m: {"metrics": {"pass_at_1": float(np.mean(p))}} for m, p in zip(midtoken.METHODS, (naive, healing, byte))}
    midtoken.add_differences(recs, rows)
    m = recs["byte_level"]["metrics"]
    assert m["pass_at_1_minus_naive"] == pytest.approx(3 / 8)
    assert m["pass_at_1_minus_naive_se"] == pytest.approx(stats.sem(np.subtract(byte, naive, dtype=float)))
    assert m["pass_at_1_minus_token_healing_se"] == pytest.approx(stats.sem(np.subtract(byte, healing, dtype=float)))


def test_transition_ratio_se_matches_the_delta_method():
    rng = np.random.default_rng(3)
    naive = rng.exponential(0.08, size=3000)  # |error| per transition
    byte = 0.1 * naive + rng.exponential(0.005, size=3000)
    se = uncertainty.transition_ratio_se(byte, naive)
    ratio = byte.mean() / naive.mean()
    delta = np.std(byte - ratio * naive, ddof=1) / math.sqrt(len(byte)) / naive.mean()  # by hand
    assert se == pytest.approx(delta, rel=0.25)  # 200 bootstrap resamples: about 5% Monte Carlo error
    assert uncertainty.transition_ratio_se(naive, naive) == 0.0  # naive's ratio to itself is exactly 1


def test_toy_metrics_carry_standard_errors_over_the_transitions():
    rng = np.random.default_rng(4)
    true = rng.uniform(0, 1, size=50)
    table = pd.DataFrame(
        {
            "true": true,
            "p_prefix": rng.uniform(0.1, 1, size=50),
            "naive": np.clip(true + rng.normal(0, 0.2, size=50), 0, 1),
            "token_healing": np.clip(true + rng.normal(0, 0.05, size=50), 0, 1),
            "byte_level": np.clip(true + rng.normal(0, 0.02, size=50), 0, 1),
            "byte_level_mass": np.ones(50),
        }
    )
    out = toy.toy_metrics(table)
    err = (table["byte_level"] - table["true"]).abs()
    assert out["byte_level_abs_err_mean_se"] == pytest.approx(stats.sem(err), rel=1e-12)
    assert out["naive_ratio_to_naive_se"] == 0.0 and out["byte_level_ratio_to_naive_se"] > 0


def test_oracle_metrics_are_declared_exact():
    rows = pd.DataFrame({"true": [0.7, 0.3], "naive": [0.0, 1.0], "byte_level": [0.7, 0.3]})
    metrics = steps._oracle_metrics(rows, "naive", 0.0)
    assert metrics["abs_err_max"] == pytest.approx(0.7) and metrics["abs_err_max_se"] == 0.0


def test_document_se_of_the_ensemble_difference_and_calls():
    bpb = {"V1": [3.0, 2.8, 3.4, 3.1], "V2": [2.9, 2.9, 3.2, 3.0], "ensemble": [2.8, 2.7, 3.3, 2.9]}
    calls = (110, 104, 121, 100)
    per_doc = [{"bytes": 100, "calls": c, **{f"{n}_bpb": v[i] for n, v in bpb.items()}} for i, c in enumerate(calls)]
    methods = {n: {} for n in bpb}
    _add_document_se(methods, ["V1", "V2"], "V2", per_doc)
    d = np.subtract(bpb["ensemble"], bpb["V2"])
    assert methods["ensemble"]["bpb_minus_best_member"] == pytest.approx(d.mean())
    assert methods["ensemble"]["bpb_minus_best_member_se"] == pytest.approx(stats.sem(d))  # equal bytes: the sem
    assert methods["V2"]["bpb_minus_best_member"] == 0.0 and methods["V2"]["bpb_minus_best_member_se"] == 0.0
    assert methods["V1"]["bits_per_byte_se"] == pytest.approx(stats.sem(bpb["V1"]))
    assert methods["ensemble"]["calls_per_byte_se"] == pytest.approx(stats.sem([1.10, 1.04, 1.21, 1.00]))


def test_markdown_cells_show_mean_plus_minus_se():
    table = pd.DataFrame(
        {
            "method": ["a", "b"],
            "pass_at_1": [0.5, 0.25],
            "pass_at_1_std": [np.nan, np.nan],
            "pass_at_1_se": [0.1, np.nan],
            "wall_s": [1.0, 2.0],
            "wall_s_se": [np.nan, np.nan],
        }
    )
    view = tables.estimate_view(table)
    assert list(view.columns) == ["method", "pass_at_1", "wall_s"]
    assert view["pass_at_1"].tolist() == ["0.5 ± 0.1", "0.25"] and view["wall_s"].tolist() == [1.0, 2.0]
