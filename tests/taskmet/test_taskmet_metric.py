"""The metric A_φ(x) = LLᵀ + e^s I and the metric-weighted prediction loss (known answers 2 and 4;
docs/papers/taskmet.md, "Known answers")."""

from __future__ import annotations

import pytest
import torch

from papersuite.taskmet.inner import FlatParams
from papersuite.taskmet.metric import metric_loss, mse
from papersuite.taskmet.models import MetricNet, make_predictor

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("d", [1, 4, 10])
def test_metric_is_positive_definite_with_floor_exp_s(d: int) -> None:
    """λ_min(A_φ(x)) ≥ e^s for random inputs and a random s (A6 test 4)."""
    torch.manual_seed(d)
    metric = MetricNet(p=6, d=d, hidden=[16]).double()
    with torch.no_grad():
        metric.log_scale.fill_(-1.3)
        for param in metric.net.parameters():
            param.mul_(3.0)  # large L, so the floor is tested away from A ≈ e^s I
    x = torch.randn(500, 6, dtype=torch.float64) * 4.0  # (500, 6)
    A = metric(x)  # (500, d, d)
    assert A.shape == (500, d, d)
    assert torch.allclose(A, A.transpose(-1, -2))
    lam_min = torch.linalg.eigvalsh(A)[:, 0]
    # measured min over inputs of λ_min − e^s: 1.2e-3 (d = 1), 3.8e-6 (d = 4), 8.7e-6 (d = 10), with λ_max up
    # to 1.6e3: the bound is tight (a near-singular L(x)) and never crossed
    assert float((lam_min.detach() - torch.exp(torch.tensor(-1.3, dtype=torch.float64))).min()) >= -1e-12


def test_predictor_shapes_and_activation() -> None:
    """hidden=[] is one Linear; the output activation is applied last."""
    linear = make_predictor(3, 2, [], "none")
    assert [type(m).__name__ for m in linear] == ["Linear"]
    mlp = make_predictor(3, 2, [5, 7], "tanh")
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Tanh"]
    assert mlp(torch.randn(4, 9, 3)).shape == (4, 9, 2)
    with pytest.raises(ValueError, match="out_activation"):
        make_predictor(3, 2, [], "gelu")


def test_identity_metric_loss_is_d_times_mse() -> None:
    """With A = I the prediction loss (batch mean of errᵀ A err) is d_y × the per-element MSE (A6 test 2)."""
    gen = torch.Generator().manual_seed(0)
    y_hat, y = torch.randn(7, 5, 3, generator=gen), torch.randn(7, 5, 3, generator=gen)
    eye = torch.eye(3).expand(7, 5, 3, 3)
    assert torch.allclose(metric_loss(y_hat, y, eye), 3 * mse(y_hat, y), rtol=1e-6)
    assert torch.allclose(metric_loss(y_hat, y), 3 * mse(y_hat, y), rtol=1e-6)


def test_constant_metric_gives_the_least_squares_fit() -> None:
    """A_φ(x) ≡ c I (L_φ ≡ 0, s = log c): the metric-weighted optimum of a linear predictor is OLS
    (A6 test 2). Measured: max |θ*_metric − θ*_OLS| = 4e-16 (float64)."""
    torch.manual_seed(0)
    predictor, metric = make_predictor(2, 1, [], "none").double(), MetricNet(2, 1, [4]).double()
    with torch.no_grad():
        metric.net[-1].weight.zero_()
        metric.net[-1].bias.zero_()
        metric.log_scale.fill_(1.7)
    pred_params, metric_params = FlatParams(predictor), FlatParams(metric)
    x = torch.randn(30, 8, 2, dtype=torch.float64)
    y = torch.sin(3 * x[..., :1]) + x[..., 1:] ** 2  # (30, 8, 1), not linear in x
    phi = metric_params.flatten()

    def inner_loss(theta: torch.Tensor) -> torch.Tensor:
        return metric_loss(pred_params(theta, x), y, metric_params(phi, x))

    theta_0 = pred_params.flatten()
    theta_star = theta_0 - torch.linalg.solve(
        torch.func.hessian(inner_loss)(theta_0), torch.func.grad(inner_loss)(theta_0)
    )
    design = torch.cat([x.reshape(-1, 2), torch.ones(240, 1, dtype=torch.float64)], dim=1)  # (240, 3)
    ols = torch.linalg.lstsq(design, y.reshape(-1, 1)).solution.squeeze(-1)  # (w1, w2, b)
    assert torch.allclose(theta_star, ols, atol=1e-10, rtol=0)
