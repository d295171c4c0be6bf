"""The metric A_φ(x) = LLᵀ + e^s I and the metric-weighted prediction loss (spec A6 tests 2 and 4;
docs/papers/taskmet.md, "Known answers")."""

from __future__ import annotations

import pytest
import torch

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
    # measured: min over inputs − e^s = 0 up to 1e-16 for d > 1 (rank-deficient L for some x is rare but
    # LLᵀ ≥ 0 always); the floor is exact
    assert float((lam_min - torch.exp(torch.tensor(-1.3, dtype=torch.float64))).min()) >= -1e-12


def test_predictor_shapes_and_activation() -> None:
    """hidden=[] is one Linear; the output activation is applied last."""
    linear = make_predictor(3, 2, [], "none")
    assert [type(m).__name__ for m in linear] == ["Linear"]
    mlp = make_predictor(3, 2, [5, 7], "tanh")
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Tanh"]
    assert mlp(torch.randn(4, 9, 3)).shape == (4, 9, 2)
    with pytest.raises(ValueError, match="out_activation"):
        make_predictor(3, 2, [], "gelu")
