"""Evaluate a trained control: Monte Carlo control objective, reference cost and final training metrics."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papersuite.core import records, runtime

from .learned_control import LearnedControl
from .models import FullyConnectedUNet
from .problems import ControlProblem, load_problem
from .sde import Control, simulate
from .warm_start import warm_start_from_state

__all__ = ["control_objective", "load_control", "evaluate_control", "EVAL_SEED_OFFSET"]

log = logging.getLogger("papersuite.socm.evaluate")

EVAL_SEED_OFFSET = 1_000_003  # evaluation paths never reuse the training stream of the same seed


def control_objective(
    problem: ControlProblem, control: Control | None, n_trajectories: int, generator: torch.Generator, batch: int = 8192
) -> tuple[float, float]:
    """Mean and standard error of Σ(½|u|² + f)Δt + g(X_N) over n_trajectories paths.

    The control objective of docs/papers/socm.md, "Training and metrics"."""
    costs = []
    remaining = int(n_trajectories)
    with torch.no_grad():
        while remaining > 0:
            size = min(batch, remaining)
            costs.append(simulate(problem, control, size, generator).cost().double())
            remaining -= size
    c = torch.cat(costs)
    return float(c.mean()), float(c.std() / math.sqrt(c.numel()))


def load_control(model_path: str | Path, problem: ControlProblem) -> tuple[LearnedControl, dict[str, Any]]:
    """The trained control (network + warm start) and the model file's metadata."""
    model = torch.load(model_path, map_location=problem.x0.device, weights_only=True)
    net = FullyConnectedUNet(problem.d, model["hdims"], model["scaling_factor_nabla_V"]).to(problem.x0.device)
    net.load_state_dict(model["control"])
    net.requires_grad_(False)
    ws = warm_start_from_state(problem, model["warm_start"]) if model.get("warm_start") is not None else None
    if ws is not None:
        ws.tabulate(problem.time_grid())
    return LearnedControl(net, problem, ws), model


def _finite_or_none(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _training_wall_s(wall_s_train: float | None, meta: Mapping[str, Any], last: Mapping[str, float]) -> float:
    """The training run's wall time: given, else from the model file, else EMA time per iteration × iterations."""
    wall_s = wall_s_train if wall_s_train is not None else meta.get("train_wall_s")
    if wall_s is None:  # last resort: EMA time per iteration × iterations
        wall_s = float(last["time_per_iteration_s"]) * float(last["iteration"])
    return float(wall_s)


def _metrics(mean: float, se: float, optimal_cost: float, last: Mapping[str, float], meta: Mapping[str, Any]) -> dict:
    """The record's metrics: the objective beside the optimal cost, and the training curve's final values."""
    return {
        "control_l2_error": _finite_or_none(last["control_l2_error"]),
        "control_objective": _finite_or_none(mean),
        "control_objective_se": _finite_or_none(se),
        "optimal_cost": optimal_cost,
        "objective_gap": _finite_or_none(mean - optimal_cost),
        "normalized_iw_std": _finite_or_none(last["normalized_iw_std"]),
        "grad_norm_sq": _finite_or_none(last["grad_norm_sq"]),
        "time_per_iteration_s": _finite_or_none(meta.get("mean_time_per_iteration_s", last["time_per_iteration_s"])),
        "iterations": float(int(last["iteration"])),
        # beyond the contract's keys: the raw L2 error averaged over the last 10% of iterations (the EMA
        # above still carries the early transient when the run is short, as at tiny scale)
        "control_l2_error_last_window": _finite_or_none(meta.get("final_window_control_l2_error")),
    }


def _extra(n: int, eval_seconds: float, last: Mapping[str, float], meta: Mapping[str, Any]) -> dict:
    """The record's extra fields: evaluation size and time, and training statistics from the model file."""
    return {
        "n_trajectories": n,
        "eval_seconds": eval_seconds,
        "gamma": meta.get("gamma"),
        "skipped_steps": meta.get("skipped_steps", 0),
        "final_norm_const": meta.get("norm_const"),
        "time_per_iteration_ema_s": _finite_or_none(last["time_per_iteration_s"]),
        "last_window_iterations": meta.get("final_window_iterations"),
    }


def _last_curve_row(curve_csv: str | Path) -> dict[str, float]:
    """The training curve's last row, column -> float (an empty field is NaN, as pandas reads it)."""
    with open(curve_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{curve_csv}: the training curve is empty")
    return {key: float(value) if value != "" else float("nan") for key, value in rows[-1].items()}


def evaluate_control(
    problem_npz: str | Path,
    model: str | Path,
    curve_csv: str | Path,
    setting: str,
    method: str,
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_record: str | Path,
    wall_s_train: float | None = None,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Write the metrics record of one trained (setting, method, seed)."""
    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    problem = load_problem(problem_npz, device=device)
    with np.load(problem_npz, allow_pickle=False) as data:
        optimal_cost = float(data["ref_V0"])
    control, meta = load_control(model, problem)
    n = int(evaluate.get("n_trajectories", 65536))
    generator = torch.Generator(device=device).manual_seed(int(seed) + EVAL_SEED_OFFSET)
    with runtime.Stopwatch() as watch:
        mean, se = control_objective(problem, control, n, generator, batch=int(evaluate.get("batch", 8192)))
    last = _last_curve_row(curve_csv)
    metrics = _metrics(mean, se, optimal_cost, last, meta)
    config = {
        "setting": setting,
        "method": method,
        "evaluate": dict(evaluate),
        "iterations": int(last["iteration"]),
        "d": problem.d,
        "N": problem.N,
    }
    rec = records.make_record(
        paper="socm",
        experiment=setting,
        method=method,
        seed=int(seed),
        scale=scale,
        metrics=metrics,
        wall_s=_training_wall_s(wall_s_train, meta, last),
        device=device,
        config=config,
        extra=_extra(n, watch.elapsed, last, meta),
    )
    records.write_record(out_record, rec)
    log.info(
        "%s/%s seed %d: objective %.5f ± %.5f (optimal %.5f), EMA L2 error %.4g",
        *(setting, method, seed, mean, se, optimal_cost, metrics["control_l2_error"] or float("nan")),
    )
