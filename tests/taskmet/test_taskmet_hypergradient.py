"""The implicit hypergradient (paper §4 eq. 5; known answers 1 and 3; docs/papers/taskmet.md, "Known answers")."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.nn.functional import softplus

from papersuite.taskmet.hypergradient import conjugate_gradient, implicit_hypergradient, normal_cg
from papersuite.taskmet.inner import FlatParams
from papersuite.taskmet.metric import metric_loss
from papersuite.taskmet.models import MetricNet, make_predictor

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def _wls_problem(n: int = 60, p: int = 3, seed: int = 0) -> dict[str, Tensor]:
    """Weighted least squares with a sample-dependent weight a_φ(x) = softplus(xᵀφ) (known answer 1)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=gen, dtype=F64)
    y = torch.sin(2.0 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * torch.randn(n, generator=gen, dtype=F64)
    X_val = torch.randn(n, p, generator=gen, dtype=F64)
    y_val = torch.sin(2.0 * X_val[:, 0]) + X_val[:, 1] ** 2
    phi = 0.5 * torch.randn(p, generator=gen, dtype=F64)
    return {"X": X, "y": y, "X_val": X_val, "y_val": y_val, "phi": phi}


def _wls_solution(X: Tensor, y: Tensor, phi: Tensor) -> Tensor:
    """θ*(φ) = (XᵀWX)⁻¹XᵀWy, W = diag(softplus(Xφ))."""
    w = softplus(X @ phi)  # (n,)
    return torch.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))


def _wls_outer(theta: Tensor, prob: dict[str, Tensor]) -> Tensor:
    """A nonlinear validation loss of θ (the 'task')."""
    return torch.log1p((prob["X_val"] @ theta - prob["y_val"]).pow(2)).mean()


@pytest.mark.parametrize("solver", ["cg", "normal_cg", "exact"])
def test_implicit_gradient_matches_closed_form_and_finite_differences(solver: str) -> None:
    """IFT + HVP solver = autograd through the closed form = central differences (known answer 1).

    Measured (float64, N = 60, p = 3, gradient ≈ (0.056, −0.135, 0.051)): max |IFT − closed form| = 2e-17 (cg),
    1e-17 (normal_cg), 7e-18 (exact); max |closed form − FD(h = 1e-6)| = 1.2e-10.
    """
    prob = _wls_problem()
    X, y, phi = prob["X"], prob["y"], prob["phi"]

    def inner_loss(theta: Tensor, phi_: Tensor) -> Tensor:
        return (softplus(X @ phi_) * (X @ theta - y).pow(2)).mean()

    theta_star = _wls_solution(X, y, phi)
    theta_req = theta_star.clone().requires_grad_(True)
    outer_grad = torch.autograd.grad(_wls_outer(theta_req, prob), theta_req)[0]
    ift = implicit_hypergradient(inner_loss, outer_grad, theta_star, phi, solver=solver, maxiter=10, ridge=0.0)

    phi_req = phi.clone().requires_grad_(True)
    closed = torch.autograd.grad(_wls_outer(_wls_solution(X, y, phi_req), prob), phi_req)[0]
    h = 1e-6
    fd = torch.stack(
        [
            (_wls_outer(_wls_solution(X, y, phi + h * e), prob) - _wls_outer(_wls_solution(X, y, phi - h * e), prob))
            / (2 * h)
            for e in torch.eye(3, dtype=F64)
        ]
    )
    assert float(closed.abs().max()) > 1e-3  # a non-trivial gradient
    assert torch.allclose(ift, closed, atol=1e-8, rtol=0)
    assert torch.allclose(closed, fd, atol=1e-6, rtol=0)


def test_cg_solvers_solve_a_spd_system() -> None:
    """CG and normal-CG (ridge 0) reach the dense solution of an SPD 8 × 8 system in ≤ 30 iterations."""
    gen = torch.Generator().manual_seed(1)
    B = torch.randn(8, 8, generator=gen, dtype=F64)
    M = B @ B.T + 0.5 * torch.eye(8, dtype=F64)
    b = torch.randn(8, generator=gen, dtype=F64)
    exact = torch.linalg.solve(M, b)
    assert torch.allclose(conjugate_gradient(lambda v: M @ v, b, maxiter=30), exact, atol=1e-9)
    assert torch.allclose(normal_cg(lambda v: M @ v, b, maxiter=60, ridge=0.0), exact, atol=1e-6)
    # 2 iterations only: a truncated, different answer (the authors' 5-iteration solve is deliberately rough)
    assert not torch.allclose(conjugate_gradient(lambda v: M @ v, b, maxiter=2), exact, atol=1e-3)


def test_global_diagonal_metric_gives_zero_hypergradient_for_a_decoupled_linear_model() -> None:
    """Each output has its own linear map, so θ* does not depend on a global diagonal metric: the
    hypergradient is 0 even on noisy data (known answer 3). Measured: max |dL/dφ| = 1e-15."""
    gen = torch.Generator().manual_seed(2)
    n, p, d = 80, 4, 3
    X = torch.randn(n, p, generator=gen, dtype=F64)
    Y = torch.tanh(X @ torch.randn(p, d, generator=gen, dtype=F64)) + 0.3 * torch.randn(n, d, generator=gen, dtype=F64)
    theta_star = torch.linalg.lstsq(X, Y).solution.reshape(-1)  # (p·d,) OLS per output
    phi = torch.tensor([0.3, -1.0, 0.7], dtype=F64)  # log of the diagonal

    def inner_loss(theta: Tensor, phi_: Tensor) -> Tensor:
        err = X @ theta.view(p, d) - Y  # (n, d)
        return (phi_.exp() * err.pow(2)).sum(-1).mean()

    outer_grad = torch.randn(p * d, generator=gen, dtype=F64)  # any task gradient
    hyper = implicit_hypergradient(inner_loss, outer_grad, theta_star, phi, solver="normal_cg", maxiter=5)
    assert float(hyper.abs().max()) < 1e-12


def test_sample_dependent_metric_gives_zero_hypergradient_when_realizable() -> None:
    """Noise-free data that the linear predictor represents exactly: the metric network's hypergradient ≈ 0
    (known answer 3, the paper's §3 remark that a metric matters only under limited capacity).
    Measured: max |dL/dφ| = 0.0 exactly, against 0.50 when the targets get a cubic term."""
    torch.manual_seed(3)
    n_inst, n_items, p, d = 20, 5, 3, 2
    predictor, metric = make_predictor(p, d, [], "none").double(), MetricNet(p, d, [8]).double()
    pred_params, metric_params = FlatParams(predictor), FlatParams(metric)
    x = torch.randn(n_inst, n_items, p, dtype=F64)
    W, b = torch.randn(d, p, dtype=F64), torch.randn(d, dtype=F64)
    y_linear = x @ W.T + b  # (I, n, d)
    theta_star = torch.cat([W.reshape(-1), b])  # Linear's (weight, bias) order
    phi = metric_params.flatten()
    outer_grad = torch.randn(theta_star.shape, dtype=F64)

    def hyper_for(y: Tensor) -> Tensor:
        def inner_loss(theta: Tensor, phi_: Tensor) -> Tensor:
            return metric_loss(pred_params(theta, x), y, metric_params(phi_, x))

        # L_pred is quadratic in θ: one Newton step from θ₀ = (W, b) lands on the metric-weighted optimum
        grad_0 = torch.func.grad(inner_loss)(theta_star, phi)
        theta_opt = theta_star - torch.linalg.solve(torch.func.hessian(inner_loss)(theta_star, phi), grad_0)
        return implicit_hypergradient(inner_loss, outer_grad, theta_opt, phi, maxiter=5)

    assert float(hyper_for(y_linear).abs().max()) < 1e-12
    assert float(hyper_for(y_linear + x[..., :1] ** 3).abs().max()) > 1e-3  # misspecified: the metric matters
