"""Known answers of Bures–Wasserstein flow matching over Gaussians (docs/papers/wfm.md,
"Known answers")."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from papersuite.wfm import bures as bw

D64 = torch.float64


def random_spd(n: int, d: int, seed: int, floor: float = 0.1) -> torch.Tensor:
    """n random SPD matrices (n, d, d) with eigenvalues ≥ floor."""
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(n, d, d, generator=g, dtype=D64)
    return G @ G.transpose(-1, -2) / d + floor * torch.eye(d, dtype=D64)


def random_means(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=D64)


@pytest.fixture
def pair():
    """Eight random 4-D Gaussian pairs (μ0, μ1) in float64."""
    n, d = 8, 4
    return random_means(n, d, 0), random_spd(n, d, 1), random_means(n, d, 2), random_spd(n, d, 3)


def scipy_bw2(m1, S1, m2, S2) -> float:
    """Independent reference: W2² with scipy's sqrtm."""
    r1 = scipy.linalg.sqrtm(S1)
    cross = np.real(scipy.linalg.sqrtm(r1 @ S2 @ r1))
    return float(np.sum((m1 - m2) ** 2) + np.trace(S1 + S2 - 2 * cross))


# --- closed-form map and distance -------------------------------------------------------------------------


def test_bw_map_pushes_forward_exactly(pair):
    """T#N0 = N1: A symmetric PD, AΣ_xA = Σ_y and A m_x + b = m_y (error ~1e-15)."""
    m_x, S_x, m_y, S_y = pair
    A, b = bw.bw_map(m_x, S_x, m_y, S_y)
    torch.testing.assert_close(A, A.transpose(-1, -2), atol=1e-13, rtol=0)
    assert bw.min_eigenvalue(A).min() > 0
    torch.testing.assert_close(A @ S_x @ A, S_y, atol=1e-11, rtol=0)
    torch.testing.assert_close((A @ m_x.unsqueeze(-1)).squeeze(-1) + b, m_y, atol=1e-12, rtol=0)


def test_bw_map_cost_equals_closed_form_distance(pair):
    """The map's transport cost E‖T(x) − x‖² equals the closed-form W2² (optimality of the symmetric PD map)."""
    m_x, S_x, m_y, S_y = pair
    A, _ = bw.bw_map(m_x, S_x, m_y, S_y)
    eye = torch.eye(4, dtype=D64)
    cost = ((m_y - m_x) ** 2).sum(-1) + torch.diagonal((A - eye) @ S_x @ (A - eye), dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(cost, bw.bw_distance_sq(m_x, S_x, m_y, S_y), atol=1e-11, rtol=0)


def test_bw_map_to_itself_is_identity(pair):
    m_x, S_x, _, _ = pair
    A, b = bw.bw_map(m_x, S_x, m_x, S_x)
    torch.testing.assert_close(A, torch.eye(4, dtype=D64).expand_as(A), atol=1e-10, rtol=0)
    torch.testing.assert_close(b, torch.zeros_like(b), atol=1e-10, rtol=0)
    torch.testing.assert_close(bw.bw_distance_sq(m_x, S_x, m_x, S_x), torch.zeros(8, dtype=D64), atol=1e-10, rtol=0)


def test_bw_distance_matches_scipy_reference(pair):
    m_x, S_x, m_y, S_y = pair
    ours = bw.bw_distance_sq(m_x, S_x, m_y, S_y).numpy()
    ref = [scipy_bw2(*(t[i].numpy() for t in pair)) for i in range(len(m_x))]
    np.testing.assert_allclose(ours, ref, atol=1e-10, rtol=1e-10)


def test_bw_distance_diagonal_known_answer():
    """Diagonal case a=(1,4), b=(9,1) → Σ(√a−√b)² = 5.0; plus ‖Δm‖²."""
    Sa, Sb = torch.diag(torch.tensor([1.0, 4.0], dtype=D64)), torch.diag(torch.tensor([9.0, 1.0], dtype=D64))
    z = torch.zeros(2, dtype=D64)
    assert bw.bw_distance_sq(z, Sa, z, Sb).item() == pytest.approx(5.0, abs=1e-12)
    dm = torch.tensor([3.0, -4.0], dtype=D64)  # ‖Δm‖² = 25
    assert bw.bw_distance_sq(z, Sa, dm, Sb).item() == pytest.approx(30.0, abs=1e-12)


def test_bw_distance_one_dimensional_known_answer():
    """1-D Gaussians: W2² = (m1−m2)² + (σ1−σ2)²."""
    m1, s1, m2, s2 = 0.5, 0.3, -1.5, 2.0
    got = bw.bw_distance_sq(
        torch.tensor([m1], dtype=D64),
        torch.tensor([[s1**2]], dtype=D64),
        torch.tensor([m2], dtype=D64),
        torch.tensor([[s2**2]], dtype=D64),
    )
    assert got.item() == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, abs=1e-12)


def test_bw_map_singular_source_is_finite():
    """A rank-deficient source covariance (pinv branch) gives a finite map; ranks above the source's cannot be
    reached."""
    S_x = torch.diag(torch.tensor([1.0, 0.0], dtype=D64))
    S_y = torch.diag(torch.tensor([4.0, 9.0], dtype=D64))
    z = torch.zeros(2, dtype=D64)
    A, b = bw.bw_map(z, S_x, z, S_y)
    assert torch.isfinite(A).all() and torch.isfinite(b).all()
    torch.testing.assert_close((A @ S_x @ A)[0, 0], torch.tensor(4.0, dtype=D64), atol=1e-12, rtol=0)


# --- McCann geodesic and tangent ---------------------------------------------------------------------------


@pytest.mark.parametrize("s", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_geodesic_fractions(pair, s):
    """W2(μ0,μ_s) = s·W2(μ0,μ1) and W2(μ_s,μ1) = (1−s)·W2(μ0,μ1) (holds to 1e-12)."""
    m_x, S_x, m_y, S_y = pair
    W = bw.bw_distance_sq(m_x, S_x, m_y, S_y).sqrt()
    m_s, S_s = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s)
    d0 = bw.bw_distance_sq(m_x, S_x, m_s, S_s).clamp_min(0).sqrt()
    d1 = bw.bw_distance_sq(m_s, S_s, m_y, S_y).clamp_min(0).sqrt()
    torch.testing.assert_close(d0, s * W, atol=1e-6, rtol=1e-9)
    torch.testing.assert_close(d1, (1 - s) * W, atol=1e-6, rtol=1e-9)


def test_geodesic_endpoints_and_per_sample_times(pair):
    m_x, S_x, m_y, S_y = pair
    s = torch.tensor([0.0, 1.0] * 4, dtype=D64)  # (8,) one time per pair
    m_s, S_s = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s)
    torch.testing.assert_close(m_s[0::2], m_x[0::2], atol=1e-12, rtol=0)
    torch.testing.assert_close(S_s[0::2], S_x[0::2], atol=1e-12, rtol=0)
    torch.testing.assert_close(m_s[1::2], m_y[1::2], atol=1e-12, rtol=0)
    torch.testing.assert_close(S_s[1::2], S_y[1::2], atol=1e-10, rtol=0)


@pytest.mark.parametrize("s", [0.0, 0.25, 0.6, 0.95])
def test_constant_speed_and_tangent_velocity(pair, s):
    """‖ṁ‖² + Tr(S_sΣ_sS_s) = W2² for all s, S_s symmetric, Σ̇ = S_sΣ_s + Σ_sS_s."""
    m_x, S_x, m_y, S_y = pair
    m_dot, S = bw.tangent_target(m_x, S_x, m_y, S_y, s)
    m_s, Sig = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s)
    torch.testing.assert_close(S, S.transpose(-1, -2), atol=1e-13, rtol=0)
    torch.testing.assert_close(
        bw.tangent_norm_sq(m_dot, S, Sig), bw.bw_distance_sq(m_x, S_x, m_y, S_y), atol=1e-10, rtol=1e-10
    )
    h = 1e-5  # central finite difference of the geodesic (exact for the quadratic Σ_s up to round-off)
    mp, Sp = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s + h)
    mm, Sm = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s - h)
    torch.testing.assert_close(bw.euclidean_cov_velocity(S, Sig), (Sp - Sm) / (2 * h), atol=1e-7, rtol=1e-7)
    torch.testing.assert_close(m_dot, (mp - mm) / (2 * h), atol=1e-8, rtol=1e-8)


def test_tangent_loss_zero_at_target_and_positive_elsewhere(pair):
    m_x, S_x, m_y, S_y = pair
    s = torch.linspace(0.05, 0.95, 8, dtype=D64)
    m_dot, S = bw.tangent_target(m_x, S_x, m_y, S_y, s)
    _, Sig = bw.mccann_interpolate(m_x, S_x, m_y, S_y, s)
    assert bw.tangent_loss(m_dot, S, m_dot, S, Sig).item() == pytest.approx(0.0, abs=1e-20)
    E = torch.zeros_like(S)
    E[..., 0, 1] = E[..., 1, 0] = 0.3
    # Tr(Σ E²) with E = 0.3(e01 + e10) is 0.09(Σ00 + Σ11); the mean error ‖e0‖² is 1; divided by d = 4
    expect = (0.09 * (Sig[:, 0, 0] + Sig[:, 1, 1])).mean() / 4 + 1.0 / 4
    got = bw.tangent_loss(m_dot + torch.tensor([1.0, 0, 0, 0], dtype=D64), S + E, m_dot, S, Sig)
    assert got.item() == pytest.approx(expect.item(), rel=1e-12)


# --- sampling: PSD preservation and oracle integration -------------------------------------------------------


def test_exp_step_keeps_psd_where_euclidean_step_leaves_the_cone():
    """(I+dtS)Σ(I+dtS) stays PSD even when I+dtS is indefinite; the Euclidean step Σ + dtΣ̇ does not."""
    Sig = random_spd(64, 3, 7, floor=0.01)
    g = torch.Generator().manual_seed(8)
    S = bw.sym(torch.randn(64, 3, 3, generator=g, dtype=D64)) * 5.0  # large tangents, eigenvalues ≪ −1/dt
    m = torch.zeros(64, 3, dtype=D64)
    _, Sig_exp = bw.exp_step(m, Sig, m, S, dt=0.5)
    assert bw.min_eigenvalue(Sig_exp).min() >= -1e-12
    torch.testing.assert_close(Sig_exp, Sig_exp.transpose(-1, -2), atol=0, rtol=0)
    _, Sig_euc = bw.euclidean_step(m, Sig, m, bw.euclidean_cov_velocity(S, Sig), dt=0.5)
    assert (bw.min_eigenvalue(Sig_euc) < 0).float().mean() > 0.2  # the baseline leaves the cone here
    proj = bw.project_psd(Sig_euc)
    assert (bw.min_eigenvalue(proj) > 0).all()
    bad = bw.min_eigenvalue(Sig_euc) < 0
    assert ((proj - Sig_euc).abs().amax((-2, -1))[bad] > 1e-6).all()


def test_project_psd_leaves_spd_unchanged():
    Sig = random_spd(16, 4, 11, floor=0.5)
    torch.testing.assert_close(bw.project_psd(Sig), Sig, atol=1e-12, rtol=0)


@pytest.mark.parametrize("n_steps", [1, 3, 10, 37])
def test_oracle_integration_lands_on_target(pair, n_steps):
    """Exact S_s with the exp-map step reaches (m_y, Σ_y) for any step count: (I+dt S_s)M_s = M_{s+dt}."""
    m_x, S_x, m_y, S_y = pair
    A, _ = bw.bw_map(m_x, S_x, m_y, S_y)

    def oracle(m, Sigma, s):
        return bw.tangent_target(m_x, S_x, m_y, S_y, s, A=A)

    m1, S1 = bw.integrate(oracle, m_x, S_x, n_steps)
    torch.testing.assert_close(m1, m_y, atol=1e-12, rtol=0)
    torch.testing.assert_close(S1, S_y, atol=1e-10, rtol=0)


def test_oracle_integration_follows_geodesic(pair):
    """After k of n exact exp-map steps the state equals the McCann point at s = k/n."""
    m_x, S_x, m_y, S_y = pair
    m_s, S_s = bw.mccann_interpolate(m_x, S_x, m_y, S_y, 0.4)

    def oracle(m, Sigma, s):
        return bw.tangent_target(m_x, S_x, m_y, S_y, s * 0.4)  # rescaled time: 5 steps of 0.4/5

    def step(m, Sigma, m_dot, S, dt):
        return bw.exp_step(m, Sigma, 0.4 * m_dot, 0.4 * S, dt)

    m4, S4 = bw.integrate(oracle, m_x, S_x, 5, step=step)
    torch.testing.assert_close(m4, m_s, atol=1e-12, rtol=0)
    torch.testing.assert_close(S4, S_s, atol=1e-10, rtol=0)


# --- pairing and network I/O helpers --------------------------------------------------------------------------


def test_cost_matrix_matches_pairwise_distances(pair):
    m_x, S_x, m_y, S_y = pair
    C = bw.bw_cost_matrix(m_x, S_x, m_y, S_y)
    assert C.shape == (8, 8)
    for i, j in [(0, 0), (1, 5), (7, 2)]:
        assert C[i, j].item() == pytest.approx(bw.bw_distance_sq(m_x[i], S_x[i], m_y[j], S_y[j]).item(), abs=1e-12)


def test_assignment_pairing_recovers_a_permutation():
    """A shuffled, slightly perturbed copy of a Gaussian set is paired back with its originals."""
    m, S = 3.0 * random_means(16, 3, 21), random_spd(16, 3, 22)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(23))
    m_b, S_b = m[perm] + 1e-3, S[perm] * 1.001
    got = bw.pair_by_assignment(m, S, m_b, S_b)  # m[i] ↔ m_b[got[i]], i.e. perm[got[i]] = i
    assert torch.equal(perm[got], torch.arange(16))


def test_vech_roundtrip():
    Sig = random_spd(5, 4, 31)
    v = bw.vech(Sig)
    assert v.shape == (5, 10)
    torch.testing.assert_close(bw.unvech(v, 4), Sig, atol=0, rtol=0)
