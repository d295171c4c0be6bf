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
from papersuite.core.records import finite_or_none

from .ensemble import MemberWarmStarts, StackedUNet
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
    "load_ensemble",
    "evaluate_ensemble",
    "EVAL_SEED_OFFSET",
    "L2_EVAL_SEED_OFFSET",
]

log = logging.getLogger("papersuite.socm.evaluate")

EVAL_SEED_OFFSET = 1_000_003  # evaluation paths never reuse the training stream of the same seed
# the L2 error's paths follow u*, which no method changes: every method of one seed sees the same paths
L2_EVAL_SEED_OFFSET = 2_000_003


def control_objective(
    problem: ControlProblem,
    control: Control | None,
    n_trajectories: int,
    generator: torch.Generator | list[torch.Generator],
    batch: int = 8192,
) -> tuple[Tensor, Tensor]:
    """Mean and standard error of Σ(½|u|² + f)Δt + g(X_N) over n_trajectories paths, float64: () each, or (E,)
    for an ensemble's control with one generator per member (member e's paths as one generator draws them).

    The control objective of docs/papers/socm.md, "Training and metrics"."""
    costs = []
    remaining = int(n_trajectories)
    with torch.no_grad():
        while remaining > 0:
            size = min(batch, remaining)
            costs.append(simulate(problem, control, size, generator).cost().double())  # (size,) or (E, size)
            remaining -= size
    c = torch.cat(costs, dim=-1)
    return c.mean(-1), c.std(-1) / math.sqrt(c.shape[-1])


def control_l2_error_per_path(
    problem: ControlProblem,
    control: Control,
    u_star: Callable[[Tensor, Tensor], Tensor],
    n_trajectories: int,
    generator: torch.Generator | list[torch.Generator],
    batch: int = 1024,
) -> Tensor:
    """(1/N) Σ_{k<N} |u(t_k, X_k) − u*(t_k, X_k)|² per path X ~ P^{u*}, (n_trajectories,) float64; (E, n) for an
    ensemble's control with one generator per member.

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
            ts, states = paths.ts[:-1], paths.states[:-1]  # the N pre-terminal points, (N,), (N, [E,] size, d)
            diff = control(ts, states) - u_star(ts, states)  # (N, [E,] size, d)
            per_path.append((diff.double() ** 2).sum(-1).mean(0))  # ([E,] size)
            remaining -= size
    return torch.cat(per_path, dim=-1)


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


def load_ensemble(model: Mapping[str, Any], problem: ControlProblem) -> LearnedControl:
    """Every member of a model file as one stacked control (StackedUNet, a warm start per member): states
    (E, B, d), member e computing load_member's control e."""
    controls = [load_member(model, e, problem)[0] for e in range(len(model["members"]))]
    net = StackedUNet([c.net for c in controls]).requires_grad_(False)
    warm = [c.warm_start for c in controls]
    if any(w is None for w in warm):
        return LearnedControl(net, problem)
    members = MemberWarmStarts(warm)
    members.tabulate(problem.time_grid())
    return LearnedControl(net, problem, members)


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
        "control_l2_error": finite_or_none(l2[0]),
        "control_l2_error_se": finite_or_none(l2[1]),
        "control_objective": finite_or_none(mean),
        "control_objective_se": finite_or_none(se),
        "optimal_cost": optimal_cost,
        "optimal_cost_se": 0.0,  # deterministic given the reference grid (its discretisation error: docs)
        "objective_gap": finite_or_none(mean - optimal_cost),
        "objective_gap_se": finite_or_none(se),
        # the paper's logged metric: the EMA of the training batches' importance-sampled L2 error (curve)
        "control_l2_error_ema": finite_or_none(last["control_l2_error"]),
        "normalized_iw_std": finite_or_none(last["normalized_iw_std"]),
        "grad_norm_sq": finite_or_none(last["grad_norm_sq"]),
        "time_per_iteration_s": finite_or_none(meta.get("mean_time_per_iteration_s", last["time_per_iteration_s"])),
        "time_per_iteration_s_se": finite_or_none(meta.get("time_per_iteration_se_s")),
        "iterations": float(int(last["iteration"])),
        # beyond the contract's keys: the raw training L2 error averaged over the last 10% of iterations
        "control_l2_error_last_window": finite_or_none(meta.get("final_window_control_l2_error")),
    }


def _extra(n: int, eval_seconds: float, last: Mapping[str, float], meta: Mapping[str, Any]) -> dict:
    """The record's extra fields: evaluation size and time, and training statistics from the model file."""
    return {
        "n_trajectories": n,
        "eval_seconds": eval_seconds,
        "gamma": meta.get("gamma"),
        "skipped_steps": meta.get("skipped_steps", 0),
        "final_norm_const": meta.get("norm_const"),
        "time_per_iteration_ema_s": finite_or_none(last["time_per_iteration_s"]),
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
    estimates: Mapping[str, Any],
    meta: Mapping[str, Any],
    last: Mapping[str, float],
    evaluate: Mapping[str, Any],
    names: Mapping[str, str],
) -> dict:
    """The metrics record of one member (seed meta['seed']) from its evaluation estimates."""
    seed, (mean, se), l2 = int(meta["seed"]), estimates["objective"], estimates["l2"]
    optimal_cost = estimates["optimal_cost"]
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
        device=problem.x0.device,
        config=config,
        extra=_extra(estimates["n"], estimates["seconds"], last, meta),
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
    record file (a list, papersuite.core.records.write_records). The members are evaluated together (one stacked
    control), member e on the paths of its own seed's generators, as a one-seed evaluation draws them."""
    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    problem = load_problem(problem_npz, device=device)
    with np.load(problem_npz, allow_pickle=False) as data:
        optimal_cost = float(data["ref_V0"])
        u_star = optimal_control_from_arrays({k: data[k] for k in data.files}, problem.T, device=device)
    saved = torch.load(model, map_location=device, weights_only=True)
    control, seeds = load_ensemble(saved, problem), [int(m["seed"]) for m in saved["members"]]
    n = int(evaluate.get("n_trajectories", 65536))
    with runtime.Stopwatch() as watch:
        generators = [torch.Generator(device=device).manual_seed(s + EVAL_SEED_OFFSET) for s in seeds]
        mean, se = control_objective(problem, control, n, generators, batch=int(evaluate.get("batch", 8192)))
        l2_generators = [torch.Generator(device=device).manual_seed(s + L2_EVAL_SEED_OFFSET) for s in seeds]
        l2_per_path = control_l2_error_per_path(problem, control, u_star, n, l2_generators)  # (E, n)
        l2 = [noise.mean_se(row) for row in l2_per_path.cpu().numpy()]
    last_rows = _last_curve_rows(curve_csv)
    names = {"setting": setting, "method": method, "scale": scale}
    recs = []
    for e, (member, m_e, se_e) in enumerate(zip(saved["members"], mean.tolist(), se.tolist())):
        estimates = {"objective": (m_e, se_e), "l2": l2[e], "optimal_cost": optimal_cost, "n": n}
        estimates["seconds"] = watch.elapsed / len(seeds)  # the members' evaluation time, divided among them
        recs.append(_member_record(problem, estimates, member, last_rows[int(member["seed"])], evaluate, names))
    records.write_records(out_record, recs)
