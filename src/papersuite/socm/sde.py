"""Euler–Maruyama paths of the controlled SDE with the pieces of the log importance weight
(docs/papers/socm.md, "Method").

X_{k+1} = X_k + (b(X_k) + σ v_k) Δt + √(λΔt) σ ξ_k, ξ_k ~ N(0, I), v_k = v(t_k, X_k), and
log α = −λ⁻¹ Σ_k f(X_{k+1}) Δt − λ⁻¹ g(X_N) − λ^{−1/2} Σ_k <v_k, ξ_k> √Δt − (2λ)⁻¹ Σ_k |v_k|² Δt,
so that E_v[α] = exp(−V(0, x0)/λ) for every v (Girsanov), up to the O(Δt) of the Riemann sum.

One generator simulates paths (B, d); a list of E generators simulates an ensemble's paths (E, B, d), member e's
noise drawn from generator e exactly as one generator draws it (ensemble.py): every per-path quantity then has
the batch shape (E, B) instead of (B,).

The running cost in log α and in the adjoint (relative-entropy) cost is evaluated at X_{k+1} (time t_k),
as the original code does; problem.running_cost_point = "left" uses X_k instead (docs/papers/socm.md,
"Differences from the original code, settled"). The losses that rebuild log α from u_θ (log_rn_derivative)
use X_k, as the original's do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .problems import ControlProblem
from .unet_grid import UNetGridRecord

__all__ = ["Paths", "simulate", "running_cost_sum", "Control"]

Control = Callable[[Tensor, Tensor], Tensor]  # (t scalar, x (B, d)) -> (B, d)


@dataclass
class Paths:
    """A batch of simulated paths and the sums that enter the importance weight and the cost."""

    ts: Tensor  # (N+1,)
    states: Tensor  # (N+1, B, d); (N+1, E, B, d) for an ensemble, and (E, B) for (B,) below
    noises: Tensor  # (N, B, d), the standard normals ξ_k
    controls: Tensor  # (N, B, d), v_k = v(t_k, X_k)
    running_cost: Tensor  # (B,) Σ_k f(X_{k+1}) Δt (f(X_k) with problem.running_cost_point "left")
    control_cost: Tensor  # (B,) ½ Σ_k |v_k|² Δt
    noise_term: Tensor  # (B,) Σ_k <v_k, ξ_k> √Δt
    terminal_cost: Tensor  # (B,) g(X_N)
    grid_record: UNetGridRecord | None = None  # the network's activations on the grid (simulate(record=True))

    def log_weight(self, lam: float) -> Tensor:
        """log α, (B,)."""
        return -(self.running_cost + self.terminal_cost) / lam - self.noise_term / lam**0.5 - self.control_cost / lam

    def cost(self) -> Tensor:
        """Pathwise control objective Σ(½|v|² + f)Δt + g(X_N), (B,)."""
        return self.running_cost + self.control_cost + self.terminal_cost


def running_cost_sum(problem: ControlProblem, states: Tensor, dt: float) -> Tensor:
    """Σ_k f(X_{k+1}) Δt (right point, the original code) or Σ_k f(X_k) Δt (left), states (N+1, ..., d) -> (...)."""
    if not problem.has_running_cost:
        return states.new_zeros(states.shape[1:-1])
    points = states[1:] if problem.running_cost_point == "right" else states[:-1]
    return problem.running_cost(points).sum(0) * dt


def _step_function(control: Control | None, batch: int, grad: bool) -> Control | None:
    """The control as called once per step: through its stepper (no graph) or graph_stepper (graph) where it
    offers one (a LearnedControl: the same numbers with less per-call overhead), else the control itself."""
    if control is None:
        return None
    if grad:
        return control.graph_stepper() if hasattr(control, "graph_stepper") else control
    return control.stepper(batch) if hasattr(control, "stepper") else control


def _draw_noises(
    n: int, batch: int, d: int, generator: torch.Generator | list[torch.Generator] | None, like: Tensor
) -> Tensor:
    """ξ (N, B, d) from one generator, or (N, E, B, d) from E generators, member e's drawn by generator e."""
    if not isinstance(generator, list):
        return torch.randn((n, batch, d), generator=generator, dtype=like.dtype, device=like.device)
    draws = [torch.randn((n, batch, d), generator=g, dtype=like.dtype, device=like.device) for g in generator]
    return torch.stack(draws, dim=1)


def simulate(
    problem: ControlProblem,
    control: Control | None,
    batch: int,
    generator: torch.Generator | list[torch.Generator] | None = None,
    N: int | None = None,
    keep_graph: bool = False,
    x0: Tensor | None = None,
    record: bool = False,
) -> Paths:
    """Simulate `batch` paths from x0 under control v (None: v = 0) on linspace(0, T, N+1); `batch` paths of each
    member of an ensemble when `generator` is a list (one per member).

    With keep_graph=False (all losses but the adjoint one) nothing is recorded for autograd and the
    control is treated as fixed (detached sampling control, on-policy); with keep_graph=True the whole
    trajectory stays differentiable (adjoint / relative-entropy loss). With record=True (no graph) a control
    that offers recording_stepper keeps its network's activations on the grid, terminal point included, in
    Paths.grid_record, so that the losses get u_θ on the grid without evaluating the network again.
    """
    ts = problem.time_grid(N)
    n = ts.shape[0] - 1
    dt = problem.T / n
    sqrt_dt = dt**0.5
    lead = (len(generator), batch) if isinstance(generator, list) else (batch,)
    x = (problem.x0 if x0 is None else x0).expand(*lead, problem.d)
    noises = _draw_noises(n, batch, problem.d, generator, x)  # (N, *lead, d)
    sigma_t = problem.sigma.T
    identity_sigma = bool(torch.equal(problem.sigma, torch.eye(problem.d, dtype=x.dtype, device=x.device)))
    diffusion = ((problem.lam * dt) ** 0.5) * (noises if identity_sigma else noises @ sigma_t)  # (N, B, d)
    grad = keep_graph and torch.is_grad_enabled()
    grid_record = None
    if record and not grad and control is not None and hasattr(control, "recording_stepper"):
        step, grid_record = control.recording_stepper(n + 1, batch)
    else:
        step = _step_function(control, batch, grad)
    with torch.set_grad_enabled(grad):
        states, controls = [x], []
        for k in range(n):
            v = torch.zeros_like(x) if step is None else step(ts[k], x)
            drift = problem.drift(x) + (v if identity_sigma else v @ sigma_t)
            x = x + drift * dt + diffusion[k]
            states.append(x)
            controls.append(v)
        if grid_record is not None:
            grid_record.step(ts[n], x)  # the terminal point: the losses regress u_θ on all N+1 points
        states_t = torch.stack(states)  # (N+1, *lead, d)
        controls_t = torch.stack(controls)  # (N, *lead, d)
        running = running_cost_sum(problem, states_t, dt)  # lead
        return Paths(
            ts=ts,
            states=states_t,
            noises=noises,
            controls=controls_t,
            running_cost=running,
            control_cost=0.5 * (controls_t**2).sum(dim=(0, -1)) * dt,
            noise_term=(controls_t * noises).sum(dim=(0, -1)) * sqrt_dt,
            terminal_cost=problem.terminal_cost(x),
            grid_record=grid_record,
        )
