"""Known answers of the budget-allocation task and the capped-simplex solver (docs/papers/taskmet.md,
"Budget allocation" and "Known answers")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from papersuite.taskmet import budget as B
from papersuite.taskmet.simplex import project_capped_simplex, project_simplex

D64 = torch.float64
CONFIG = {
    "n_train": 40,
    "n_val": 10,
    "n_test": 100,
    "n_items": 5,
    "n_targets": 10,
    "budget": 2,
    "n_fake_features": 0,
    "ctr_rank": 2,
    "ctr_bias": -2.0,
    "ctr_scale": 2.0,
    "pgd_steps": 100,
    "pgd_lr": 0.1,
    "pgd_momentum": 0.9,
    "smoothing": 1.0,
}


@pytest.fixture(scope="module")
def test_y() -> torch.Tensor:
    """The 100 test instances' reach probabilities (100, 5, 10) in float64."""
    return B.make_data(CONFIG, 0)["test"].y.double()


def task_with(**overrides) -> B.BudgetAllocation:
    return B.make_task({**CONFIG, **overrides})


def bisection_capped_projection(v: np.ndarray, k: float) -> np.ndarray:
    """Independent reference: the KKT point of argmin ‖z − v‖² on {0 ≤ z ≤ 1, Σz = k}, z = clip(v − τ, 0, 1), with τ
    found by bisection on the monotone Σz(τ) = k (not SLSQP: its accuracy changed with scipy, 3.4e-14 before 1.17
    and 3.1e-7 with scipy 1.17.1 on the same inputs)."""
    low, high = float(v.min()) - 1.0, float(v.max())  # Σz(low) = n ≥ k, Σz(high) = 0 ≤ k
    for _ in range(200):  # the bracket halves each time: far below float64 resolution after ~60
        tau = 0.5 * (low + high)
        if np.clip(v - tau, 0.0, 1.0).sum() > k:
            low = tau
        else:
            high = tau
    return np.clip(v - 0.5 * (low + high), 0.0, 1.0)


# --- the capped-simplex projection -------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1.0, 2.0, 3.5])
def test_capped_projection_matches_the_kkt_point_and_is_feasible(k):
    """Exact breakpoint projection = the KKT point found by bisection (measured max error 4.4e-16) and feasible."""
    v = 2.0 * torch.randn(20, 5, generator=torch.Generator().manual_seed(0), dtype=D64)
    z = project_capped_simplex(v, k)
    torch.testing.assert_close(z.sum(-1), torch.full((20,), k, dtype=D64), atol=1e-12, rtol=0)
    assert z.min() >= 0 and z.max() <= 1
    ref = np.stack([bisection_capped_projection(row, k) for row in v.numpy()])
    np.testing.assert_allclose(z.numpy(), ref, atol=1e-12, rtol=0)


def test_capped_projection_with_k1_is_the_simplex_projection():
    """With k = 1 the cap z ≤ 1 is implied: the two algorithms agree (measured 2.2e-16)."""
    v = 0.6 * torch.randn(50, 7, generator=torch.Generator().manual_seed(1), dtype=D64)
    torch.testing.assert_close(project_capped_simplex(v, 1.0), project_simplex(v), atol=1e-12, rtol=0)


def test_projection_gradients_match_finite_differences():
    v = torch.randn(3, 5, generator=torch.Generator().manual_seed(2), dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: project_capped_simplex(a, 2.0), (v,))
    assert torch.autograd.gradcheck(project_simplex, (v,))


# --- the coverage objective and the decisions --------------------------------------------------------------


def test_coverage_gradient_matches_autograd(test_y):
    """The prefix/suffix-product gradient of g equals autograd's (measured 2.2e-16)."""
    z = torch.rand(10, 5, generator=torch.Generator().manual_seed(3), dtype=D64, requires_grad=True)
    auto = torch.autograd.grad(B.coverage(z, test_y[:10]).sum(), z)[0]
    torch.testing.assert_close(B.coverage_grad(z, test_y[:10]), auto, atol=1e-12, rtol=0)


def test_hard_decision_is_the_best_subset_by_brute_force(test_y):
    """Enumeration picks the k-subset of highest coverage, checked by a plain loop over itertools."""
    z = task_with().decision_hard(test_y, {}).squeeze(-1)
    for i in range(20):
        best = max(
            itertools.combinations(range(5), 2),
            key=lambda s: sum(1 - np.prod([1 - test_y[i, a, j].item() for a in s]) for j in range(10)),
        )
        assert set(torch.nonzero(z[i]).flatten().tolist()) == set(best)


def test_unsmoothed_pgd_never_beats_enumeration_and_mostly_reaches_it(test_y):
    """g is convex along e_i − e_j, so max over the capped simplex = best subset (pipage): PGD ≤ enumeration.

    Measured on the 100 test instances: PGD (γ = 0, 100 steps) reaches the best subset on 91 of them
    (a local maximum elsewhere), and ends at a fixed point of the projected-gradient map (residual 0).
    """
    task = task_with(smoothing=0.0)
    best = task.objective(task.decision_hard(test_y, {}), test_y, {})
    z = task.decision_relaxed(test_y, {})
    gap = best - task.objective(z, test_y, {})
    assert gap.min() >= -1e-9
    assert (gap <= 1e-3).double().mean() >= 0.85
    zz = z.squeeze(-1)
    step = project_capped_simplex(zz + 0.1 * B.coverage_grad(zz, test_y), 2.0)
    assert (step - zz).abs().max() <= 1e-6
    # random feasible points never beat the best subset either (the pipage argument)
    rnd = project_capped_simplex(2.0 * torch.rand(100, 200, 5, dtype=D64) - 0.5, 2.0)  # (I, 200, n)
    assert (B.coverage(rnd, test_y.unsqueeze(-3)).max(-1).values - best).max() <= 1e-9


def test_smoothed_pgd_is_the_global_maximum_of_the_smoothed_problem(test_y):
    """With γ = 1, PGD's value g − (γ/2)‖z‖² ≥ that of every subset and of 200 random feasible points per
    instance (measured: the largest excess of any of them over PGD is 0.0)."""
    task = task_with(smoothing=1.0)
    z = task.decision_relaxed(test_y, {}).squeeze(-1)

    def smoothed(points: torch.Tensor) -> torch.Tensor:  # (I, P, n) -> (I, P)
        return B.coverage(points, test_y.unsqueeze(-3)) - 0.5 * points.pow(2).sum(-1)

    ours = smoothed(z.unsqueeze(-2)).squeeze(-1)
    subsets = task.subsets.double().expand(100, -1, -1)
    rnd = project_capped_simplex(
        2.0 * torch.rand(100, 200, 5, dtype=D64, generator=torch.Generator().manual_seed(4)) - 0.5, 2.0
    )
    assert (smoothed(subsets).max(-1).values - ours).max() <= 1e-6
    assert (smoothed(rnd).max(-1).values - ours).max() <= 1e-6


def test_relaxed_decision_gradient_matches_finite_differences_and_needs_smoothing(test_y):
    """Autograd through the unrolled PGD = central differences (gradcheck, float64). Without smoothing every
    decision ends at a vertex, where its gradient is exactly 0 (measured on all 100 instances); with γ = 1,
    72% of them have a nonzero gradient (measured with a noisy prediction ŷ = y + 0.1ε)."""
    y_true = test_y[:3]
    y_hat = (y_true + 0.1 * torch.randn(y_true.shape, generator=torch.Generator().manual_seed(5), dtype=D64)).clamp_min(
        0
    )
    task = task_with(smoothing=1.0, pgd_steps=30)
    assert torch.autograd.gradcheck(
        lambda yh: task.objective(task.decision_relaxed(yh, {}), y_true, {}), (y_hat.requires_grad_(True),)
    )
    noisy = (test_y + 0.1 * torch.randn(test_y.shape, generator=torch.Generator().manual_seed(1), dtype=D64)).clamp_min(
        0
    )
    for gamma, lo, hi in [(0.0, 0.0, 0.0), (1.0, 0.6, 1.0)]:
        yh = noisy.clone().requires_grad_(True)
        t = task_with(smoothing=gamma)
        grad = torch.autograd.grad(t.objective(t.decision_relaxed(yh, {}), test_y, {}).sum(), yh)[0]
        nonzero = (grad.flatten(1).norm(dim=1) > 0).double().mean()
        assert lo <= nonzero <= hi, (gamma, nonzero)


# --- the data --------------------------------------------------------------------------------------------


def test_make_data_shapes_determinism_and_scrambling():
    """Shapes, y ∈ (0, 1), same seed same data, another seed other data; with no fake features x is an exact
    affine image of y (least-squares residual measured 3.6e-7 in float32; 1.55 with 20 fake features)."""
    splits = B.make_data(CONFIG, 0)
    assert {k: tuple(s.x.shape) for k, s in splits.items()} == {
        "train": (40, 5, 10),
        "val": (10, 5, 10),
        "test": (100, 5, 10),
    }
    assert all(s.y.shape == s.x.shape and s.x.dtype == torch.float32 for s in splits.values())
    assert all(s.y.min() > 0 and s.y.max() < 1 for s in splits.values())
    again, other = B.make_data(CONFIG, 0), B.make_data(CONFIG, 1)
    assert all(torch.equal(splits[k].x, again[k].x) and torch.equal(splits[k].y, again[k].y) for k in splits)
    assert not torch.equal(splits["train"].y, other["train"].y)
    y = torch.cat([s.y for s in splits.values()]).reshape(-1, 10).double()
    x = torch.cat([s.x for s in splits.values()]).reshape(-1, 10).double()
    design = torch.cat([y, torch.ones(len(y), 1, dtype=D64)], dim=1)
    resid = x - design @ torch.linalg.lstsq(design, x).solution
    assert resid.abs().max() < 1e-4
    noisy = B.make_data({**CONFIG, "n_fake_features": 20}, 0)["train"]
    nx, ny = noisy.x.reshape(-1, 10).double(), noisy.y.reshape(-1, 10).double()
    design = torch.cat([ny, torch.ones(len(ny), 1, dtype=D64)], dim=1)
    assert (nx - design @ torch.linalg.lstsq(design, nx).solution).abs().max() > 1e-2
