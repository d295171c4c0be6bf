"""Bures–Wasserstein geometry of Gaussians for BW flow matching (the paper's Gaussian WFM, Haviv, Pooladian, Pe'er,
Amos, ICML 2025; docs/papers/wfm.md, "Method: Gaussians").

Time convention: s = 0 at the source ("noise") Gaussian, s = 1 at the data Gaussian; the path is the
McCann interpolant x_s = (1−s)x + s T(x) and sampling integrates s: 0 → 1 (the JAX code's t = 1 − s).
Every function is batched over leading dimensions: means (..., d), covariances (..., d, d), times (...,).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "sym",
    "eigh_psd",
    "sqrtm_psd",
    "inv_sqrtm_psd",
    "bw_map",
    "bw_distance_sq",
    "bw_cost_matrix",
    "pair_by_assignment",
    "mccann_interpolate",
    "tangent_target",
    "euclidean_cov_velocity",
    "tangent_norm_sq",
    "tangent_loss",
    "exp_step",
    "integrate",
    "euclidean_step",
    "project_psd",
    "min_eigenvalue",
    "vech",
    "unvech",
]

Field = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]  # (m, Σ, s) -> (ṁ, S)


def sym(X: Tensor) -> Tensor:
    """Symmetric part (X + Xᵀ)/2 of a batch of square matrices (..., d, d)."""
    return 0.5 * (X + X.transpose(-1, -2))


def eigh_psd(S: Tensor) -> tuple[Tensor, Tensor]:
    """Eigen-decomposition of the symmetrised S with eigenvalues clipped at 0 (the authors' code's ReLU)."""
    lam, U = torch.linalg.eigh(sym(S))  # (..., d), (..., d, d)
    return lam.clamp_min(0.0), U


def _spectral(U: Tensor, f: Tensor) -> Tensor:
    """U diag(f) Uᵀ for U (..., d, d), f (..., d)."""
    return (U * f.unsqueeze(-2)) @ U.transpose(-1, -2)


def sqrtm_psd(S: Tensor) -> Tensor:
    """Principal square root S^{1/2} of a PSD matrix via eigh, as the authors' code."""
    lam, U = eigh_psd(S)
    return _spectral(U, lam.sqrt())


def inv_sqrtm_psd(S: Tensor, rtol: float = 1e-12) -> Tensor:
    """Pseudo-inverse square root S^{-1/2}: eigenvalues ≤ rtol·max λ are treated as zero (the code's pinv)."""
    lam, U = eigh_psd(S)
    tol = rtol * lam.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(S.dtype).tiny)
    inv = torch.where(lam > tol, lam.clamp_min(tol).rsqrt(), torch.zeros_like(lam))
    return _spectral(U, inv)


def bw_map(m_x: Tensor, S_x: Tensor, m_y: Tensor, S_y: Tensor) -> tuple[Tensor, Tensor]:
    """Monge map T(x) = A x + b from N(m_x,Σ_x) to N(m_y,Σ_y): A = Σ_y^½(Σ_y^½Σ_xΣ_y^½)^{-½}Σ_y^½, b = m_y − A m_x."""
    Ry = sqrtm_psd(S_y)  # (..., d, d)
    A = sym(Ry @ inv_sqrtm_psd(Ry @ S_x @ Ry) @ Ry)  # (..., d, d), symmetric PSD
    b = m_y - (A @ m_x.unsqueeze(-1)).squeeze(-1)  # (..., d)
    return A, b


def bw_distance_sq(m_x: Tensor, S_x: Tensor, m_y: Tensor, S_y: Tensor) -> Tensor:
    """W2²(N_x,N_y) = ‖m_x−m_y‖² + Tr(Σ_x + Σ_y − 2(Σ_x^½Σ_yΣ_x^½)^½) (wfm.md "Metrics"), shape (...,)."""
    Rx = sqrtm_psd(S_x)
    # Tr (Σ_x^½Σ_yΣ_x^½)^½ = Σ √λ over the eigenvalues (clipped at 0, as sqrtm_psd): no eigenvectors needed, which
    # halves the cost of the B×B pairing matrix of every training step
    cross = torch.linalg.eigvalsh(sym(Rx @ S_y @ Rx)).clamp_min(0.0).sqrt().sum(-1)
    tr = torch.diagonal(S_x + S_y, dim1=-2, dim2=-1).sum(-1) - 2.0 * cross
    return ((m_x - m_y) ** 2).sum(-1) + tr.clamp_min(0.0)


def bw_cost_matrix(m_a: Tensor, S_a: Tensor, m_b: Tensor, S_b: Tensor) -> Tensor:
    """Pairwise BW² cost C_ij = W2²(N(m_a_i,Σ_a_i), N(m_b_j,Σ_b_j)), (Na, d),(Na,d,d),(Nb,d),(Nb,d,d) -> (Na, Nb)."""
    return bw_distance_sq(m_a[:, None], S_a[:, None], m_b[None, :], S_b[None, :])


def pair_by_assignment(m_a: Tensor, S_a: Tensor, m_b: Tensor, S_b: Tensor) -> Tensor:
    """Exact minibatch pairing (ε→0 limit of the paper's entropic OT + rounding): perm with a_i ↔ b_perm[i], (B,)."""
    from scipy.optimize import linear_sum_assignment

    cost = bw_cost_matrix(m_a, S_a, m_b, S_b).detach().cpu().double().numpy()  # (B, B)
    rows, cols = linear_sum_assignment(cost)
    perm = torch.empty(len(rows), dtype=torch.long)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return perm.to(m_a.device)


def _times(s: Tensor | float, like: Tensor) -> Tensor:
    """s as a tensor broadcastable over the batch dims of a mean `like` (..., d): returns (..., 1)."""
    s = torch.as_tensor(s, dtype=like.dtype, device=like.device)
    return s.expand(like.shape[:-1]).unsqueeze(-1)


def mccann_interpolate(
    m_x: Tensor, S_x: Tensor, m_y: Tensor, S_y: Tensor, s: Tensor | float, A: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """W2 geodesic (McCann) point: m_s = (1−s)m_x + s m_y, Σ_s = M_s Σ_x M_s with M_s = (1−s)I + sA."""
    if A is None:
        A, _ = bw_map(m_x, S_x, m_y, S_y)
    s1 = _times(s, m_x)  # (..., 1)
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    M = (1.0 - s1).unsqueeze(-1) * eye + s1.unsqueeze(-1) * A  # (..., d, d)
    return (1.0 - s1) * m_x + s1 * m_y, sym(M @ S_x @ M)


def tangent_target(
    m_x: Tensor, S_x: Tensor, m_y: Tensor, S_y: Tensor, s: Tensor | float, A: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Riemannian targets at μ_s: ṁ = m_y − m_x and the symmetric BW tangent S_s = (A − I)M_s^{-1}."""
    if A is None:
        A, _ = bw_map(m_x, S_x, m_y, S_y)
    # A and M_s commute (M_s is a polynomial in A), so S_s = U diag((a−1)/((1−s)+s a)) Uᵀ, exactly symmetric.
    a, U = eigh_psd(A)  # (..., d), (..., d, d)
    s1 = _times(s, m_x)  # (..., 1)
    denom = ((1.0 - s1) + s1 * a).clamp_min(torch.finfo(a.dtype).eps)
    return m_y - m_x, _spectral(U, (a - 1.0) / denom)


def euclidean_cov_velocity(S: Tensor, Sigma: Tensor) -> Tensor:
    """Euclidean covariance velocity Σ̇_s = S_sΣ_s + Σ_sS_s of the BW tangent S_s (authors' `gradient='euclidean'`)."""
    return S @ Sigma + Sigma @ S


def tangent_norm_sq(m_dot: Tensor, S: Tensor, Sigma: Tensor) -> Tensor:
    """Squared BW tangent norm ‖ṁ‖² + Tr(S Σ S) at Σ, shape (...,) (constant speed: wfm.md "Known answers")."""
    tr = ((S @ Sigma) * S).sum((-2, -1))  # Tr(SΣS) = Σ_ij (SΣ)_ij S_ji, S symmetric
    return (m_dot**2).sum(-1) + tr


def tangent_loss(m_hat: Tensor, S_hat: Tensor, m_dot: Tensor, S: Tensor, Sigma: Tensor) -> Tensor:
    """BW tangent loss mean_batch(‖m̂ − ṁ‖² + Tr(Σ_s(Ŝ − S_s)²)) / d (the authors' loss `tangent`)."""
    d = m_dot.shape[-1]
    return tangent_norm_sq(m_hat - m_dot, sym(S_hat) - S, Sigma).mean() / d


def exp_step(m: Tensor, Sigma: Tensor, m_dot: Tensor, S: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    """Exp-map-like Euler step m ← m + dt ṁ, Σ ← (I + dt S)Σ(I + dt S): a congruence, so Σ stays PSD."""
    eye = torch.eye(Sigma.shape[-1], dtype=Sigma.dtype, device=Sigma.device)
    P = eye + dt * sym(S)  # (..., d, d)
    return m + dt * m_dot, sym(P @ Sigma @ P)


def integrate(
    field: Field, m0: Tensor, Sigma0: Tensor, n_steps: int, step: Callable[..., tuple[Tensor, Tensor]] = exp_step
) -> tuple[Tensor, Tensor]:
    """Integrate a field (m, Σ, s) -> (ṁ, S) from s = 0 to 1 with n_steps Euler steps (the paper's sampling)."""
    m, Sigma, dt = m0, Sigma0, 1.0 / n_steps
    for k in range(n_steps):
        s = torch.full(m.shape[:-1], k * dt, dtype=m.dtype, device=m.device)  # (...,)
        m_dot, S = field(m, Sigma, s)
        m, Sigma = step(m, Sigma, m_dot, S, dt)
    return m, Sigma


def euclidean_step(m: Tensor, Sigma: Tensor, m_dot: Tensor, Sigma_dot: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    """Euclidean-FM baseline step on (m, Σ): m ← m + dt ṁ, Σ ← Σ + dt Σ̇ (may leave the PSD cone)."""
    return m + dt * m_dot, sym(Sigma + dt * Sigma_dot)


def project_psd(Sigma: Tensor, rel: float = 1e-4) -> Tensor:
    """Project onto the PSD cone by clipping eigenvalues at rel·mean|λ| per matrix (the authors' Euclidean variant)."""
    lam, U = torch.linalg.eigh(sym(Sigma))  # (..., d)
    floor = rel * lam.abs().mean(-1, keepdim=True)
    return sym(_spectral(U, torch.maximum(lam, floor)))


def min_eigenvalue(Sigma: Tensor) -> Tensor:
    """Smallest eigenvalue of each symmetrised matrix, shape (...,) (PSD check of generated covariances)."""
    return torch.linalg.eigvalsh(sym(Sigma))[..., 0]


def vech(Sigma: Tensor) -> Tensor:
    """Lower-triangular half-vectorisation (..., d, d) -> (..., d(d+1)/2) (network input)."""
    d = Sigma.shape[-1]
    i, j = torch.tril_indices(d, d, device=Sigma.device)
    return Sigma[..., i, j]


def unvech(v: Tensor, d: int) -> Tensor:
    """Inverse of vech: (..., d(d+1)/2) -> symmetric (..., d, d) (network head -> symmetric S)."""
    i, j = torch.tril_indices(d, d, device=v.device)
    out = v.new_zeros(*v.shape[:-1], d, d)
    out[..., i, j] = v
    out[..., j, i] = v
    return out
