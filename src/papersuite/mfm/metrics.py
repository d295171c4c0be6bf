"""Distribution distances of MFM's evaluation, per population then averaged (Atanackovic et al., ICLR 2025,
"Metrics"; the code's `util/distribution_distances.py`; docs/papers/mfm.md, "Metrics").

W1 = exact OT cost with Euclidean ground cost; W2 = sqrt of exact OT cost with squared-Euclidean ground cost
(POT `emd2`, uniform weights). MMD = mean over γ ∈ {2, 1, 0.5, 0.1, 0.01, 0.005} of the biased (V-statistic)
RBF MMD² with k(x, y) = exp(−γ‖x − y‖²). r = Pearson correlation between the upper-triangular entries of the
marker–marker correlation matrices of predicted and true cells (the code returns r, not r²).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MMD_GAMMAS", "w1", "w2", "mmd_rbf", "marker_correlation_r", "population_metrics", "average_metrics"]

MMD_GAMMAS = (2.0, 1.0, 0.5, 0.1, 0.01, 0.005)


def _exact_ot(x: ArrayLike, y: ArrayLike, squared: bool) -> float:
    """Exact OT cost between the uniform measures on x (n, D) and y (m, D) (POT network simplex)."""
    import ot

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cost = ot.dist(x, y, metric="sqeuclidean")  # (n, m)
    if not squared:
        cost = np.sqrt(cost)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def w1(x: ArrayLike, y: ArrayLike) -> float:
    """W1 between the empirical measures of x (n, D) and y (m, D)."""
    return _exact_ot(x, y, squared=False)


def w2(x: ArrayLike, y: ArrayLike) -> float:
    """W2 between the empirical measures of x (n, D) and y (m, D)."""
    return math.sqrt(max(_exact_ot(x, y, squared=True), 0.0))


def mmd_rbf(x: ArrayLike, y: ArrayLike, gammas: tuple[float, ...] = MMD_GAMMAS) -> float:
    """Mean over γ of the biased MMD² mean K_xx + mean K_yy − 2 mean K_xy, K = exp(−γ‖·−·‖²)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)

    dxx, dyy, dxy = sq(x, x), sq(y, y), sq(x, y)
    vals = [np.exp(-g * dxx).mean() + np.exp(-g * dyy).mean() - 2.0 * np.exp(-g * dxy).mean() for g in gammas]
    return float(np.mean(vals))


def marker_correlation_r(pred: ArrayLike, true: ArrayLike) -> float:
    """Pearson r between the upper triangles (i < j) of the marker–marker correlation matrices (D ≥ 3)."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape[1] < 3:
        raise ValueError(f"marker correlation r needs at least 3 markers, got {pred.shape[1]}")
    iu = np.triu_indices(pred.shape[1], k=1)
    a, b = np.corrcoef(pred.T)[iu], np.corrcoef(true.T)[iu]
    return float(np.corrcoef(a, b)[0, 1])


def population_metrics(pred: ArrayLike, true: ArrayLike, with_r: bool = False) -> dict[str, float]:
    """W1, W2, MMD (and r when with_r) of one predicted population against its true target."""
    out = {"w1": w1(pred, true), "w2": w2(pred, true), "mmd": mmd_rbf(pred, true)}
    if with_r:
        out["r"] = marker_correlation_r(pred, true)
    return out


def average_metrics(per_population: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over populations and its standard error (`<name>_se`, populations as the items)."""
    from papersuite.core.noise import mean_se

    out = {}
    for name in per_population[0]:
        out[name], out[f"{name}_se"] = mean_se([m[name] for m in per_population])
    return out
