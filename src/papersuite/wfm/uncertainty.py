"""Standard errors of the wfm evaluation metrics (docs/papers/wfm.md, "Noise and verdicts"), from the per-item
values the evaluation already computed; the estimators themselves are papersuite.core.noise's.

- set-level W2 of Gaussians (a statistic of the whole set, not a mean of items): bootstrap over the generated
  Gaussians, each paired with the noise Gaussian it was generated from; every draw re-solves the assignment on
  the resampled rows of the BW² cost matrices already computed (no BW² distance is recomputed);
- nearest-cloud W2 (a mean over generated clouds): the standard error of the mean; its ratio to the noise
  clouds' score: bootstrap over clouds paired with their source noise (the per-cloud W2 values, no OT solve);
- rates (non-PSD fraction, label recovery): binomial.
"""

from __future__ import annotations

import math

import numpy as np

from papersuite.core.noise import bootstrap_se, mean_se, rate_se, ratio_se

__all__ = ["N_BOOT", "assignment_w2", "set_w2_se", "nearest_w2_se", "memorisation_se", "recovery_se"]

N_BOOT = 200  # bootstrap draws (core.noise.bootstrap_se's default): the se itself to ~5% (1/sqrt(2·200))


def assignment_w2(cost: np.ndarray) -> float:
    """sqrt of the exact OT cost between uniform measures of equal size n, cost (n, n): an assignment (Birkhoff)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(max(cost[rows, cols].mean(), 0.0)))


def set_w2_se(cost_gen: np.ndarray, cost_noise: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Bootstrap standard errors of w2_gen, w2_noise and their ratio (set-level W2 to the test set, wfm.md
    "Metrics"): generated Gaussian i and its noise Gaussian i are resampled together (rows of both (n, n_test)
    BW² cost matrices), and each draw solves the (n, n_test) assignment again. NaN when n != n_test (the
    evaluation always generates as many Gaussians as the test set holds)."""
    n, n_test = cost_gen.shape
    if n != n_test or cost_noise.shape != (n, n_test):
        nan = math.nan
        return {"w2_gen_se": nan, "w2_noise_se": nan, "w2_ratio_to_noise_se": nan}
    both = np.stack([cost_gen, cost_noise], axis=1)  # (n, 2, n_test): item i = generated i and its noise
    draws: list[tuple[float, float]] = []  # (w2_gen, w2_noise) of every bootstrap draw

    def ratio(rows: np.ndarray) -> float:
        draws.append((assignment_w2(rows[:, 0]), assignment_w2(rows[:, 1])))
        return draws[-1][0] / draws[-1][1]

    ratio_se = bootstrap_se(ratio, both, n_boot=N_BOOT, seed=seed)  # the same draws give w2_gen's and w2_noise's se
    gen_draws, noise_draws = np.asarray(draws).T  # (N_BOOT,) each
    return {
        "w2_gen_se": float(np.std(gen_draws, ddof=1)),
        "w2_noise_se": float(np.std(noise_draws, ddof=1)),
        "w2_ratio_to_noise_se": ratio_se,
    }


def nearest_w2_se(gen_w2: np.ndarray, noise_w2: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Standard errors of nearest_w2 = mean(gen_w2), nearest_w2_noise = mean(noise_w2) (per cloud (n,), cloud i
    generated from noise cloud i) and of their ratio (paired bootstrap over clouds)."""
    gen_w2, noise_w2 = np.asarray(gen_w2, dtype=float), np.asarray(noise_w2, dtype=float)
    pairs = np.stack([gen_w2, noise_w2], axis=1)  # (n, 2)
    return {
        "nearest_w2_se": mean_se(gen_w2)[1],
        "nearest_w2_noise_se": mean_se(noise_w2)[1],
        "nearest_w2_ratio_to_noise_se": bootstrap_se(
            lambda p: float(p[:, 0].mean() / p[:, 1].mean()), pairs, n_boot=N_BOOT, seed=seed
        ),
    }


def memorisation_se(gen_train_w2: np.ndarray, real_train_w2: np.ndarray) -> dict[str, float]:
    """Standard errors of the memorisation ratio mean(gen_train_w2) / mean(real_train_w2): per generated cloud and
    per real test cloud, the W2 to the nearest training cloud; two different sets of clouds (delta method)."""
    gen_mean, gen_se = mean_se(gen_train_w2)
    real_mean, real_se = mean_se(real_train_w2)
    return {
        "nearest_train_w2_se": gen_se,
        "nearest_train_w2_real_se": real_se,
        "memorisation_ratio_se": ratio_se(gen_mean, gen_se, real_mean, real_se)[1],
    }


def recovery_se(hits: np.ndarray, chance: float, noise_rate: float) -> dict[str, float]:
    """Binomial standard errors of label recovery (hits (n,) bool: generated niche i got its label back), of its
    ratio to chance (chance: a property of the fixed test labels, exact) and of the noise niches' recovery rate
    (noise_rate over as many niches)."""
    hits = np.asarray(hits, dtype=bool)
    n = len(hits)
    _, se = rate_se(int(hits.sum()), n)
    return {
        "label_recovery_se": se,
        "label_recovery_chance_se": 0.0,
        "label_recovery_over_chance_se": se / chance,
        "label_recovery_noise_se": rate_se(round(noise_rate * n), n)[1],
    }
