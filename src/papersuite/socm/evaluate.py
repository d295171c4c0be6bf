"""Evaluate a trained ensemble, member by member: Monte Carlo control L2 error and control objective, each with its
standard error over the evaluation paths, the reference cost and the final training metrics; one record per seed,
all in one file (docs/papers/socm.md, "Training and metrics", "Noise and verdicts" and "Jobs and ensembles")."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from papersuite.core import noise, records, runtime

from .learned_control import LearnedControl
from .models import FullyConnectedUNet
from .optimal_control import optimal_control_from_arrays
from .problems import ControlProblem, load_problem
from .sde import Control, simulate
from .warm_start import warm_start_from_state

__all__ = [
    "control_objective",
    "control_l2_error_per_path",
    "load_member",
    "evaluate_ensemble",
    "EVAL_SEED_OFFSET",
    "L2_EVAL_SEED_OFFSET",
]

log = logging.getLogger("papersuite.socm.evaluate")

EVAL_SEED_OFFSET = 1_000_003  # evaluation paths never reuse the training stream of the same seed
# the L2 error's paths follow u*, which no method changes: every method of one seed sees the same paths
L2_EVAL_SEED_OFFSET = 2_000_003


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


def control_l2_error_per_path(
    problem: ControlProblem,
    control: Control,
    u_star: Callable[[Tensor, Tensor], Tensor],
    n_trajectories: int,
    generator: torch.Generator,
    batch: int = 1024,
) -> Tensor:
    """(1/N) Σ_{k<N} |u(t_k, X_k) − u*(t_k, X_k)|² per path X ~ P^{u*}, (n_trajectories,) float64.

    The left Riemann sum of (1/T)∫_0^T|u − u*|²dt over the N points where a control acts in Euler–Maruyama, the
    same for every method (the training metric, losses.control_l2_error, also counts t_N except for the adjoint
    loss: docs/papers/socm.md, "Noise and verdicts"). Paths are simulated under u* itself, so the importance
    weight is 1 and the paths are i.i.d.: their mean estimates E_{P^{u*}}[(1/T)∫|u − u*|²dt] (the paper's control
    L2 error, Section 5) and std/√n is its standard error. Batched over paths and grid points."""
    per_path = []
    remaining = int(n_trajectories)
    with torch.no_grad():
        while remaining > 0:
            size = min(batch, remaining)
            paths = simulate(problem, lambda t, x: u_star(t.reshape(1), x[None])[0], size, generator)
            ts, states = paths.ts[:-1], paths.states[:-1]  # the N pre-terminal points, (N,), (N, size, d)
            diff = control(ts, states) - u_star(ts, states)  # (N, size, d)
            per_path.append((diff.double() ** 2).sum(-1).mean(0))  # (size,)
            remaining -= size
    return torch.cat(per_path)


def load_member(model: Mapping[str, Any], e: int, problem: ControlProblem) -> tuple[LearnedControl, dict[str, Any]]:
    """Member e of a model file's ensemble as one trained control (network + warm start), and its metadata."""
    member = model["members"][e]
    net = FullyConnectedUNet(problem.d, model["hdims"], model["scaling_factor_nabla_V"]).to(problem.x0.device)
    net.load_state_dict(member["control"])
    net.requires_grad_(False)
    ws = warm_start_from_state(problem, member["warm_start"]) if member.get("warm_start") is not None else None
    if ws is not None:
        ws.tabulate(problem.time_grid())
    return LearnedControl(net, problem, ws), member


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


def _metrics(
    objective: tuple[float, float],
    l2: tuple[float, float],
    optimal_cost: float,
    last: Mapping[str, float],
    meta: Mapping[str, Any],
) -> dict:
    """The record's metrics: the L2 error and the objective (each (mean, se) over evaluation paths) beside the
    optimal cost, and the training curve's final values. `<name>_se` as in papersuite.core.noise."""
    mean, se = objective
    return {
        "control_l2_error": _finite_or_none(l2[0]),
        "control_l2_error_se": _finite_or_none(l2[1]),
        "control_objective": _finite_or_none(mean),
        "control_objective_se": _finite_or_none(se),
        "optimal_cost": optimal_cost,
        "optimal_cost_se": 0.0,  # deterministic given the reference grid (its discretisation error: docs)
        "objective_gap": _finite_or_none(mean - optimal_cost),
        "objective_gap_se": _finite_or_none(se),
        # the paper's logged metric: the EMA of the training batches' importance-sampled L2 error (curve)
        "control_l2_error_ema": _finite_or_none(last["control_l2_error"]),
        "normalized_iw_std": _finite_or_none(last["normalized_iw_std"]),
        "grad_norm_sq": _finite_or_none(last["grad_norm_sq"]),
        "time_per_iteration_s": _finite_or_none(meta.get("mean_time_per_iteration_s", last["time_per_iteration_s"])),
        "time_per_iteration_s_se": _finite_or_none(meta.get("time_per_iteration_se_s")),
        "iterations": float(int(last["iteration"])),
        # beyond the contract's keys: the raw training L2 error averaged over the last 10% of iterations
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


def _last_curve_rows(curve_csv: str | Path) -> dict[int, dict[str, float]]:
    """Each seed's last row of the training curves, seed -> column -> float (an empty field is NaN, as pandas
    reads it)."""
    with open(curve_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{curve_csv}: the training curve is empty")
    last = {int(row["seed"]): row for row in rows}
    return {seed: {k: float(v) if v != "" else float("nan") for k, v in row.items()} for seed, row in last.items()}


def _member_record(
    problem: ControlProblem,
    u_star: Callable[[Tensor, Tensor], Tensor],
    optimal_cost: float,
    control: LearnedControl,
    meta: Mapping[str, Any],
    last: Mapping[str, float],
    evaluate: Mapping[str, Any],
    names: Mapping[str, str],
) -> dict:
    """The metrics record of one member (seed meta['seed']): objective and L2 error on fresh paths of its seed."""
    seed, device = int(meta["seed"]), problem.x0.device
    n = int(evaluate.get("n_trajectories", 65536))
    generator = torch.Generator(device=device).manual_seed(seed + EVAL_SEED_OFFSET)
    with runtime.Stopwatch() as watch:
        mean, se = control_objective(problem, control, n, generator, batch=int(evaluate.get("batch", 8192)))
        l2_generator = torch.Generator(device=device).manual_seed(seed + L2_EVAL_SEED_OFFSET)
        l2_per_path = control_l2_error_per_path(problem, control, u_star, n, l2_generator)  # (n,)
        l2 = noise.mean_se(l2_per_path.cpu().numpy())
    metrics = _metrics((mean, se), l2, optimal_cost, last, meta)
    config = {
        "setting": names["setting"],
        "method": names["method"],
        "evaluate": dict(evaluate),
        "iterations": int(last["iteration"]),
        "d": problem.d,
        "N": problem.N,
    }
    log.info(
        "%s/%s seed %d: objective %.5f ± %.5f (optimal %.5f), L2 error %.4g ± %.2g (training EMA %.4g)",
        *(names["setting"], names["method"], seed, mean, se, optimal_cost, *l2),
        metrics["control_l2_error_ema"] or float("nan"),
    )
    return records.make_record(
        paper="socm",
        experiment=names["setting"],
        method=names["method"],
        seed=seed,
        scale=names["scale"],
        metrics=metrics,
        wall_s=_training_wall_s(None, meta, last),
        device=device,
        config=config,
        extra=_extra(n, watch.elapsed, last, meta),
    )


def evaluate_ensemble(
    problem_npz: str | Path,
    model: str | Path,
    curve_csv: str | Path,
    setting: str,
    method: str,
    evaluate: Mapping[str, Any],
    scale: str,
    out_record: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Write the metrics records of every member of one trained (setting, method) ensemble, one per seed, as one
    record file (a list, papersuite.core.records.write_records)."""
    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    problem = load_problem(problem_npz, device=device)
    with np.load(problem_npz, allow_pickle=False) as data:
        optimal_cost = float(data["ref_V0"])
        u_star = optimal_control_from_arrays({k: data[k] for k in data.files}, problem.T, device=device)
    saved = torch.load(model, map_location=device, weights_only=True)
    last_rows = _last_curve_rows(curve_csv)
    names = {"setting": setting, "method": method, "scale": scale}
    recs = []
    for e in range(len(saved["members"])):
        control, meta = load_member(saved, e, problem)
        last = last_rows[int(meta["seed"])]
        recs.append(_member_record(problem, u_star, optimal_cost, control, meta, last, evaluate, names))
    records.write_records(out_record, recs)
