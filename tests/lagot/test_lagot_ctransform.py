"""Known answers of the batched L-BFGS c-transform (docs/papers/lagot.md, "Known answers": c-transform)."""

from __future__ import annotations

import pytest
import torch

from papersuite.lagot.ctransform import ctransform_objective, half_sq_euclidean, solve_ctransform

D64 = torch.float64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


@pytest.mark.parametrize("dtype", [torch.float32, D64])
def test_linear_potential_closed_form(dtype):
    """g(y) = ⟨a, y⟩ under ½|x−y|²: argmin x + a, g^c(x) = −⟨a, x⟩ − ½|a|² (measured error ≤ 5e-7 in float32)."""
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([0.3, -0.7], dtype=dtype)
    x = torch.randn(256, 2, generator=g, dtype=dtype)
    start = x + torch.randn(256, 2, generator=g, dtype=dtype)
    result = solve_ctransform(half_sq_euclidean, lambda y: y @ a, x, start)
    torch.testing.assert_close(result.solution, x + a, atol=1e-4, rtol=0)
    torch.testing.assert_close(result.value, -(x @ a) - 0.5 * a.dot(a), atol=1e-4, rtol=0)


def test_nonquadratic_stationarity_and_independence():
    """g(y) = −¼|y|⁴ (a strictly convex objective): the gradient at the solution is below tol for every sample
    (measured max 1.0e-5 with tol 1e-5), and a sample solved alone gives the same answer as inside the batch."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 2, generator=g, dtype=D64)

    def potential(y):
        return -0.25 * (y * y).sum(-1) ** 2

    result = solve_ctransform(half_sq_euclidean, potential, x, x.clone(), max_iter=50, tol=1e-8)
    y = result.solution.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ctransform_objective(half_sq_euclidean, potential, x, y, None).sum(), y)
    assert grad.norm(dim=-1).max() < 1e-6
    alone = solve_ctransform(half_sq_euclidean, potential, x[5:6], x[5:6].clone(), max_iter=50, tol=1e-8)
    torch.testing.assert_close(alone.solution, result.solution[5:6], atol=1e-10, rtol=0)


def test_bounds_clip_the_argmin():
    """Inside the bounds from the start, the clipped problem's argmin is clip(x + a) exactly (separable box)."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(256, 2, generator=g, dtype=D64) - 0.5
    a = torch.tensor([0.3, -0.7], dtype=D64)
    bounds = ((-0.5, 0.5), (-0.5, 0.5))
    result = solve_ctransform(half_sq_euclidean, lambda y: y @ a, x, x, bounds)
    torch.testing.assert_close(result.solution, (x + a).clamp(-0.5, 0.5), atol=1e-8, rtol=0)
    assert result.solution.abs().max() <= 0.5


def test_zero_iterations_returns_the_amortized_guess():
    """max_iter = 0: the solver returns clip(y_init) untouched (the map is then ŷ_θ alone)."""
    x = torch.zeros(4, 2, dtype=D64)
    y0 = torch.tensor([[0.1, 2.0], [-3.0, 0.0], [0.2, 0.3], [1.5, -1.5]], dtype=D64)
    result = solve_ctransform(half_sq_euclidean, lambda y: y.sum(-1), x, y0, ((-1.0, 1.0), (-1.0, 1.0)), max_iter=0)
    torch.testing.assert_close(result.solution, y0.clamp(-1.0, 1.0))
    assert int(result.num_iter.sum()) == 0


def _bent_box_cost(dtype):
    """The box's amortized path cost (a random amortizer with enlarged last layer: bent paths) and its closed form."""
    from papersuite.lagot import amortizer as amo
    from papersuite.lagot.geometry import make_geometry

    torch.manual_seed(0)
    box, net = make_geometry("box"), amo.SplineAmortizer(2, 10, (32, 32)).to(dtype)
    with torch.no_grad():
        net.net[-1].weight.mul_(10.0)
    return (
        box,
        lambda x, y: amo.amortized_cost(box, net, x, y, 1.0, 20),
        lambda x, y: amo.amortized_cost_and_grad(box, net, x, y, 1.0, 20),
    )


def test_closed_form_objective_gradient_equals_autograd_through_the_clip():
    """ctransform_value_and_grad (the cost's closed-form gradient, autograd through g alone) equals autograd through
    ctransform_objective, clip included: points inside, outside and exactly on the bounds (where autograd gives
    the clip's slope ½). Measured in float64: values identical, gradients within 3.6e-15 (max |∇f| 12.1)."""
    from papersuite.lagot.ctransform import ctransform_value_and_grad
    from papersuite.lagot.models import PotentialMLP

    box, cost, cost_and_grad = _bent_box_cost(D64)
    potential = PotentialMLP(2, [16, 16]).double()
    g = torch.Generator().manual_seed(3)
    x, y = 3 * torch.rand(64, 2, generator=g, dtype=D64) - 1.5, 4 * torch.rand(64, 2, generator=g, dtype=D64) - 2
    y[:4, 0], y[4:8, 1] = 1.5, -1.5  # on the bounds
    assert (y.abs() > 1.5).any()  # and outside them
    yr = y.clone().requires_grad_(True)
    value = ctransform_objective(cost, potential, x, yr, box.bounds)
    (grad,) = torch.autograd.grad(value.sum(), yr)
    value_cf, grad_cf = ctransform_value_and_grad(cost_and_grad, potential, x, y, box.bounds)
    torch.testing.assert_close(value_cf, value.detach(), atol=1e-13, rtol=0)
    torch.testing.assert_close(grad_cf, grad, atol=1e-12, rtol=0)


def test_solver_with_closed_form_cost_gradient_matches_autograd():
    """solve_ctransform with cost_and_grad (its trials evaluated with gradients) reaches the autograd solver's
    argmins and iteration counts (float64, box geometry, 10 L-BFGS iterations: measured max difference 4.9e-15,
    195 iterations in all, the same count per sample)."""
    from papersuite.lagot.models import PotentialMLP

    box, cost, cost_and_grad = _bent_box_cost(D64)
    potential = PotentialMLP(2, [16, 16]).double()
    g = torch.Generator().manual_seed(4)
    x = 0.25 * torch.rand(128, 2, generator=g, dtype=D64) - 1.25
    start = x + torch.tensor([2.25, 0.0], dtype=D64) + 0.1 * torch.randn(128, 2, generator=g, dtype=D64)
    kwargs = {"max_iter": 10, "max_linesearch": 8}
    auto = solve_ctransform(cost, potential, x, start, box.bounds, **kwargs)
    closed = solve_ctransform(cost, potential, x, start, box.bounds, cost_and_grad=cost_and_grad, **kwargs)
    assert int(auto.num_iter.sum()) > 128  # the solver moved (measured 195 iterations, up to 0.59 from the start)
    torch.testing.assert_close(closed.solution, auto.solution, atol=1e-10, rtol=0)
    torch.testing.assert_close(closed.num_iter, auto.num_iter)
