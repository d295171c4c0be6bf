"""Gaussian-path warm start for quadratic OU hard (docs/papers/socm.md, "Warm start"; after GSBM's
EndPointGaussianPath).

A restricted SOC problem over Gaussian paths X_t ~ N(μ(t), γ(t)² I) starting at x0: μ is a
piecewise-linear spline (first knot fixed at x0, the others, including the end point, learned,
initialised on the straight line to x1 = 0), γ(t) = √(λt)·softplus(s(t))/softplus(1) with a
piecewise-linear s (first knot fixed, initialised at 1, so γ starts as the Brownian std).
The Markov drift with these marginals is v(t,x) = μ̇ + a(t)(x − μ), a = (γ̇ I − ½λσσᵀ/γ)/γ, and the
objective is E[∫_0^T f(X_t) + ½|σ⁻¹(v − b)|² dt + g(X_T)]. Its control σ⁻¹(v − b) is added,
detached, to the network's control during training; the network learns the residual.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from .optim import Adam
from .problems import ControlProblem

__all__ = [
    "WARM_START_SEED_OFFSET",
    "GaussianPathWarmStart",
    "fit_gaussian_path",
    "load_warm_start",
    "warm_start_from_state",
]

# Offset of the warm start's generator seed from the training seed, so the fit does not share
# random numbers with the training paths of the same seed.
WARM_START_SEED_OFFSET = 7919

log = logging.getLogger("papersuite.socm.warm_start")


class GaussianPathWarmStart(nn.Module):
    """Gaussian path from x0 with learned mean and std splines; ``control(t, x)`` is the warm-start control."""

    def __init__(self, problem: ControlProblem, knots: int = 21, x1: Tensor | None = None) -> None:
        super().__init__()
        if knots < 3:
            raise ValueError(f"warm_start.knots must be >= 3, got {knots}")
        x0 = problem.x0
        x1 = torch.zeros_like(x0) if x1 is None else x1
        tau = torch.linspace(0.0, 1.0, knots, dtype=x0.dtype, device=x0.device)[:, None]
        line = (1.0 - tau) * x0 + tau * x1  # (K, d)
        self.register_buffer("x0", x0.clone())
        self.mean_knots = nn.Parameter(line[1:].clone())  # (K−1, d)
        self.register_buffer("std_knot0", torch.ones(1, dtype=x0.dtype, device=x0.device))
        self.std_knots = nn.Parameter(torch.ones(knots - 1, dtype=x0.dtype, device=x0.device))
        self.problem = problem
        self.T = problem.T
        self.eps = 1e-4 * problem.T  # γ(0) = 0: evaluate just inside (0, T) as the original does
        self._grid: tuple[Tensor, list[float], Tensor, Tensor, Tensor] | None = None  # see tabulate

    # ----------------------------------------------------------- splines
    def _locate(self, t: Tensor) -> tuple[Tensor, Tensor, float]:
        k = self.mean_knots.shape[0] + 1
        h = self.T / (k - 1)
        pos = t / h
        i = torch.clamp(torch.floor(pos), 0, k - 2).long()
        return i, pos - i.to(t.dtype), h

    def mean(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """μ(t), μ̇(t): t (K,) -> (K, d), (K, d)."""
        knots = torch.cat([self.x0[None], self.mean_knots], dim=0)
        i, w, h = self._locate(t)
        lo, hi = knots[i], knots[i + 1]
        return lo + w[:, None] * (hi - lo), (hi - lo) / h

    def std(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """γ(t), γ̇(t): t (K,) -> (K,), (K,)."""
        knots = torch.cat([self.std_knot0, self.std_knots])
        i, w, h = self._locate(t)
        lo, hi = knots[i], knots[i + 1]
        s, s_dot = lo + w * (hi - lo), (hi - lo) / h
        scale = 1.0 / torch.nn.functional.softplus(torch.tensor(1.0, dtype=t.dtype))
        base = torch.sqrt(self.problem.lam * t)
        sp = torch.nn.functional.softplus(s)
        gamma = scale * base * sp
        gamma_dot = scale * (0.5 * self.problem.lam / base * sp + base * torch.sigmoid(s) * s_dot)
        return gamma, gamma_dot

    # ----------------------------------------------------------- drift and control
    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        """v(t, x) = μ̇ + a(t)(x − μ): t (K,) and x (K, B, d) -> (K, B, d)."""
        mu, mu_dot, a = self._drift_terms(t)
        return mu_dot[:, None, :] + torch.einsum("kij,kbj->kbi", a, x - mu[:, None, :])

    def _drift_terms(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """μ(t), μ̇(t), a(t) for t (K,): (K, d), (K, d), (K, d, d)."""
        t = t.clamp(self.eps, self.T - self.eps)
        mu, mu_dot = self.mean(t)
        gamma, gamma_dot = self.std(t)
        R = self.problem.lam * self.problem.sigma @ self.problem.sigma.T  # (d, d)
        eye = torch.eye(R.shape[0], dtype=t.dtype, device=t.device)
        a = (gamma_dot[:, None, None] * eye - 0.5 * R / gamma[:, None, None]) / gamma[:, None, None]
        return mu, mu_dot, a

    def tabulate(self, ts: Tensor) -> None:
        """Cache μ, μ̇, a on a time grid (the training grid): control() at these times is then a lookup."""
        with torch.no_grad():
            mu, mu_dot, a = self._drift_terms(ts)
        self._grid = (ts.clone(), [float(t) for t in ts], mu, mu_dot, a)

    def _grid_terms(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Cached terms when t (K,) lies on the tabulated grid, else computed."""
        if self._grid is not None:
            ts, ts_list, mu, mu_dot, a = self._grid
            if t.numel() == 1:
                n = len(ts_list) - 1
                k = min(max(int(round(float(t) * n / self.T)), 0), n)
                if abs(ts_list[k] - float(t)) <= 1e-9 * self.T:
                    return mu[k : k + 1], mu_dot[k : k + 1], a[k : k + 1]
            elif t.shape == ts.shape and torch.equal(t, ts):
                return mu, mu_dot, a
        return self._drift_terms(t)

    def control(self, t: Tensor, x: Tensor) -> Tensor:
        """u_ws(t, x) = σ⁻¹(v(t, x) − b(x)), detached: t scalar or (K,), x (B, d) or (K, B, d)."""
        with torch.no_grad():
            squeeze = x.dim() == 2
            t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
            xx = x[None] if squeeze else x
            mu, mu_dot, a = self._grid_terms(t)
            v = mu_dot[:, None, :] + torch.einsum("kij,kbj->kbi", a, xx - mu[:, None, :])
            u = (v - self.problem.drift(xx)) @ self.problem.sigma_inv.T
            return u[0] if squeeze else u

    def objective(self, n_paths: int, time_points: int, generator: torch.Generator) -> Tensor:
        """Monte Carlo E[∫ f + ½|σ⁻¹(v − b)|² dt + g(X_T)] on t = linspace(ε, T−ε) (ε = 0.001T as in GSBM)."""
        p = self.problem
        eps = 1e-3 * p.T
        t = torch.linspace(eps, p.T - eps, time_points, dtype=p.x0.dtype, device=p.x0.device)
        mu, _ = self.mean(t)
        gamma, _ = self.std(t)
        noise = torch.randn((time_points, n_paths, p.d), generator=generator, dtype=mu.dtype, device=mu.device)
        x = mu[:, None, :] + gamma[:, None, None] * noise  # (K, B, d)
        ctrl = (self.drift(t, x) - p.drift(x)) @ p.sigma_inv.T
        running = p.running_cost(x).mean() * p.T
        control_cost = 0.5 * (ctrl**2).sum(-1).mean() * p.T
        terminal = p.terminal_cost(x[-1]).mean()
        return running + control_cost + terminal


def fit_gaussian_path(
    problem: ControlProblem,
    iterations: int,
    batch: int,
    knots: int,
    lr: float,
    time_points: int,
    generator: torch.Generator,
) -> GaussianPathWarmStart:
    """Fit the Gaussian-path restricted SOC problem with Adam (eps 1e-4), as GSBM and the original code do.

    optim.Adam is torch.optim.Adam's update bit for bit, without the ~1 s import of torch.optim's dependencies."""
    path = GaussianPathWarmStart(problem, knots=knots)
    opt = Adam([{"params": list(path.parameters()), "lr": lr}], eps=1e-4)
    for itr in range(iterations):
        opt.zero_grad()
        loss = path.objective(batch, time_points, generator)
        loss.backward()
        opt.step()
        if itr == 0 or (itr + 1) % max(1, iterations // 5) == 0:
            log.info("warm start %d/%d: restricted objective %.5f", itr + 1, iterations, loss.item())
    path.requires_grad_(False)
    return path


def warm_start_from_state(problem: ControlProblem, state: dict[str, Tensor]) -> GaussianPathWarmStart:
    """Rebuild a fitted warm start from its state_dict."""
    path = GaussianPathWarmStart(problem, knots=state["std_knots"].shape[0] + 1)
    path.load_state_dict(state)
    path.requires_grad_(False)
    return path


def load_warm_start(problem: ControlProblem, path: str | Path) -> GaussianPathWarmStart:
    """A warm start written by steps.warm_start (our own file, still loaded with weights_only=True)."""
    state = torch.load(path, map_location=problem.sigma.device, weights_only=True)
    return warm_start_from_state(problem, state)
