"""Known answers of the neural dual (docs/papers/lagot.md, "Known answers": dual on Gaussians, loss routing)."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot.ctransform import half_sq_euclidean
from papersuite.lagot.dual import dual_loss, nlot_losses, regression_amortization_loss
from papersuite.lagot.geometry import make_geometry
from papersuite.lagot.models import PotentialMLP, ResidualMap
from papersuite.lagot.nlot import train_nlot
from papersuite.lagot.sampling import samplers

GAUSSIANS = {  # the tiny Euclidean run (docs/papers/lagot.md, "Tiny runs")
    "iterations": 1000,
    "batch_size": 256,
    "potential_hidden": [64, 64],
    "map_hidden": [64, 64],
    "lr": 1e-3,
    "lr_final_fraction": 0.1,
    "anneal_steps": 0,
    "ctransform": {"max_iter": 10},
    "n_eval": 512,
    "eval_repeats": 5,
    "n_dual": 4096,
    "checkpoint_every": 0,
}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


def test_gaussians_dual_and_map():
    """N((−1,0), 0.25²I) → N((0,1), 0.25²I) under ½|x−y|²: OT cost ½|Δm|² = 1 and T(x) = x + (1, 1).
    Measured (seed 0): dual 1.012 ± 0.008, mean |T(x) − x − (1,1)| 0.009, W2 0.067 vs noise 0.068."""
    source, target = samplers("euclidean")
    out = train_nlot(make_geometry("euclidean"), "closed_form", source, target, GAUSSIANS, seed=0)
    m = out["metrics"]
    assert abs(m["dual"] - 1.0) < 0.05
    fig = out["figure"]
    shift = torch.tensor([1.0, 1.0])
    assert (fig["mapped"] - fig["source"] - shift).norm(dim=-1).mean() < 0.05
    assert m["w2"] <= 2.0 * m["noise_w2"]
    assert m["ode_solves"] == 0


def test_losses_route_gradients():
    """The dual loss moves g only, the regression loss θ only; their values are the dual and regression formulas."""
    torch.manual_seed(0)
    g, T = PotentialMLP(2, [16]), ResidualMap(2, [16])
    x, y = torch.randn(32, 2), torch.randn(32, 2) + 1.0
    losses, refined = nlot_losses(half_sq_euclidean, g, T, x, y, None, {"max_iter": 5})
    y_star = refined.solution
    expected = -((half_sq_euclidean(x, y_star) - g(y_star)).mean() + g(y).mean())
    torch.testing.assert_close(losses.dual_loss, expected)
    torch.testing.assert_close(losses.amor_loss, (T(x) - y_star).pow(2).mean())
    g_grads = torch.autograd.grad(losses.dual_loss, list(g.parameters()) + list(T.parameters()), allow_unused=True)
    assert all(v is None or v.abs().max() == 0 for v in g_grads[len(list(g.parameters())) :])
    assert any(v is not None and v.abs().max() > 0 for v in g_grads[: len(list(g.parameters()))])
    a_grads = torch.autograd.grad(losses.amor_loss, list(g.parameters()), allow_unused=True)
    assert all(v is None for v in a_grads)
    assert regression_amortization_loss(y_star, y_star) == 0
    assert dual_loss(torch.ones(3), torch.zeros(3), torch.ones(2)) == -2.0


class _Preempted(Exception):
    pass


def test_resume_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    """A run killed after its checkpoint at iteration 20 and restarted ends with the same potential and curve."""
    cfg = {**GAUSSIANS, "iterations": 40, "batch_size": 32, "n_eval": 32, "eval_repeats": 2, "n_dual": 64}
    cfg["checkpoint_every"] = 20
    source, target = samplers("euclidean")
    geometry = make_geometry("euclidean")
    whole = train_nlot(geometry, "closed_form", source, target, cfg, seed=3, checkpoint_dir=tmp_path / "a")
    from papersuite.lagot import nlot

    original_step = nlot._NLOTRun.step

    def dying_step(self, it):
        if it == 25:
            raise _Preempted
        original_step(self, it)

    monkeypatch.setattr(nlot._NLOTRun, "step", dying_step)
    with pytest.raises(_Preempted):
        train_nlot(geometry, "closed_form", source, target, cfg, seed=3, checkpoint_dir=tmp_path / "b")
    monkeypatch.setattr(nlot._NLOTRun, "step", original_step)
    resumed = train_nlot(geometry, "closed_form", source, target, cfg, seed=3, checkpoint_dir=tmp_path / "b")
    assert resumed["curve"]["dual"] == whole["curve"]["dual"]
    for key, value in whole["states"]["potential"].items():
        torch.testing.assert_close(resumed["states"]["potential"][key], value, atol=0, rtol=0)
    assert resumed["metrics"]["w2"] == whole["metrics"]["w2"]
