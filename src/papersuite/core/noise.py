"""Standard errors of evaluation metrics, and of seed means: what a claim's verdict is decided against.

Conventions. A record's metrics may hold ``<name>_se`` beside ``<name>``: the standard error of ``<name>``
within that one run (the evaluation's own noise: Monte Carlo over trajectories, test items or samples,
binomial for rates, paired for differences of methods on the same items, or a bootstrap over items), in
the metric's units. ``<name>_se = 0.0`` declares the metric exact given the trained model (an exact
computation, a count). Over seeds, :func:`combine` gives the seed mean and its noise:

    se(mean) = max( std(values, ddof=1) / sqrt(n)   if n >= 2,
                    sqrt(sum_i se_i**2) / n          if every run reports its se )

the larger of the seed spread and the runs' own evaluation noise, so that two lucky seeds cannot hide
a noisy evaluation; NaN where neither is known (one seed without ``_se``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "SE_SUFFIX",
    "Estimate",
    "bootstrap_se",
    "combine",
    "format_estimate",
    "mean_se",
    "paired_difference_se",
    "rate_se",
    "ratio_se",
]

SE_SUFFIX = "_se"


class Estimate(NamedTuple):
    """A seed mean with its standard error (NaN: not estimated) over ``n`` runs."""

    mean: float
    se: float
    n: int

    @property
    def known(self) -> bool:
        return not math.isnan(self.se)


def mean_se(samples: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean of per-item values and its standard error std(ddof=1)/sqrt(n); se NaN for one item."""
    x = np.asarray(samples, dtype=float).ravel()  # (n,)
    if x.size == 0:
        raise ValueError("mean_se: no samples")
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), se


def rate_se(successes: int | float, n: int) -> tuple[float, float]:
    """A rate p = successes/n and its binomial standard error sqrt(p(1 - p)/n)."""
    if n <= 0:
        raise ValueError(f"rate_se: n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"rate_se: successes {successes} outside [0, {n}]")
    p = successes / n
    return float(p), float(math.sqrt(p * (1.0 - p) / n))


def paired_difference_se(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """mean(a - b) over the same items and its paired standard error."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_difference_se: {a.size} items against {b.size}")
    return mean_se(a - b)


def ratio_se(num: float, num_se: float, den: float, den_se: float) -> tuple[float, float]:
    """num/den and its delta-method standard error, num and den independent."""
    if den == 0:
        raise ValueError("ratio_se: denominator is 0")
    ratio = num / den
    return float(ratio), float(math.sqrt((num_se / den) ** 2 + (ratio * den_se / den) ** 2))


def bootstrap_se(
    statistic: Callable[[np.ndarray], float], samples: np.ndarray, n_boot: int = 200, seed: int = 0
) -> float:
    """Standard error of ``statistic(samples)`` by resampling items (the first axis) with replacement."""
    samples = np.asarray(samples)
    n = samples.shape[0]
    if n < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    draws = [statistic(samples[rng.integers(0, n, size=n)]) for _ in range(n_boot)]
    return float(np.std(draws, ddof=1))


def combine(values: Sequence[float], ses: Sequence[float] | None = None) -> Estimate:
    """Seed mean of ``values`` and its noise: max of the seed spread and the runs' own se (module doc)."""
    x = np.asarray(values, dtype=float).ravel()  # (n,) one value per seed
    if x.size == 0:
        raise ValueError("combine: no values")
    n = int(x.size)
    candidates = []
    if n >= 2:
        candidates.append(float(x.std(ddof=1) / math.sqrt(n)))
    if ses is not None:
        s = np.asarray(ses, dtype=float).ravel()
        if s.shape != x.shape:
            raise ValueError(f"combine: {s.size} standard errors for {n} values")
        if not np.isnan(s).any():
            candidates.append(float(math.sqrt(float((s**2).sum())) / n))
    return Estimate(float(x.mean()), max(candidates) if candidates else math.nan, n)


def format_estimate(mean: float, se: float, digits: int = 4) -> str:
    """``mean ± se`` with ``digits`` significant digits; just the mean when se is unknown."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if se is None or math.isnan(se):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {se:.2g}"
