"""Ground-truth optimal controls and optimal costs V(0, x0) of the four settings
(docs/papers/socm.md, "Reference solutions").

- Quadratic OU (LQ): V = xᵀF(t)x + c(t) with the Riccati equation
  dF/dt = −AᵀF − FA + 2FσσᵀF − P, F(T) = Q, and u* = −2σᵀF(t)x (closed form for isotropic
  problems, an accurate ODE solve otherwise; the original code's backward Euler on the training
  grid is kept for comparison).
- Linear OU: u*(t) = −σᵀ exp(Aᵀ(T−t)) ω, independent of x; V(0,x0) = ωᵀe^{AT}x0 − ½∫|u*|²dt.
- Double well: separable; each 1-D ψ(t,x) = E[exp(−g_i(X_T)/λ) | X_t = x] solves the backward
  Kolmogorov equation ∂_tψ + b∂_xψ + ½λσ²∂_x²ψ = 0, discretised by a symmetrised finite-volume
  scheme (tridiagonal, Neumann boundaries, second order in Δx) and implicit Euler in time (scipy
  solve_banded), Richardson-extrapolated over Δt and Δt/2 (second order in Δt). u* = λσ ∂_x log ψ.

All numerics here are float64 numpy (scipy); the torch lookups of the stored solution, which the
training and evaluation jobs use, live in optimal_control.py (no scipy import there) and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.integrate
import scipy.linalg

from .optimal_control import (  # re-exported: they were defined here
    LinearFeedbackControl,
    OpenLoopControl,
    TabulatedSeparableControl,
    optimal_control_from_arrays,
)
from .problems import ControlProblem

__all__ = [
    "riccati_isotropic",
    "riccati_backward_euler",
    "riccati_solution",
    "lq_optimal_cost",
    "linear_ou_optimal_control",
    "linear_ou_optimal_cost",
    "double_well_psi_1d",
    "double_well_value_1d",
    "double_well_control_tables",
    "build_reference",
    "LinearFeedbackControl",
    "OpenLoopControl",
    "TabulatedSeparableControl",
    "optimal_control_from_arrays",
]


# ============================================================================ LQ (quadratic OU)
def riccati_isotropic(a: float, p: float, q: float, t: np.ndarray | float, T: float = 1.0) -> np.ndarray:
    """Closed-form scalar F(t) of dF/dt = −2aF + 2F² − p, F(T) = q (σ = I).

    Δ = √(a² + 2p), r± = (a ± Δ)/2, k(τ) = (q − r₊)/(q − r₋)·e^{−2Δτ}, F = (r₊ − r₋k)/(1 − k), τ = T − t.
    """
    tau = T - np.asarray(t, dtype=np.float64)
    delta = np.sqrt(a * a + 2.0 * p)
    r_plus, r_minus = (a + delta) / 2.0, (a - delta) / 2.0
    k = (q - r_plus) / (q - r_minus) * np.exp(-2.0 * delta * tau)
    return (r_plus - r_minus * k) / (1.0 - k)


def riccati_backward_euler(
    A: np.ndarray, P: np.ndarray, Q: np.ndarray, sigma: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """The original code's explicit Euler, backward from F(T) = Q on the grid ts; returns (N+1, d, d)."""
    R = sigma @ sigma.T
    F = [np.asarray(Q, dtype=np.float64)]
    for t0, t1 in zip(ts[:-1][::-1], ts[1:][::-1]):
        Fn = F[-1]
        F.append(Fn - (t1 - t0) * (-A.T @ Fn - Fn @ A + 2.0 * Fn @ R @ Fn - P))
    return np.stack(F[::-1])


def _is_isotropic(M: np.ndarray) -> bool:
    return bool(np.allclose(M, M[0, 0] * np.eye(M.shape[0]), atol=0.0, rtol=0.0))


def riccati_solution(
    A: np.ndarray, P: np.ndarray, Q: np.ndarray, sigma: np.ndarray, ts: np.ndarray, T: float
) -> np.ndarray:
    """Accurate F(t) on ts, (N+1, d, d): closed form when A, P, Q are multiples of I and σ = I, else an ODE solve."""
    d = A.shape[0]
    ts = np.asarray(ts, dtype=np.float64)
    if all(_is_isotropic(M) for M in (A, P, Q)) and np.allclose(sigma, np.eye(d), atol=0.0, rtol=0.0):
        f = riccati_isotropic(A[0, 0], P[0, 0], Q[0, 0], ts, T)
        return f[:, None, None] * np.eye(d)
    R = sigma @ sigma.T

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        F = y.reshape(d, d)
        return (-A.T @ F - F @ A + 2.0 * F @ R @ F - P).ravel()

    sol = scipy.integrate.solve_ivp(
        rhs, (T, 0.0), np.asarray(Q, float).ravel(), t_eval=ts[::-1], rtol=1e-11, atol=1e-13, method="DOP853"
    )
    return sol.y.T[::-1].reshape(len(ts), d, d)


def lq_optimal_cost(
    A: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    sigma: np.ndarray,
    x0: np.ndarray,
    lam: float,
    T: float,
    n_quad: int = 20001,
) -> dict[str, float]:
    """V(0,x0) = x0ᵀF(0)x0 + λ∫_0^T tr(σσᵀF) dt (= F(0)|x0|² + λd∫F for σ = I)."""
    tq = np.linspace(0.0, T, n_quad)
    F = riccati_solution(A, P, Q, sigma, tq, T)
    R = sigma @ sigma.T
    trace_RF = np.einsum("ij,kji->k", R, F)
    integral = scipy.integrate.simpson(trace_RF, x=tq)
    F0 = F[0]
    return {
        "V0": float(x0 @ F0 @ x0 + lam * integral),
        "F0": float(F0[0, 0]),
        "int_F": float(scipy.integrate.simpson(F[:, 0, 0], x=tq)),
    }


# ============================================================================ linear OU
def linear_ou_optimal_control(
    A: np.ndarray, sigma: np.ndarray, omega: np.ndarray, ts: np.ndarray, T: float
) -> np.ndarray:
    """u*(t) = −σᵀ exp(Aᵀ(T − t)) ω on ts, (len(ts), d)."""
    return np.stack([-sigma.T @ scipy.linalg.expm(A.T * (T - t)) @ omega for t in np.asarray(ts, float)])


def linear_ou_optimal_cost(
    A: np.ndarray, sigma: np.ndarray, omega: np.ndarray, x0: np.ndarray, T: float, n_quad: int = 2001
) -> float:
    """V(0,x0) = ωᵀe^{AT}x0 − ½∫_0^T |u*(t)|² dt (negative for x0 = 0)."""
    tq = np.linspace(0.0, T, n_quad)
    u = linear_ou_optimal_control(A, sigma, omega, tq, T)
    return float(omega @ scipy.linalg.expm(A * T) @ x0 - 0.5 * scipy.integrate.simpson((u**2).sum(1), x=tq))


# ============================================================================ double well
def _generator_bands(x: np.ndarray, kappa: float, lam: float, sigma: float) -> tuple[np.ndarray, ...]:
    """The tridiagonal generator L on the grid x: (upper (nx−1,), diag (nx,), lower (nx−1,)).

    L = ½λσ² e^{βΨ} ∂_x(e^{−βΨ} ∂_x ·), β = 2/(λσ²), Ψ = κ(x² − 1)², so that Lψ = −Ψ'ψ' + ½λσ²ψ''.
    Finite volumes with zero flux at the ends: off-diagonals ½λσ² exp(β(Ψ_i − Ψ_{i±½}))/Δx², second order in Δx.
    """
    dx = x[1] - x[0]
    beta = 2.0 / (lam * sigma**2)
    diff = 0.5 * lam * sigma**2 / dx**2
    pot = kappa * (x**2 - 1.0) ** 2
    pot_half = kappa * ((0.5 * (x[1:] + x[:-1])) ** 2 - 1.0) ** 2  # Ψ at the nx−1 cell faces
    upper = diff * np.exp(beta * (pot[:-1] - pot_half))  # L_{i,i+1}, i = 0..nx−2
    lower = diff * np.exp(beta * (pot[1:] - pot_half))  # L_{i,i−1}, i = 1..nx−1
    diag = np.zeros(len(x))
    diag[:-1] -= upper
    diag[1:] -= lower
    return upper, diag, lower


def _implicit_euler_log_psi(bands: tuple[np.ndarray, ...], log_terminal: np.ndarray, nt: int, dt: float) -> np.ndarray:
    """log ψ at the nt+1 time levels of implicit Euler (I − ΔtL)ψⁿ = ψⁿ⁺¹ from ψ(T), (nt+1, nx).

    Each step is one banded solve (O(nx) memory); ψ is rescaled by its max every step (the log of the scale
    is kept), far from underflow. (I − ΔtL) is an M-matrix, so ψ stays positive and log ψ finite."""
    upper, diag, lower = bands
    band = np.zeros((3, len(diag)))  # (I − Δt L) in solve_banded((1, 1), ...) storage
    band[0, 1:] = -dt * upper
    band[1, :] = 1.0 - dt * diag
    band[2, :-1] = -dt * lower
    log_psi = np.empty((nt + 1, len(diag)))
    log_psi[nt] = log_terminal
    psi, log_scale = np.exp(log_terminal), 0.0
    for n in range(nt - 1, -1, -1):
        psi = scipy.linalg.solve_banded((1, 1), band, psi, check_finite=False)
        m = psi.max()
        psi = psi / m
        log_scale += np.log(m)
        log_psi[n] = np.log(psi) + log_scale
    return log_psi


def double_well_psi_1d(
    kappa: float,
    nu: float,
    lam: float = 1.0,
    T: float = 1.0,
    dx: float = 0.01,
    dt: float = 0.005,
    xb: float = 2.75,
    sigma: float = 1.0,
    extrapolate: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ψ(t,x) on the grid x_i = −xb + iΔx, t_n = nΔt; returns (x (nx,), t (nt+1,), log ψ (nt+1, nx)).

    Backward Kolmogorov equation ∂_tψ + Lψ = 0, ψ(T) = exp(−g/λ), g = ν(x² − 1)², L of _generator_bands.
    Time: implicit Euler with steps Δt and Δt/2, Richardson-extrapolated on log ψ,
    log ψ = 2 log ψ_{Δt/2} − log ψ_{Δt}, which cancels the O(Δt) error (second order in Δt, as in Δx;
    docs/papers/socm.md, "Reference solutions"). Extrapolating log ψ, not ψ, keeps log ψ finite where ψ is
    tiny, and u* = λσ∂_x log ψ and V = −λ log ψ are both linear in it. extrapolate=False: plain implicit Euler.
    """
    nx = int(round(2.0 * xb / dx)) + 1
    nt = int(round(T / dt))
    if abs(nt * dt - T) > 1e-9 * T:
        raise ValueError(f"T={T} is not a multiple of dt={dt}")
    x = np.linspace(-xb, xb, nx)
    bands = _generator_bands(x, kappa, lam, sigma)
    log_terminal = -nu * (x**2 - 1.0) ** 2 / lam
    log_psi = _implicit_euler_log_psi(bands, log_terminal, nt, T / nt)
    if extrapolate:
        log_psi_half = _implicit_euler_log_psi(bands, log_terminal, 2 * nt, T / (2 * nt))[::2]
        log_psi = 2.0 * log_psi_half - log_psi
    return x, np.linspace(0.0, T, nt + 1), log_psi


def double_well_value_1d(kappa: float, nu: float, x0: float = 0.0, **pde: Any) -> float:
    """V_1D(0, x0) = −λ log ψ(0, x0) (linear interpolation in x)."""
    lam = float(pde.get("lam", 1.0))
    x, _, log_psi = double_well_psi_1d(kappa, nu, **pde)
    return float(-lam * np.interp(x0, x, log_psi[0]))


def double_well_control_tables(
    kappa: np.ndarray,
    nu: np.ndarray,
    lam: float,
    T: float,
    ts: np.ndarray,
    dx: float,
    dt: float,
    xb: float,
    sigma_diag: np.ndarray | None = None,
    x0: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """u*_i(t_k, x) = λσ_i ∂_x log ψ_i at the cell faces for every distinct (κ_i, ν_i, σ_i), on the grid ts.

    Returns x_mid (nx−1,), u_tables (len(ts), nx−1, n_unique), dim_table (d,) mapping each
    dimension to its table, v0_dims (d,) the per-dimension V_i(0, x0_i).
    """
    d = len(kappa)
    sigma_diag = np.ones(d) if sigma_diag is None else np.asarray(sigma_diag, float)
    x0 = np.zeros(d) if x0 is None else np.asarray(x0, float)
    keys: list[tuple[float, float, float]] = []
    dim_table = np.zeros(d, dtype=np.int64)
    for i in range(d):
        key = (float(kappa[i]), float(nu[i]), float(sigma_diag[i]))
        if key not in keys:
            keys.append(key)
        dim_table[i] = keys.index(key)
    ts = np.asarray(ts, float)
    t_index = np.rint(ts / dt).astype(np.int64)
    if np.max(np.abs(t_index * dt - ts)) > 1e-6 * max(T, 1.0):
        raise ValueError(f"training grid (Δt={ts[1] - ts[0]:g}) is not a multiple of the PDE step dt={dt:g}")
    tables, log_psi0 = [], []
    x = None
    for kap, n_, sig in keys:
        x, _, log_psi = double_well_psi_1d(kap, n_, lam=lam, T=T, dx=dx, dt=dt, xb=xb, sigma=sig)
        grad_log_psi = np.diff(log_psi[t_index], axis=1) / (x[1] - x[0])  # (K, nx−1), forward difference
        tables.append(lam * sig * grad_log_psi)
        log_psi0.append(log_psi[0])
    v0_dims = np.array([-lam * np.interp(x0[i], x, log_psi0[dim_table[i]]) for i in range(d)])
    return {
        "x_mid": 0.5 * (x[1:] + x[:-1]),
        "u_tables": np.stack(tables, axis=-1),
        "dim_table": dim_table,
        "v0_dims": v0_dims,
    }


# ============================================================================ per-problem build
def build_reference(
    problem: ControlProblem, pde: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reference arrays (prefixed 'ref_') on the training grid and a JSON-able summary for one problem."""
    ts = problem.time_grid().double().cpu().numpy()
    x0 = problem.x0.double().cpu().numpy()
    sigma = problem.sigma.double().cpu().numpy()
    T, lam = problem.T, problem.lam
    arrays: dict[str, np.ndarray] = {"ref_ts": ts}
    summary: dict[str, Any] = {}
    if problem.kind == "ou_quadratic":
        A, P, Q = (getattr(problem, k).double().cpu().numpy() for k in ("A", "P", "Q"))
        F = riccati_solution(A, P, Q, sigma, ts, T)
        F_euler = riccati_backward_euler(A, P, Q, sigma, ts)
        cost = lq_optimal_cost(A, P, Q, sigma, x0, lam, T)
        arrays["ref_feedback"] = -2.0 * np.einsum("ji,kjl->kil", sigma, F)  # u* = K(t) x, K = −2σᵀF
        arrays["ref_F"] = F
        arrays["ref_F_euler"] = F_euler
        arrays["ref_V0"] = np.array(cost["V0"])
        summary.update(
            V0_analytic=cost["V0"],
            F0=float(F[0, 0, 0]),
            F0_euler=float(F_euler[0, 0, 0]),
            int_F=cost["int_F"],
            V0_euler_grid=float(
                x0 @ F_euler[0] @ x0 + lam * np.trapezoid(np.einsum("ij,kji->k", sigma @ sigma.T, F_euler), ts)
            ),
        )
    elif problem.kind == "linear_ou":
        A = problem.A.double().cpu().numpy()
        omega = problem.omega.double().cpu().numpy()
        u = linear_ou_optimal_control(A, sigma, omega, ts, T)
        v0 = linear_ou_optimal_cost(A, sigma, omega, x0, T)
        arrays["ref_open_loop"] = u
        arrays["ref_V0"] = np.array(v0)
        summary.update(V0_analytic=v0)
    else:
        pde = dict(pde or {})
        dx, dt, xb = float(pde.get("dx", 0.01)), float(pde.get("dt", 0.005)), float(pde.get("xb", 2.75))
        if not np.allclose(sigma, np.diag(np.diag(sigma))):
            raise ValueError("the double-well reference needs a diagonal σ (the problem must separate)")
        tabs = double_well_control_tables(
            problem.kappa.double().cpu().numpy(),
            problem.nu.double().cpu().numpy(),
            lam,
            T,
            ts,
            dx,
            dt,
            xb,
            sigma_diag=np.diag(sigma),
            x0=x0,
        )
        arrays.update({f"ref_{k}": v for k, v in tabs.items()})
        arrays["ref_V0"] = np.array(float(tabs["v0_dims"].sum()))
        summary.update(
            V0_pde=float(tabs["v0_dims"].sum()),
            V0_pde_dims=tabs["v0_dims"].tolist(),
            pde={"dx": dx, "dt": dt, "xb": xb},
        )
    return arrays, summary
