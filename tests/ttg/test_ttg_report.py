"""TTG tables with their noise (docs/papers/ttg.md "Noise and verdicts"): the seed mean's standard error beside
each headline metric, Markdown cells as mean ± se, and every seed's predictions reaching the latency figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from papersuite.core import records, tables
from papersuite.ttg import report, steps


def _record(method: str, experiment: str, seed: int, em: float, n: int = 200) -> dict:
    metrics = {
        "exact_match": em,
        "exact_match_se": math.sqrt(em * (1 - em) / n),
        "field_accuracy": 0.99,
        "field_accuracy_se": 0.001,
        "train_pairs": 6000.0 if method == "translator" else 300.0,
        "n_examples": float(n),
    }
    if method == "translator":
        metrics.update({"cost_ratio": 1.0, "cost_ratio_se": 0.002, "latency_total_mean_s": 0.05})
    return records.make_record(
        paper="ttg",
        experiment=experiment,
        method=method,
        seed=seed,
        scale="tiny",
        metrics=metrics,
        wall_s=1.0,
        device="cpu",
        config={},
    )


@pytest.fixture()
def frame() -> pd.DataFrame:
    recs = [
        _record(method, experiment, seed, em)
        for method, ems in (("translator", (0.92, 0.96)), ("translator_n300", (0.30, 0.34)))
        for experiment in ("in_template", "held_out")
        for seed, em in zip((0, 1), ems)
    ]
    return records.records_frame(recs)


def test_main_table_holds_the_seed_mean_and_its_noise(frame):
    main = report.main_table(frame, report._numbers(None))
    row = main[(main["experiment"] == "in_template") & (main["method"] == "translator")].iloc[0]
    ems, ses = np.array([0.92, 0.96]), np.sqrt(np.array([0.92 * 0.08, 0.96 * 0.04]) / 200)
    by_hand = max(np.std(ems, ddof=1) / math.sqrt(2), math.sqrt((ses**2).sum()) / 2)  # the combine rule
    assert row["exact_match"] == pytest.approx(0.94) and row["exact_match_se"] == pytest.approx(by_hand)
    assert row["cost_ratio_se"] == pytest.approx(math.sqrt(2 * 0.002**2) / 2)  # equal seeds: the runs' own se
    assert row["latency_total_mean_s_se"] == 0.0  # no se recorded: the spread of two equal seeds
    one_seed = report.main_table(frame[frame["seed"] == 0], report._numbers(None))
    assert math.isnan(one_seed.loc[0, "latency_total_mean_s_se"])  # one seed, no se: unknown


def test_size_table_pivots_the_se_beside_each_split(frame):
    size = report.size_table(frame)
    assert list(size["method"]) == ["translator_n300", "translator"]
    n300 = size.iloc[0]
    assert n300["exact_match_in_template"] == pytest.approx(0.32)
    runs_se = math.sqrt(0.30 * 0.70 / 200 + 0.34 * 0.66 / 200) / 2  # 0.0233 > the seed spread 0.02
    assert n300["exact_match_in_template_se"] == pytest.approx(runs_se)
    view = tables.estimate_view(size)
    assert view.loc[0, "exact_match_in_template"] == "0.32 ± 0.023"
    assert not [c for c in view.columns if c.endswith(("_se", "_std"))]


def test_every_seeds_predictions_reach_the_report(monkeypatch, tmp_path):
    """Predictions were keyed by split alone, so a second seed replaced the first (ttg.md "Noise and verdicts")."""
    seen = {}
    monkeypatch.setattr(report, "build_report", lambda **kw: seen.update(kw["predictions"]))
    paths = [tmp_path / f"seed{s}" / f"{split}.jsonl" for s in (0, 1) for split in ("in_template", "held_out")]
    steps.table(
        records=[],
        predictions=paths,
        curves=[],
        references=None,
        scale="tiny",
        tables_dir=tmp_path,
        figures_dir=tmp_path,
    )
    assert sorted(seen) == ["seed0/held_out", "seed0/in_template", "seed1/held_out", "seed1/in_template"]
    assert sorted(map(str, seen.values())) == sorted(map(str, paths))
