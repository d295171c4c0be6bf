"""The model file of one trained ensemble: every member's weights and run statistics (docs/papers/socm.md,
"Training and metrics" and "Jobs and ensembles"); evaluate.load_member reads a member back as one network."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .train import _Run

__all__ = ["final_model", "mean_time_se"]


def mean_time_se(state: Mapping[str, Any], n_iter: int) -> float:
    """Standard error of the mean time per iteration, std(ddof=1)/√n over the run's iterations (NaN if n < 2)."""
    if n_iter < 2:
        return math.nan
    mean = state["sum_time"] / n_iter
    var = max(state.get("sum_sq_time", math.nan) - n_iter * mean**2, 0.0) / (n_iter - 1)
    return float(math.sqrt(var / n_iter))


def _member(run: _Run, e: int, state: Mapping[str, Any], wall_s: float, n_iter: int) -> dict[str, Any]:
    """Member e: its weights as single networks' state_dicts, its seed and its run statistics."""
    warm = run.control.warm_start
    return {
        "seed": run.seeds[e],
        "control": run.control.net.member_state_dict(e),
        "M": None if run.M is None else run.M.member_state_dict(e),
        "gamma": None if run.M is None else float(run.M.gamma[e].detach()),
        "y0": None if run.y0 is None else float(run.y0[e].detach()),
        "warm_start": None if warm is None else warm.members[e].state_dict(),
        "norm_const": float(state["norm_const"]),
        # the ensemble's wall time and time per iteration divided by its E members
        "train_wall_s": float(wall_s),
        "mean_time_per_iteration_s": float(state["sum_time"] / n_iter),
        "time_per_iteration_se_s": mean_time_se(state, n_iter),
        "skipped_steps": int(state["skipped_steps"]),
        # mean of the raw (un-smoothed) per-iteration L2 error over the last 10% of iterations: at tiny
        # iteration counts the EMA (0.01) still carries the early transient, this window does not
        "final_window_iterations": int(state["window_n"]),
        "final_window_control_l2_error": float(state["window_l2_sum"] / max(state["window_n"], 1)),
    }


def final_model(
    run: _Run,
    setting: str,
    method: str,
    cfg: Mapping[str, Any],
    states: Sequence[Mapping[str, Any]],
    walls: Sequence[float],
) -> dict[str, Any]:
    """The model file's content: the architecture evaluate needs, then one entry per member (seed order)."""
    n_iter = cfg["iterations"]
    return {
        "setting": setting,
        "method": method,
        "seeds": list(run.seeds),
        "d": run.problem.d,
        "hdims": [int(h) for h in cfg["hdims"]],
        "M_hdims": [int(h) for h in cfg["M_hdims"]],
        "scaling_factor_nabla_V": float(cfg["scaling_factor_nabla_V"]),
        "output_relu": bool(run.control.net.output_relu),  # also in each member's state_dict (a bool buffer)
        "iterations": n_iter,
        "members": [_member(run, e, state, wall, n_iter) for e, (state, wall) in enumerate(zip(states, walls))],
    }
