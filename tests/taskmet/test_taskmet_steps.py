"""The workflow side of taskmet: RL record metrics, the figures' predictions, and the tables from records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from papersuite.taskmet import report, steps
from papersuite.taskmet.models import MetricNet, make_predictor
from papersuite.taskmet.predictions import GRID_POINTS, write_predictions
from papersuite.taskmet.rl.agents import mass_ratio
from papersuite.taskmet.task import Split


def _rl_result(diagonal):
    ratio, ratio_se = mass_ratio(diagonal) if diagonal is not None else (None, None)
    return {
        "final_return": 120.0,
        "final_return_se": 8.0,
        "model_mse_true": 0.01,
        "metric_true_over_distractor": ratio,
        "metric_true_over_distractor_se": ratio_se,
    }


def test_rl_metric_mass_ratio_and_its_se_over_dimensions_by_hand():
    # true weights 2, 2, 2, 2 (mean 2, se 0); distractors 0.5, 1.5 (mean 1, se 0.5): ratio 2, se = 2 * 0.5 / 1 = 1
    metrics = steps._rl_metrics(_rl_result([2.0, 2.0, 2.0, 2.0, 0.5, 1.5]))
    assert metrics["metric_true_over_distractor"] == pytest.approx(2.0)
    assert metrics["metric_true_over_distractor_se"] == pytest.approx(1.0)
    assert metrics["return"] == 120.0 and metrics["return_se"] == 8.0


def test_rl_metric_mass_is_absent_without_distractors_or_metric():
    assert steps._rl_metrics(_rl_result(None))["metric_true_over_distractor"] is None
    # D = 1: one distractor has no spread, so no se: the mass is left out rather than given se 0
    no_spread = steps._rl_metrics(_rl_result([1.0, 1.0, 1.0, 1.0, 0.5]))
    assert no_spread["metric_true_over_distractor"] is None


def test_cubic_predictions_hold_the_grid_prediction_and_metric(tmp_path):
    torch.manual_seed(0)
    predictor, metric = make_predictor(1, 1, []), MetricNet(1, 1, [8])
    split = Split(torch.rand(3, 5, 1) * 2 - 1, torch.rand(3, 5, 1), {})
    path = write_predictions(tmp_path / "p.npz", split, predictor, metric)
    with np.load(path) as data:
        assert data["y_hat"].shape == (3, 5, 1) and data["x_grid"].shape == (GRID_POINTS,)
        w, b = predictor[0].weight.item(), predictor[0].bias.item()
        np.testing.assert_allclose(data["y_hat_grid"], w * data["x_grid"] + b, rtol=1e-6, atol=1e-6)
        assert (data["metric_grid"] >= 1.0 - 1e-6).all()  # A = L² + e^s with s = 0 at init


def _record(experiment, method, seed, **metrics):
    return {"experiment": experiment, "method": method, "seed": seed, **metrics}


def test_tables_group_seeds_name_substitute_data_and_put_the_authors_returns_beside_ours():
    frame = pd.DataFrame(
        [
            _record("cubic", "taskmet", 0, normalized_dq=0.95, normalized_dq_se=0.01, mse=2.5, mse_se=0.1),
            _record("cubic", "taskmet", 1, normalized_dq=0.97, normalized_dq_se=0.01, mse=2.7, mse_se=0.1),
            _record("cubic", "mse", 0, normalized_dq=-0.95, normalized_dq_se=0.02, mse=2.2, mse_se=0.1),
            _record("budget", "mse", 0, normalized_dq=0.8, normalized_dq_se=0.05, mse=0.03, mse_se=0.01),
            _record("cartpole_D16", "taskmet", 0, **{"return": 300.0, "return_se": 20.0}),
        ]
    )
    dfl = report.dfl_table(frame)
    cubic_taskmet = dfl[(dfl.experiment == "cubic") & (dfl.method == "taskmet")].iloc[0]
    assert cubic_taskmet["normalized_dq"] == pytest.approx(0.96) and cubic_taskmet["n_seeds"] == 2
    # two seeds 0.02 apart: spread se 0.01 = runs' combined se √(2·0.01²)/2 ≈ 0.0071 → the larger, 0.01
    assert cubic_taskmet["normalized_dq_se"] == pytest.approx(0.01)
    assert list(dfl[dfl.experiment == "cubic"].method) == ["mse", "taskmet"]  # paper order
    assert "SUBSTITUTE" in dfl[dfl.experiment == "budget"].iloc[0]["data"]
    numbers = pd.DataFrame(
        [
            {
                "id": "n",
                "experiment": "cartpole_D16",
                "row": "taskmet",
                "column": "return",
                "value": 497.0,
                "source": "script",
                "verified": False,
            }
        ]
    )
    rl = report.rl_table(frame, numbers)
    assert rl.iloc[0]["distractors"] == 16 and rl.iloc[0]["paper_value"] == 497.0
    assert rl.iloc[0]["paper_verified"] is False and not math.isnan(rl.iloc[0]["return_se"])


def test_the_data_column_names_the_papers_source_or_the_substitute():
    assert "SUBSTITUTE" in report.data_label("portfolio", "sp500") and "SUBSTITUTE" in report.data_label("portfolio")
    assert report.data_label("portfolio", "lodl_wiki_prices").startswith("the paper's: Quandl WIKI")
    assert "SUBSTITUTE" in report.data_label("budget", None) and report.data_label("cubic").startswith("synthetic")
    frame = pd.DataFrame(
        [_record("portfolio", "mse", 0, normalized_dq=0.8, normalized_dq_se=0.01, mse=0.1, mse_se=0.01)]
    )
    dfl = report.dfl_table(frame, {"portfolio": "lodl_wiki_prices"})
    assert dfl.iloc[0]["data"] == report.data_label("portfolio", "lodl_wiki_prices")
