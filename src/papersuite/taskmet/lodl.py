"""LODL, locally optimal decision losses (Shah et al., NeurIPS 2022), the third baseline of TaskMet's Table 1
(paper §5.1; docs/papers/taskmet.md, "LODL").

For every training instance n, LODL samples K predictions around the truth, ŷ_nk = y_n + ε_nk with
ε ~ N(0, (σ · std(y))²) per coordinate, measures each one's decision regret

    r_nk = g(z(y_n), y_n) − g(z(ŷ_nk), y_n) ≥ 0   (relaxed decisions, as the training task loss),

and fits a local surrogate by least squares. The family here is LODL's WeightedMSE,

    LODL_n(ŷ) = Σ_i w_ni (ŷ_ni − y_ni)²,   w_n ≥ 0,   min_w Σ_k (Σ_i w_ni ε_nki² − r_nk)²,

solved exactly per instance by non-negative least squares. The predictor is then trained on the sum of the
surrogates, which is the metric loss with a fixed diagonal metric A_n = diag(w_n): LODL is MSE under weights
learned once, offline, TaskMet under a metric learned in the loop.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .task import Split, Task

__all__ = ["fit_weighted_mse", "lodl_metric", "sample_regrets"]


def sample_regrets(task: Task, split: Split, n_samples: int, noise: float) -> tuple[Tensor, Tensor]:
    """K noisy predictions per instance and their regrets: (ε (I, K, n, d), r (I, K)); torch's global RNG."""
    y = split.y  # (I, n, d)
    n_inst, k = y.shape[0], int(n_samples)
    eps = torch.randn(n_inst, k, *y.shape[1:]) * (noise * y.std())  # (I, K, n, d)
    y_hat = (y.unsqueeze(1) + eps).flatten(0, 1)  # (I·K, n, d)
    aux_k = {name: v.repeat_interleave(k, dim=0) for name, v in split.aux.items()}  # instance-major, as y_hat
    y_k = y.repeat_interleave(k, dim=0)  # (I·K, n, d)
    with torch.no_grad():
        best = task.objective(task.decision_relaxed(y, split.aux), y, split.aux)  # (I,)
        got = task.objective(task.decision_relaxed(y_hat, aux_k), y_k, aux_k).reshape(n_inst, k)  # (I, K)
    return eps, best.unsqueeze(1) - got


def fit_weighted_mse(eps: Tensor, regrets: Tensor) -> Tensor:
    """Per-instance NNLS of regrets on squared errors: ε (I, K, n, d), r (I, K) -> w (I, n, d) ≥ 0."""
    from scipy.optimize import nnls

    features = eps.pow(2).flatten(2).double().numpy()  # (I, K, n·d)
    targets = regrets.double().numpy()  # (I, K)
    weights = np.stack([nnls(f, t)[0] for f, t in zip(features, targets)])  # (I, n·d)
    return torch.from_numpy(weights).reshape(eps.shape[0], *eps.shape[2:]).float()


def lodl_metric(task: Task, split: Split, n_samples: int, noise: float) -> Tensor:
    """The fixed metric of LODL's WeightedMSE on every training instance: A (I, n, d, d) = diag(w_n)."""
    eps, regrets = sample_regrets(task, split, n_samples, noise)
    return torch.diag_embed(fit_weighted_mse(eps, regrets))
