"""The control L2 error's Monte Carlo estimate and its standard error, against exact Gaussian moments
(docs/papers/socm.md, "Noise and verdicts")."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from papersuite.core import noise
from papersuite.socm.evaluate import control_l2_error_per_path
from socm_helpers import EASY, problem64, reference64

N_STEPS = 50


def _exact_half_control_l2_error(problem, feedback: np.ndarray) -> float:
    """E_{P^{u*}}[(1/N) Σ_{k<N} |½u* − u*|²] for u* = K_k x: the Euler–Maruyama recursion of the mean m_k and
    covariance S_k of X_k under u*, X_{k+1} = (I + (A + K_k)Δt) X_k + √(λΔt) ξ_k, and E|K_k X_k|² = tr(K(S + mmᵀ)Kᵀ)."""
    A = problem.A.numpy()
    dt, lam, d = problem.T / N_STEPS, problem.lam, problem.d
    m, S = problem.x0.numpy().copy(), np.zeros((d, d))
    second_moments = []
    for K in feedback[:-1]:  # the N pre-terminal gains K_k, (d, d)
        second_moments.append(np.trace(K @ (S + np.outer(m, m)) @ K.T))
        B = np.eye(d) + (A + K) * dt
        m, S = B @ m, B @ S @ B.T + lam * dt * np.eye(d)
    return 0.25 * float(np.mean(second_moments))


@pytest.fixture(scope="module")
def easy_problem():
    problem = problem64(EASY, N_STEPS)
    u_star, arrays, _ = reference64(problem, EASY)
    return problem, u_star, arrays["ref_feedback"]


def test_l2_error_per_path_matches_exact_gaussian_moments(easy_problem):
    """The MC mean of per-path L2 errors of u = ½u* lies within 4 se of the exact value; se is scipy's sem."""
    problem, u_star, feedback = easy_problem
    half = lambda t, x: 0.5 * u_star(t, x)  # noqa: E731  (a grid control: (K,), (K, B, d) -> (K, B, d))
    generator = torch.Generator().manual_seed(0)
    per_path = control_l2_error_per_path(problem, half, u_star, 8192, generator).numpy()  # (8192,)
    assert per_path.shape == (8192,) and per_path.dtype == np.float64
    mean, se = noise.mean_se(per_path)
    assert se == pytest.approx(scipy.stats.sem(per_path), rel=1e-12)
    exact = _exact_half_control_l2_error(problem, feedback)
    # measured: exact 0.046834, MC 0.046938 ± 0.000351 (relative se 0.75%), z = 0.30
    assert abs(mean - exact) < 4 * se
    assert se < 0.02 * exact  # measured 0.75%: 8192 paths pin the metric to about 1%
    # the exact control has no error on any path
    zero = control_l2_error_per_path(problem, u_star, u_star, 64, torch.Generator().manual_seed(1))
    assert torch.count_nonzero(zero) == 0


def test_l2_error_se_is_the_spread_of_independent_evaluations(easy_problem):
    """The per-run se matches the std of the estimate over 40 independent evaluations (1024 paths each)."""
    problem, u_star, _ = easy_problem
    half = lambda t, x: 0.5 * u_star(t, x)  # noqa: E731
    means, ses = [], []
    for seed in range(40):
        per_path = control_l2_error_per_path(problem, half, u_star, 1024, torch.Generator().manual_seed(100 + seed))
        mean, se = noise.mean_se(per_path.numpy())
        means.append(mean)
        ses.append(se)
    spread = float(np.std(means, ddof=1))
    # the std of 40 draws lies within [0.78, 1.22] x the truth with 95% probability (chi-square, 39 dof),
    # within [0.70, 1.30] with 99.2% (deterministic seeds: it passes or fails for good); measured 1.004
    assert 0.7 < spread / float(np.mean(ses)) < 1.3
