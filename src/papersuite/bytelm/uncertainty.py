"""Standard errors of the bytelm metrics that the claims read (docs/papers/bytelm.md "Noise and verdicts").

Conventions of :mod:`papersuite.core.noise`: ``<name>_se`` beside ``<name>``, in its units; 0.0 for an exact
computation; None where no estimate exists (one item). The paper reports no error bars; these are ours."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from papersuite.core import noise
from papersuite.core.records import finite_or_none  # re-exported: bytelm's records use it from here

__all__ = ["finite_or_none", "paired_pass_difference", "ratio_of_sums_se", "transition_ratio_se"]


def ratio_of_sums_se(numerators: Sequence[float], denominators: Sequence[float]) -> tuple[float, float]:
    """R = Σ y_i / Σ b_i over items (documents) and its linearised standard error.

    The delta method for a ratio of sums over n independent items (the per-byte rate of a corpus):
    se(R) = sqrt(Σ (y_i − R b_i)² / (n (n − 1))) · n / Σ b_i. With equal b_i it is the standard error of the
    mean of y_i / b; NaN for one item."""
    y = np.asarray(numerators, dtype=float).ravel()  # (n,)
    b = np.asarray(denominators, dtype=float).ravel()  # (n,)
    if y.shape != b.shape or y.size == 0:
        raise ValueError(f"ratio_of_sums_se: {y.size} numerators against {b.size} denominators")
    total = float(b.sum())
    if total == 0:
        raise ValueError("ratio_of_sums_se: the denominators sum to 0")
    ratio = float(y.sum()) / total
    n = y.size
    if n < 2:
        return ratio, math.nan
    residual = y - ratio * b  # (n,)
    return ratio, float(math.sqrt(float((residual**2).sum()) / (n * (n - 1))) * n / total)


def paired_pass_difference(
    rows: Sequence[Mapping[str, Any]], method: str, other: str, key: str = "task_id"
) -> tuple[float, float]:
    """pass@1 of ``method`` minus ``other``'s over the tasks both completed, and the standard error of that mean
    paired difference (per task: passed_method − passed_other ∈ {−1, 0, 1}; noise.paired_difference_se)."""
    passed: dict[str, dict[Any, float]] = {method: {}, other: {}}
    for row in rows:
        if row["method"] in passed:
            if row[key] in passed[row["method"]]:
                raise ValueError(f"paired_pass_difference: {row[key]!r} twice for {row['method']}")
            passed[row["method"]][row[key]] = float(bool(row["passed"]))
    tasks = [t for t in passed[method] if t in passed[other]]
    if not tasks:
        raise ValueError(f"paired_pass_difference: no task completed by both {method} and {other}")
    return noise.paired_difference_se([passed[method][t] for t in tasks], [passed[other][t] for t in tasks])


def transition_ratio_se(err: np.ndarray, err_naive: np.ndarray, n_boot: int = 200, seed: int = 0) -> float:
    """Bootstrap standard error of mean(err) / mean(err_naive) over the toy's transitions, resampled in pairs
    (the same transition for both methods; noise.bootstrap_se)."""
    pairs = np.stack([np.asarray(err, dtype=float), np.asarray(err_naive, dtype=float)], axis=1)  # (n, 2)

    def ratio(sample: np.ndarray) -> float:
        den = sample[:, 1].mean()
        return float(sample[:, 0].mean() / den) if den > 0 else math.nan

    return noise.bootstrap_se(ratio, pairs, n_boot=n_boot, seed=seed)
