"""Distribution distances of MFM's evaluation, per population then averaged (Atanackovic et al., ICLR 2025,
"Metrics"; the code's `util/distribution_distances.py`; docs/papers/mfm.md, "Metrics").

W1 = exact OT cost with Euclidean ground cost; W2 = sqrt of exact OT cost with squared-Euclidean ground cost
(POT `emd2`, uniform weights; papersuite.core.ot). MMD = mean over γ ∈ {2, 1, 0.5, 0.1, 0.01, 0.005} of the
biased (V-statistic) RBF MMD² with k(x, y) = exp(−γ‖x − y‖²). r = Pearson correlation between the
upper-triangular entries of the marker–marker correlation matrices of predicted and true cells (the code returns
r, not r²).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# W1, W2 and the MMD live in core (shared with lagot's evaluation); re-exported here for mfm's runs and tests.
from papersuite.core.ot import MMD_GAMMAS, mmd_rbf, w1, w2

__all__ = ["MMD_GAMMAS", "w1", "w2", "mmd_rbf", "marker_correlation_r", "population_metrics", "average_metrics"]


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
