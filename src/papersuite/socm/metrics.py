"""The logged training metrics: EMA-smoothed loss, control L2 error, importance-weight statistics,
gradient norm and time per iteration, and the training curve built from them.

Each metric is smoothed as the original code's compute_EMA does (a running mean for the first
1/coefficient iterations, then an EMA). So is Ẑ by default (norm_schedule "original": the first batch's
mean replaces Ẑ₀ after iteration 0, then a running mean up to iteration 1/norm_ema, then an EMA);
norm_schedule "ema" keeps Ẑ₀ and applies a plain EMA from the start. See docs/papers/socm.md,
"Training and metrics" and "Differences from the original code, settled".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from papersuite.core import io

__all__ = [
    "CURVE_COLUMNS",
    "NORM_SCHEDULES",
    "StepResult",
    "update_norm_const",
    "curve_row",
    "ema_update",
    "initial_state",
    "update_metrics",
    "write_curve_csv",
]

NORM_SCHEDULES = ("original", "ema")  # Ẑ after each iteration: compute_EMA (the original code) or a plain EMA

CURVE_COLUMNS = ["iteration", "control_l2_error", "normalized_iw_std", "grad_norm_sq", "loss", "time_per_iteration_s"]


def ema_update(value: float, ema: float | None, coeff: float, itr: int) -> float:
    """The original compute_EMA: running mean for itr ≤ 1/coeff, then EMA with `coeff`."""
    if itr == 0 or ema is None:
        return value
    if itr <= int(math.floor(1.0 / coeff)):
        return (value + itr * ema) / (itr + 1)
    return coeff * value + (1.0 - coeff) * ema


@dataclass
class StepResult:
    """What one training iteration reports to the metrics."""

    alpha: Tensor  # (B,) importance weights α of the batch
    loss: float
    l2: float  # importance-sampled control L2 error of the batch
    grad_sq: float  # squared gradient norm over the ∇V network's parameters
    seconds: float


def update_norm_const(norm_const: float, batch_mean: float, coeff: float, itr: int, schedule: str) -> float:
    """Ẑ after iteration itr from the batch's mean α (paper Sec. 4, the normalising constant E[α]):
    "original" is compute_EMA (Ẑ = batch mean at itr 0, running mean for itr ≤ 1/coeff, then EMA);
    "ema" is (1 − coeff)·Ẑ + coeff·batch mean at every iteration."""
    if schedule == "original":
        return ema_update(batch_mean, norm_const, coeff, itr)
    if schedule == "ema":
        return (1.0 - coeff) * norm_const + coeff * batch_mean
    raise ValueError(f"norm_schedule must be one of {NORM_SCHEDULES}, got {schedule!r}")


def initial_state(norm_const: float, wall_s: float) -> dict[str, Any]:
    """The train state of step 0: Ẑ, the EMA metrics (none yet), timings and counters."""
    return {
        "norm_const": norm_const,
        "ema_loss": None,
        "ema_l2": None,
        "ema_w_mean": None,
        "ema_w_std": None,
        "ema_grad": None,
        "ema_time": None,
        "sum_time": 0.0,
        "sum_sq_time": 0.0,  # Σ seconds² over iterations: the standard error of the mean time per iteration
        "wall_s": wall_s,
        "skipped_steps": 0,
        "window_l2_sum": 0.0,
        "window_n": 0,
    }


def update_metrics(
    state: dict[str, Any], step: StepResult, cfg: Mapping[str, Any], itr: int, window_start: int
) -> None:
    """Ẑ (update_norm_const, coefficient norm_ema), the logged metrics' EMAs (coefficient ema), final-window sum."""
    ema = float(cfg["ema"])
    w_mean = float(step.alpha.double().mean())
    w_std = float(step.alpha.double().std())
    schedule = str(cfg.get("norm_schedule", "original"))
    state["norm_const"] = update_norm_const(state["norm_const"], w_mean, float(cfg["norm_ema"]), itr, schedule)
    state["ema_loss"] = ema_update(step.loss, state["ema_loss"], ema, itr)
    state["ema_l2"] = ema_update(step.l2, state["ema_l2"], ema, itr)
    state["ema_w_mean"] = ema_update(w_mean, state["ema_w_mean"], ema, itr)
    state["ema_w_std"] = ema_update(w_std, state["ema_w_std"], ema, itr)
    state["ema_grad"] = ema_update(step.grad_sq, state["ema_grad"], ema, itr)
    state["ema_time"] = ema_update(step.seconds, state["ema_time"], ema, itr)
    state["sum_time"] += step.seconds
    state["sum_sq_time"] = state.get("sum_sq_time", math.nan) + step.seconds**2  # NaN: resumed from an older state
    if itr >= window_start:
        state["window_l2_sum"] += step.l2
        state["window_n"] += 1


def curve_row(state: Mapping[str, Any], done: int) -> list[float]:
    """One row of the training curve (CURVE_COLUMNS) after `done` iterations."""
    iw_std = state["ema_w_std"] / state["ema_w_mean"] if state["ema_w_mean"] else float("nan")
    return [done, state["ema_l2"], iw_std, state["ema_grad"], state["ema_loss"], state["ema_time"]]


def _csv_field(value: float) -> str:
    """A float as pandas' to_csv writes it: the shortest repr, NaN as an empty field."""
    value = float(value)
    return "" if math.isnan(value) else repr(value)


def write_curve_csv(path: str | Path, seeds: list[int], rows: list[list[list[float]]]) -> Path:
    """Write the curves of an ensemble's members as one CSV (seed, then CURVE_COLUMNS; integer seed and
    iteration), member after member, atomically: rows[e] are the rows of member e, trained from seeds[e].

    The same bytes as pandas' DataFrame.to_csv(index=False), without importing pandas in the training job."""
    with io.atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["seed", *CURVE_COLUMNS])
        for seed, member_rows in zip(seeds, rows):
            for row in member_rows:
                writer.writerow([str(int(seed)), str(int(row[0]))] + [_csv_field(v) for v in row[1:]])
    return Path(path)
