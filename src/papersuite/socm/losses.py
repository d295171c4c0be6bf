"""The eight training losses compared in the SOCM paper (docs/papers/socm.md, "Methods"), sharing one path simulation.

Conventions: `paths` are simulated under the detached current control v (except the adjoint
loss), `u_theta` (N+1, B, d) is the learned control u_θ(t_k, X_k) on every grid state with its graph,
`weight` (B,) is the detached importance weight α divided by the normalisation constant Ẑ.
∇-targets ("ŵ") are estimates of ∇V; the control target is w = −σᵀŵ.
For an ensemble (ensemble.py) the paths carry a member dimension before the batch, (N+1, E, B, d), weights are
(E, B), M is a StackedSigmoidMLP, y0 and Ẑ are (E,): every loss and the L2 error are then (E,), one per member,
since every mean runs over the steps and the batch only.

The SOCM noise term uses σ^{−T}, the original code's final choice (docs/papers/socm.md, "Deviations"; it only
matters for a non-symmetric σ, i.e. the linear OU setting).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .ensemble import StackedSigmoidMLP
from .methods import METHOD_LABELS, METHODS  # re-exported: they were defined here
from .models import SigmoidMLP
from .problems import ControlProblem
from .sde import Paths

__all__ = [
    "METHODS",
    "METHOD_LABELS",
    "noise_increments",
    "M_on_pairs",
    "socm_target",
    "socm_const_m_target",
    "socm_adjoint_target",
    "matching_loss",
    "socm_loss",
    "socm_const_m_loss",
    "socm_adjoint_loss",
    "relative_entropy_loss",
    "cross_entropy_loss",
    "log_rn_derivative",
    "log_variance_loss",
    "variance_loss",
    "moment_loss",
    "control_l2_error",
]


# ============================================================================ SOCM targets
def noise_increments(problem: ControlProblem, paths: Paths) -> Tensor:
    """Y_j = σ^{−T}(v_j Δt + √(λΔt) ξ_j) = σ^{−T}·(σ⁻¹ times the controlled noise increment), (N, B, d)."""
    dt = paths.ts[1] - paths.ts[0]
    return (paths.controls * dt + torch.sqrt(problem.lam * dt) * paths.noises) @ problem.sigma_inv


def _target_integrand(problem: ControlProblem, paths: Paths) -> tuple[Tensor, Tensor]:
    """r_j = ∇f(X_j)Δt − ∇b(X_j) Y_j and Y_j for j = 0..N−1, each (N, B, d) (left points)."""
    x = paths.states[:-1]
    dt = paths.ts[1] - paths.ts[0]
    y = noise_increments(problem, paths)
    r = -problem.drift_jacobian_apply(x, y)
    if problem.has_running_cost:
        r = r + problem.running_cost_grad(x) * dt
    return r, y


def M_on_pairs(M: SigmoidMLP | StackedSigmoidMLP, ts: Tensor) -> tuple[Tensor, Tensor]:
    """M_{t_k}(t_j) and ∂_s M_{t_k}(t_j) on the (N+1)(N+2)/2 pairs j ≥ k, scattered into dense
    (N+1, N+1, d, d) tensors ((E, N+1, N+1, d, d) for a StackedSigmoidMLP) that are zero for j < k."""
    n1 = ts.shape[0]
    k_idx, j_idx = torch.triu_indices(n1, n1, device=ts.device)
    m_pairs, dm_pairs = M.with_s_derivative(ts[k_idx], ts[j_idx])  # (P, d, d) or (E, P, d, d)
    d = m_pairs.shape[-1]
    lead = m_pairs.shape[:-3]
    idx = (*(torch.arange(n, device=ts.device)[:, None] for n in lead), k_idx, j_idx)
    dense_m = m_pairs.new_zeros((*lead, n1, n1, d, d)).index_put(idx, m_pairs)
    dense_dm = dm_pairs.new_zeros((*lead, n1, n1, d, d)).index_put(idx, dm_pairs)
    return dense_m, dense_dm


def socm_target(problem: ControlProblem, paths: Paths, M_dense: Tensor, dM_dense: Tensor) -> Tensor:
    """SOCM ∇V-target ŵ_k (paper, Theorem 1), (N+1, B, d):

    ŵ_k = Σ_{j≥k} M_{t_k}(t_j)∇f(X_j)Δt + M_{t_k}(T)∇g(X_N) − Σ_{j≥k} (M_{t_k}(t_j)∇b(X_j) − ∂_sM_{t_k}(t_j)) Y_j.
    M_dense/dM_dense (N+1, N+1, d, d) must vanish for j < k. Cost O(N²·B·d²), no (N, N, B, d, d) tensor.
    An ensemble: M_dense (E, N+1, N+1, d, d), paths (N+1, E, B, d) -> (N+1, E, B, d) ("..." is the member).
    """
    r, y = _target_integrand(problem, paths)  # (N, B, d) each
    grad_g = problem.terminal_cost_grad(paths.states[-1])  # (B, d)
    target = torch.einsum("...kjab,j...nb->k...na", M_dense[..., :, :-1, :, :], r)
    target = target + torch.einsum("...kjab,j...nb->k...na", dM_dense[..., :, :-1, :, :], y)
    return target + torch.einsum("...kab,...nb->k...na", M_dense[..., :, -1, :, :], grad_g)


def socm_const_m_target(problem: ControlProblem, paths: Paths) -> Tensor:
    """ŵ_k with M ≡ I: Σ_{j≥k} r_j + ∇g(X_N) (reverse cumulative sum), (N+1, B, d)."""
    r, _ = _target_integrand(problem, paths)
    r = torch.cat([r, torch.zeros_like(r[:1])])  # (N+1, B, d), r_N = 0
    tail = torch.flip(torch.cumsum(torch.flip(r, [0]), 0), [0])  # Σ_{j≥k}
    return tail + problem.terminal_cost_grad(paths.states[-1])


def socm_adjoint_target(problem: ControlProblem, paths: Paths) -> Tensor:
    """Pathwise adjoint a_k (SOCM-Adjoint ablation), (N+1, B, d): a_N = ∇g(X_N),
    a_k = a_{k+1} + Δt[(∇f_k + ∇f_{k+1})/2 + ((∇b_k + ∇b_{k+1})/2) a_{k+1}] (backward trapezoid)."""
    x = paths.states
    n = x.shape[0] - 1
    dt = paths.ts[1] - paths.ts[0]
    grad_f = problem.running_cost_grad(x) if problem.has_running_cost else None
    a = problem.terminal_cost_grad(x[-1])
    out = [a]
    for k in range(n - 1, -1, -1):
        incr = 0.5 * (problem.drift_jacobian_apply(x[k], a) + problem.drift_jacobian_apply(x[k + 1], a))
        if grad_f is not None:
            incr = incr + 0.5 * (grad_f[k] + grad_f[k + 1])
        a = a + dt * incr
        out.append(a)
    return torch.stack(out[::-1])


# ============================================================================ losses
def matching_loss(u_theta: Tensor, target_nabla_v: Tensor, sigma: Tensor, weight: Tensor) -> Tensor:
    """E[(1/(N+1)) Σ_k |u_θ(t_k,X_k) − w_k|² α]/Ẑ with w = −σᵀŵ (the SOCM loss)."""
    w = -target_nabla_v @ sigma
    sq = ((u_theta - w) ** 2).sum(-1)  # (N+1, B)
    return (sq * weight).sum(dim=(0, -1)) / (sq.shape[0] * sq.shape[-1])


def socm_loss(
    problem: ControlProblem, paths: Paths, u_theta: Tensor, weight: Tensor, M: SigmoidMLP | StackedSigmoidMLP
) -> Tensor:
    """SOCM: matching with the learned reparameterisation M_t(s) (trains u_θ and M jointly)."""
    M_dense, dM_dense = M_on_pairs(M, paths.ts)
    return matching_loss(u_theta, socm_target(problem, paths, M_dense, dM_dense), problem.sigma, weight)


def socm_const_m_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor, weight: Tensor) -> Tensor:
    """SOCM with M_t(s) = I (ablation)."""
    return matching_loss(u_theta, socm_const_m_target(problem, paths), problem.sigma, weight)


def socm_adjoint_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor, weight: Tensor) -> Tensor:
    """SOCM-Adjoint: matching to the pathwise backward adjoint (ablation)."""
    return matching_loss(u_theta, socm_adjoint_target(problem, paths), problem.sigma, weight)


def relative_entropy_loss(paths: Paths) -> Tensor:
    """Adjoint / relative-entropy loss E[Σ_k(½|u_k|² + f(X_{k+1}))Δt + g(X_N)], differentiated through the paths
    (f at X_k with problem.running_cost_point "left")."""
    return paths.cost().mean(-1)


def cross_entropy_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor, weight: Tensor) -> Tensor:
    """E_v[α(Σ[−λ⁻¹<u_θ,v> + (2λ)⁻¹|u_θ|²]Δt − λ^{−1/2}Σ<u_θ,ξ>√Δt)]/Ẑ."""
    lam = problem.lam
    dt = paths.ts[1] - paths.ts[0]
    u = u_theta[:-1]
    det = ((-(u * paths.controls).sum(-1) / lam + (u**2).sum(-1) / (2 * lam)) * dt).sum(0)
    sto = -((u * paths.noises).sum(-1) * torch.sqrt(dt)).sum(0) / lam**0.5
    return ((det + sto) * weight).mean(-1)


def log_rn_derivative(problem: ControlProblem, paths: Paths, u_theta: Tensor) -> Tensor:
    """Y = Σ_k[−λ⁻¹<u_θ,v> + (2λ)⁻¹|u_θ|² − λ⁻¹f(X_k)]Δt − λ^{−1/2}Σ<u_θ,ξ>√Δt − λ⁻¹g(X_N), (B,); f at the
    left point whatever problem.running_cost_point (the original code's log-variance, variance and moment losses)."""
    lam = problem.lam
    dt = paths.ts[1] - paths.ts[0]
    u = u_theta[:-1]
    running = problem.running_cost(paths.states[:-1]).sum(0) * dt  # (B,) left points, as the original's
    det = ((-(u * paths.controls).sum(-1) / lam + (u**2).sum(-1) / (2 * lam)) * dt).sum(0) - running / lam
    sto = -((u * paths.noises).sum(-1) * torch.sqrt(dt)).sum(0) / lam**0.5
    return det + sto - paths.terminal_cost / lam


def log_variance_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor) -> Tensor:
    """Unbiased batch variance of Y (no weights)."""
    return torch.var(log_rn_derivative(problem, paths, u_theta), dim=-1, unbiased=True)


def variance_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor, norm_const: float | Tensor) -> Tensor:
    """Unbiased batch variance of exp(Y), divided by Ẑ²."""
    return torch.var(torch.exp(log_rn_derivative(problem, paths, u_theta)), dim=-1, unbiased=True) / norm_const**2


def moment_loss(problem: ControlProblem, paths: Paths, u_theta: Tensor, y0: Tensor) -> Tensor:
    """E[(Y + y0)²] with a learned scalar y0 ((E,) for an ensemble)."""
    return ((log_rn_derivative(problem, paths, u_theta) + y0[..., None]) ** 2).mean(-1)


# ============================================================================ metric
def control_l2_error(u_star: Tensor, u: Tensor, weight: Tensor) -> Tensor:
    """Σ_k Σ_b |u* − u|² α / (K·B) / Ẑ: importance-sampled E_{P^{u*}}[(1/T)∫|u − u*|² dt]."""
    sq = ((u_star - u) ** 2).sum(-1)  # (K, B)
    return (sq * weight).sum(dim=(0, -1)) / (sq.shape[0] * sq.shape[-1])
