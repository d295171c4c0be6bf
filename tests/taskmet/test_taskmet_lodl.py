"""LODL's WeightedMSE baseline (papersuite.taskmet.lodl; docs/papers/taskmet.md, "LODL"): the fit recovers known
weights, the regrets are those of the task's decisions, and on the cubic task the learned weights sit on the items
the decision depends on."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import Tensor

from papersuite.taskmet import cubic
from papersuite.taskmet.lodl import fit_weighted_mse, lodl_metric, sample_regrets
from papersuite.taskmet.task import Split
from papersuite.taskmet.train import train


def test_nnls_recovers_weights_of_an_exactly_weighted_quadratic_regret():
    """Regrets r_k = Σ_i w_i ε_ki² with w ≥ 0 (some exactly 0) are fitted back to w (measured error 2.3e-17)."""
    gen = torch.Generator().manual_seed(0)
    w = torch.tensor([[[2.0], [0.0], [0.5], [1.0]], [[0.0], [3.0], [0.0], [0.25]]])  # (I=2, n=4, d=1)
    eps = torch.randn(2, 32, 4, 1, generator=gen, dtype=torch.float64)  # (I, K, n, d)
    regrets = (eps.pow(2) * w.unsqueeze(1)).sum((-1, -2))  # (I, K)
    fitted = fit_weighted_mse(eps, regrets)
    torch.testing.assert_close(fitted, w, atol=1e-6, rtol=0)


class _Quadratic:
    """A task whose objective is −Σ c_i (z_i − y_i)² with z = ŷ: the regret is exactly Σ c_i (ŷ_i − y_i)²."""

    name, output_dim = "quadratic", 1

    def decision_relaxed(self, y_hat: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        return y_hat

    decision_hard = decision_relaxed

    def objective(self, z: Tensor, y: Tensor, aux: Mapping[str, Tensor]) -> Tensor:
        return -(aux["c"].unsqueeze(-1) * (z - y).pow(2)).sum((-1, -2))


def test_regrets_are_the_decision_losses_and_the_metric_is_their_weights():
    torch.manual_seed(0)
    c = torch.tensor([[1.0, 0.0, 4.0], [0.5, 2.0, 0.0]])  # (I, n)
    split = Split(torch.zeros(2, 3, 1), torch.randn(2, 3, 1), {"c": c})
    eps, regrets = sample_regrets(_Quadratic(), split, n_samples=16, noise=0.1)
    assert eps.shape == (2, 16, 3, 1) and regrets.shape == (2, 16)
    torch.testing.assert_close(regrets, (c[:, None, :, None] * eps.pow(2)).sum((-1, -2)))
    torch.manual_seed(0)
    A = lodl_metric(_Quadratic(), split, n_samples=16, noise=0.1)  # (I, n, 1, 1) = diag(w_n)
    torch.testing.assert_close(A[..., 0, 0], c, atol=1e-5, rtol=0)  # float32 regrets: measured 9.5e-7


def test_cubic_weights_favour_the_items_the_top_k_decision_hinges_on_and_lodl_trains():
    """On cubic top-k the regret depends on the items whose true value is near the top: LODL's mean weight on each
    instance's 5 highest items is several times that on its 10 lowest (measured 4.1, 4.6, 3.3 for RNG seeds 0, 1,
    2), and training under the weights runs."""
    torch.manual_seed(0)
    task = cubic.make_task({"budget": 1, "sinkhorn_eps": 0.01, "sinkhorn_iters": 50})
    splits = cubic.make_data({"n_train": 20, "n_val": 10, "n_test": 10, "n_items": 20}, seed=0)
    A = lodl_metric(task, splits["train"], n_samples=64, noise=0.1)[..., 0, 0]  # (I, n)
    by_rank = A.gather(1, splits["train"].y[..., 0].argsort(-1, descending=True))  # (I, n), highest item first
    ratio = by_rank[:, :5].mean() / by_rank[:, 10:].mean()
    assert ratio > 2.0, float(ratio)
    result = train(task, splits, "lodl", {"mse_iters": 3, "inner_iters_init": 20, "inner_iters": 5}, seed=0)
    assert result.metric_state is None and [row["iteration"] for row in result.curve] == [0.0, 2.0]
    assert all(row["train_lodl_loss"] >= 0 for row in result.curve)


@pytest.mark.parametrize("noise", [0.05, 0.2])
def test_regrets_grow_with_the_noise_on_cubic(noise):
    torch.manual_seed(1)
    task = cubic.make_task({"budget": 1, "sinkhorn_eps": 0.01, "sinkhorn_iters": 50})
    split = cubic.make_data({"n_train": 10, "n_val": 5, "n_test": 5, "n_items": 20}, seed=0)["train"]
    _, small = sample_regrets(task, split, 32, noise)
    torch.manual_seed(1)
    _, large = sample_regrets(task, split, 32, 2 * noise)
    assert large.mean() > small.mean()
