"""Mechanics of the model-based RL runs at a reduced tiny size (docs/papers/taskmet.md, "RL"): model losses
fall, OMD's model is far less accurate than MLE's, TaskMet's metric moves mass onto the 4 true state dimensions, and a
killed run resumes to the same result."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
import torch

from papersuite.taskmet.rl import loop, run

# ≈ 3.5 s (MLE, OMD) and 11 s (TaskMet) of one CPU thread each: 900 updates on 3000 env steps, D = 8.
SMALL = {"total_steps": 3000, "init_steps": 300, "metric_warmup_steps": 300}
N_DISTRACTORS = 8


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, dict]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield {agent: run(agent, N_DISTRACTORS, SMALL, seed=0) for agent in ("mle", "omd", "taskmet")}
    finally:
        torch.set_num_threads(threads)


def trained(curve: list[dict], key: str) -> list[float]:
    """``key`` per curve interval that had updates (the step-0 point has none)."""
    return [point[key] for point in curve if point["updates"] > 0]


def test_result_layout(runs):
    """Curve every eval_every steps from 0 to total_steps, finite returns in [0, 500], metric keys only for TaskMet."""
    for agent, result in runs.items():
        assert [p["env_steps"] for p in result["curve"]] == [0, 1000, 2000, 3000]
        assert len(result["final_returns"]) == 10
        assert all(0 < r <= 500 for r in result["final_returns"])
        assert math.isfinite(result["final_return_se"])
        assert result["obs_dim"] == 4 + N_DISTRACTORS
        assert (result["metric_true_mean"] is None) == (agent != "taskmet")
    assert len(runs["taskmet"]["metric_diagonal"]) == 4 + N_DISTRACTORS
    assert runs["taskmet"]["skipped_metric_steps"] == 0


@pytest.mark.parametrize("agent", ["mle", "taskmet"])
def test_model_losses_decrease(runs, agent):
    """MLE's and TaskMet's next-state error on the 4 true dimensions falls by > 3× from the first to the last interval
    (measured 0.289 → 0.026 MLE, 0.273 → 0.035 TaskMet); the trained model loss falls as well (MLE 8.15 → 7.89,
    TaskMet's metric-weighted loss 7.92 → 6.83, its distractor weights shrinking)."""
    curve = runs[agent]["curve"]
    true_error, model_loss = trained(curve, "model_mse_true"), trained(curve, "model_loss")
    assert true_error[-1] < true_error[0] / 3
    assert model_loss[-1] < model_loss[0]
    assert runs[agent]["model_mse_distractor"] > 0.9  # distractors are unpredictable: error ≈ their variance 1


def test_omd_model_is_far_less_accurate_than_mle(runs):
    """The paper's mse plot: OMD's model, trained only for the critic's real Bellman error, predicts the true state
    much worse than MLE's or TaskMet's (measured true-dim MSE 3.15 vs 0.012 and 0.025 on the last 1000 transitions)."""
    omd, mle, taskmet = (runs[a]["model_mse_true"] for a in ("omd", "mle", "taskmet"))
    assert omd > 10 * mle
    assert omd > 10 * taskmet


def test_taskmet_metric_puts_more_mass_on_the_true_dimensions(runs):
    """After training, the learned metric's mean weight on the 4 true dimensions exceeds its mean weight on
    the 8 distractors (measured 1.23 vs 0.84, share of the trace 0.42 vs 0.33 for the uniform metric; seed 1: 1.39 vs
    0.68, share 0.51). At init every weight is exactly 1."""
    result = runs["taskmet"]
    assert result["metric_true_mean"] > 1.2 * result["metric_distractor_mean"]
    assert result["metric_true_share"] > result["metric_true_share_uniform"] + 0.05


def test_run_rejects_unknown_agent_and_config_keys():
    with pytest.raises(ValueError, match="agent"):
        run("sac", 0, {}, seed=0)
    with pytest.raises(ValueError, match="unknown"):
        run("mle", 0, {"learning_rate": 1.0}, seed=0)


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    """A TaskMet run killed at its third evaluation resumes from the last episode-end checkpoint and ends with the same
    curve, returns, model error and metric as an uninterrupted run."""
    config = {"total_steps": 1200, "init_steps": 200, "update_every": 4, "eval_every": 400, "ckpt_every": 100}
    reference = run("taskmet", 4, config, seed=3)
    real_evaluate, calls = loop._evaluate, {"n": 0}

    def evaluate_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "_evaluate", evaluate_then_die)
    with pytest.raises(KeyboardInterrupt):
        run("taskmet", 4, config, seed=3, checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.setattr(loop, "_evaluate", real_evaluate)
    resumed = run("taskmet", 4, config, seed=3, checkpoint_dir=tmp_path / "ckpt")
    assert 0 < resumed["resumed_from"] < 800
    for key in ("curve", "final_returns", "model_mse_true", "metric_diagonal", "train_episodes"):
        assert resumed[key] == reference[key], key
    assert not (tmp_path / "ckpt").exists()  # cleared once the outputs exist


def test_state_conditioned_metric_without_distractors_writes_plain_json():
    """The "state" metric (an MLP of s) runs; with D = 0 the distractor entries are None and the result is strict JSON
    (no NaN)."""
    config = {
        "metric": "state",
        "total_steps": 400,
        "init_steps": 100,
        "update_every": 4,
        "eval_every": 200,
        "eval_episodes": 2,
        "final_eval_episodes": 2,
    }
    result = run("taskmet", 0, config, seed=1)
    assert len(result["metric_diagonal"]) == 4
    assert result["metric_distractor_mean"] is None and result["model_mse_distractor"] is None
    assert result["metric_true_share"] == pytest.approx(1.0)
    assert all(v > 0 for v in result["metric_diagonal"])
    json.dumps(result, allow_nan=False)
