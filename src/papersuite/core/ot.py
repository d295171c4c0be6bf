"""Distances between empirical distributions, shared by the wings that score generated samples: exact W1 and W2
between uniform empirical measures (POT's network simplex) and the RBF-mixture MMD (the MMD of the flow-matching
papers' evaluation code, e.g. Meta Flow Matching's `util/distribution_distances.py`; docs/papers/mfm.md "Metrics").

Conventions: x (n, D) and y (m, D) are point sets, each point of weight 1/n (1/m); the ground cost is |x − y| for W1
and |x − y|² for W2 (W2 is the square root of that OT cost). Inputs are computed in float64 whatever their dtype.
wfm keeps its own exact OT (wfm/metrics.py): for n = m it solves the assignment problem, 20× faster on its small
point clouds, and its numbers are pinned by its tests.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MMD_GAMMAS", "exact_ot_cost", "mmd_rbf", "w1", "w2"]

MMD_GAMMAS = (2.0, 1.0, 0.5, 0.1, 0.01, 0.005)


def exact_ot_cost(x: ArrayLike, y: ArrayLike, squared: bool, num_iter_max: int = 10_000_000) -> float:
    """min over couplings of Σ π_ij c(x_i, y_j) between the uniform measures on x (n, D) and y (m, D), with
    c = |x − y|² (squared) or |x − y| (POT emd2, network simplex)."""
    import ot

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cost = ot.dist(x, y, metric="sqeuclidean")  # (n, m)
    if not squared:
        cost = np.sqrt(cost)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    return float(ot.emd2(a, b, cost, numItermax=num_iter_max))


def w1(x: ArrayLike, y: ArrayLike) -> float:
    """W1 between the empirical measures of x (n, D) and y (m, D)."""
    return exact_ot_cost(x, y, squared=False)


def w2(x: ArrayLike, y: ArrayLike, num_iter_max: int = 10_000_000) -> float:
    """W2 between the empirical measures of x (n, D) and y (m, D)."""
    return math.sqrt(max(exact_ot_cost(x, y, squared=True, num_iter_max=num_iter_max), 0.0))


def mmd_rbf(x: ArrayLike, y: ArrayLike, gammas: tuple[float, ...] = MMD_GAMMAS) -> float:
    """Mean over γ of the biased (V-statistic) MMD² mean K_xx + mean K_yy − 2 mean K_xy, K = exp(−γ‖·−·‖²)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)

    dxx, dyy, dxy = sq(x, x), sq(y, y), sq(x, y)
    vals = [np.exp(-g * dxx).mean() + np.exp(-g * dyy).mean() - 2.0 * np.exp(-g * dxy).mean() for g in gammas]
    return float(np.mean(vals))
