"""Metric learning (docs/papers/lagot.md, "Metric learning"): per-pair networks, the bilevel loop on a few
circle snapshot pairs, and resuming."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot import metric_learning
from papersuite.lagot.metric_learning import PairNetworks, learn_metric
from papersuite.lagot.models import PotentialMLP
from papersuite.lagot.snapshots import make_snapshots

SMALL = {  # five circle pairs (a 75° arc), a small budget
    "iterations": 60,
    "potential_hidden": [32, 32],
    "map_hidden": [32, 32],
    "potential_lr": 1e-3,
    "metric_hidden": [32, 32],
    "metric_lr": 0.02,
    "metric_every": 5,
    "metric_warmup": 10,
    "ctransform": {"max_iter": 5},
    "amortizer": {"hidden": [64, 64], "n_params": 8, "n_points": 10, "lr": 1e-3, "pretrain_steps": 100},
    "n_pairs": 5,
    "alignment_grid": 30,
    "eval_every": 20,
    "quiver_grid": 5,
    "n_chains": 4,
    "checkpoint_every": 0,
}
SMALL["amortizer"].update({"refit_every": 30, "refit_steps": 30})
ARC = ((0.2, 1.3), (-0.2, 1.1))  # the box around the five pairs' data


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


def test_pair_networks_route_each_sample_to_its_pair():
    """forward(z, pair) applies nets[pair[i]] to sample i; all pairs start as copies of one network."""
    torch.manual_seed(0)
    nets = PairNetworks(PotentialMLP(2, [8]), 3)
    z = torch.randn(12, 2)
    pair = torch.tensor([2, 0, 1, 1, 0, 2, 2, 0, 1, 0, 1, 2])
    torch.testing.assert_close(nets(z, pair), nets.nets[0](z))  # identical copies
    with torch.no_grad():
        nets.nets[1].net[-1].bias.add_(1.0)
        nets.nets[2].net[-1].bias.add_(2.0)
    expected = torch.stack([nets.nets[int(p)](z[i : i + 1])[0] for i, p in enumerate(pair)])
    torch.testing.assert_close(nets(z, pair), expected)
    order = torch.argsort(pair, stable=True)  # sorted pairs take the contiguous-runs path; a pair may be absent
    for keep in (order, order[pair[order] != 1]):
        torch.testing.assert_close(nets(z[keep], pair[keep]), expected[keep])


def test_bilevel_loop_aligns_the_metric_near_the_data():
    """Five circle pairs, 60 iterations: alignment on the arc rises from its random start to ≥ 0.8 (measured
    0.907 from 0.664, seed 0); outputs have the shapes the figures need."""
    snapshots = make_snapshots("circle", seed=0)
    out = learn_metric(snapshots, "circle", SMALL, seed=0, bounds=ARC)
    m = out["metrics"]
    assert m["alignment"] >= 0.8 and m["alignment"] > m["alignment_initial"] + 0.15
    assert out["chains"]["points"].shape == (6, 4, 2) and out["chains"]["paths"].shape == (5, 4, 10, 2)
    assert out["quiver"]["learned"].shape == (25, 2)


class _Preempted(Exception):
    pass


def test_resume_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    """Killed after its checkpoint at iteration 10 and restarted, the run ends with the same metric."""
    cfg = {**SMALL, "iterations": 16, "checkpoint_every": 10, "n_pairs": 2, "metric_warmup": 2}
    cfg["amortizer"] = {**SMALL["amortizer"], "pretrain_steps": 10, "refit_every": 7, "refit_steps": 5}
    snapshots = make_snapshots("circle", seed=0)
    whole = learn_metric(snapshots, "circle", cfg, seed=1, checkpoint_dir=tmp_path / "a", bounds=ARC)
    original = metric_learning._MetricRun.step

    def dying(self, it):
        if it == 13:
            raise _Preempted
        original(self, it)

    monkeypatch.setattr(metric_learning._MetricRun, "step", dying)
    with pytest.raises(_Preempted):
        learn_metric(snapshots, "circle", cfg, seed=1, checkpoint_dir=tmp_path / "b", bounds=ARC)
    monkeypatch.setattr(metric_learning._MetricRun, "step", original)
    resumed = learn_metric(snapshots, "circle", cfg, seed=1, checkpoint_dir=tmp_path / "b", bounds=ARC)
    assert resumed["curve"] == whole["curve"]
    for key, value in whole["states"]["metric"].items():
        torch.testing.assert_close(resumed["states"]["metric"][key], value, atol=0, rtol=0)
