"""Helpers shared by the SOCM known-answer tests (docs/papers/socm.md, "Known answers")."""

from __future__ import annotations

import torch

from papersuite.socm.problems import ControlProblem, make_problem, problem_from_arrays
from papersuite.socm.reference import build_reference, optimal_control_from_arrays

EASY = dict(kind="ou_quadratic", d=2, T=1.0, lam=1.0, a=0.2, p=0.2, q=0.1, x0=[0.4, 0.6], seed=0)
HARD = dict(kind="ou_quadratic", d=2, T=1.0, lam=1.0, a=1.0, p=1.0, q=0.5, x0=[0.4, 0.6], seed=0)
LINEAR = dict(kind="linear_ou", d=2, T=1.0, lam=1.0, xi_std=0.1, seed=0)
DOUBLE_WELL = dict(
    kind="double_well",
    d=2,
    T=1.0,
    lam=1.0,
    kappa=[5.0, 1.0],
    nu=[3.0, 1.0],
    seed=0,
    pde=dict(dx=0.01, dt=0.005, xb=2.75),
)


def problem64(cfg: dict, N: int) -> ControlProblem:
    """A float64 problem on an N-step grid."""
    return problem_from_arrays(make_problem({**cfg, "N": N}), dtype=torch.float64)


def reference64(problem: ControlProblem, cfg: dict):
    """(u* lookup on the problem's grid, reference arrays, summary)."""
    arrays, summary = build_reference(problem, pde=cfg.get("pde"))
    return optimal_control_from_arrays(arrays, problem.T, dtype=torch.float64), arrays, summary


def as_step_control(u_grid):
    """Adapt a grid lookup (t (K,), x (K,B,d)) to the simulator's (t scalar, x (B,d))."""
    return lambda t, x: u_grid(t.reshape(1), x[None])[0]
