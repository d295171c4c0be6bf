"""Training loop shared by the eight methods, resumable (docs/papers/socm.md, "Training and metrics").

One iteration: simulate a batch under the detached current control (graph kept for the adjoint
loss), compute the method's loss with the weight α/Ẑ, one Adam step, update Ẑ and the EMA metrics.

Ẑ₀ is estimated from `norm_batches` batches under the initial control (used by iteration 0's loss), then
updated after every iteration by metrics.update_norm_const: by default the original's compute_EMA (the first
batch's mean, a running mean for 1/norm_ema iterations, then an EMA); `norm_schedule: ema` keeps Ẑ₀ and
applies a plain EMA.

Departures from the original code (docs/papers/socm.md, "Deviations"):
- Non-finite losses (possible for the variance loss when α explodes) skip the Adam step and are
  counted (`skipped_steps` in the model file) instead of poisoning the network with NaNs.
- The control objective is computed by evaluate.py at the end only, not every 5000 iterations.

train_control is the loop; its helpers, in call order: _build_run (seed, then the ∇V network, M and
y0 in a fixed order of RNG draws), _resume_or_start (a checkpoint of this very run, or the warm start
and Ẑ₀), _iteration (one simulate / loss / Adam step), metrics.update_metrics, metrics.curve_row,
_checkpoint_state and _final_model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from papersuite.core import checkpoint, io, progress, runtime

from .learned_control import LearnedControl, build_learned_control, normalization_constant
from .losses import (
    METHODS,
    control_l2_error,
    cross_entropy_loss,
    log_variance_loss,
    moment_loss,
    relative_entropy_loss,
    socm_adjoint_loss,
    socm_const_m_loss,
    socm_loss,
    variance_loss,
)
from .metrics import (
    CURVE_COLUMNS,
    NORM_SCHEDULES,
    StepResult,
    curve_row,
    ema_update,
    initial_state,
    update_metrics,
    write_curve_csv,
)
from .models import SigmoidMLP
from .optim import Adam
from .optimal_control import optimal_control_from_arrays
from .problems import ControlProblem, load_problem
from .sde import Paths, simulate
from .warm_start import (
    WARM_START_SEED_OFFSET,
    fit_gaussian_path,
    load_warm_start,
    warm_start_from_state,
)

# CURVE_COLUMNS, ema_update (metrics) and LearnedControl, build_learned_control, normalization_constant
# (learned_control) are re-exported: they lived here before.
__all__ = [
    "CURVE_COLUMNS",
    "TRAIN_DEFAULTS",
    "ema_update",
    "LearnedControl",
    "build_learned_control",
    "normalization_constant",
    "train_control",
]

log = logging.getLogger("papersuite.socm.train")

TRAIN_DEFAULTS: dict[str, Any] = {
    "lr": 1e-4,  # Adam lr of the ∇V network
    "M_lr": 1e-3,  # Adam lr of M̃ and γ (SOCM)
    "adam_eps": 1e-4,
    "hdims": [256, 128, 64],
    "M_hdims": [128, 128],
    "gamma0": 2.0,
    "scaling_factor_nabla_V": 1.0,
    "scaling_factor_M": 0.1,
    "norm_batches": 512,
    "norm_ema": 0.002,
    "norm_schedule": "original",  # Ẑ's update: "original" (compute_EMA) or "ema" (metrics.update_norm_const)
    "output_relu": True,  # ReLU on the ∇V network's up_0 output (the original's architecture)
    "ema": 0.01,
    "y0_lr": 1e-2,  # moment loss: lr of y0 ...
    "y0_lr_late": 1e-4,  # ... switched to this ...
    "y0_lr_switch": 5000,  # ... at this iteration
    "checkpoint_every": 0,
    "log_every": 10,
    "warm_start": None,
}


def _after_iteration(iteration: int) -> None:
    """Hook called after each completed (and possibly checkpointed) iteration; tests patch it."""


def _method_loss(
    method: str,
    problem: ControlProblem,
    paths: Paths,
    control: LearnedControl,
    weight: Tensor,
    norm_const: float,
    M: SigmoidMLP | None,
    y0: Tensor | None,
) -> tuple[Tensor, Tensor | None]:
    """(loss, u_θ on the grid or None for the adjoint loss)."""
    if method == "adjoint":
        return relative_entropy_loss(paths), None
    u_theta = control.on_grid(paths.ts, paths.states, paths.grid_record)  # (N+1, B, d), graph through θ only
    if method == "SOCM":
        return socm_loss(problem, paths, u_theta, weight, M), u_theta
    if method == "SOCM_const_M":
        return socm_const_m_loss(problem, paths, u_theta, weight), u_theta
    if method == "SOCM_adjoint":
        return socm_adjoint_loss(problem, paths, u_theta, weight), u_theta
    if method == "cross_entropy":
        return cross_entropy_loss(problem, paths, u_theta, weight), u_theta
    if method == "log_variance":
        return log_variance_loss(problem, paths, u_theta), u_theta
    if method == "variance":
        return variance_loss(problem, paths, u_theta, norm_const), u_theta
    if method == "moment":
        return moment_loss(problem, paths, u_theta, y0), u_theta
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def _resolve_train(train: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("iterations", "batch") if k not in train]
    if missing:
        raise ValueError(f"train config lacks {missing}")
    cfg = {**TRAIN_DEFAULTS, **dict(train)}
    cfg["iterations"] = int(cfg["iterations"])
    cfg["batch"] = int(cfg["batch"])
    if cfg["iterations"] < 1 or cfg["batch"] < 2:
        raise ValueError(f"train.iterations must be >= 1 and train.batch >= 2, got {cfg['iterations']}, {cfg['batch']}")
    if cfg["norm_schedule"] not in NORM_SCHEDULES:
        raise ValueError(f"train.norm_schedule must be one of {NORM_SCHEDULES}, got {cfg['norm_schedule']!r}")
    return cfg


# ============================================================================ one training run
@dataclass
class _Run:
    """What one training run updates: the learned parts, the optimiser and the path generator."""

    problem: ControlProblem
    u_star: Callable[[Tensor, Tensor], Tensor]  # reference control on the grid, (K,), (K, B, d) -> (K, B, d)
    control: LearnedControl
    M: SigmoidMLP | None  # SOCM only
    y0: Tensor | None  # moment loss only
    optimizer: Adam
    generator: torch.Generator  # the training paths' random numbers
    device: torch.device | str


def _load_problem_and_reference(
    problem_npz: str | Path, device: torch.device | str
) -> tuple[ControlProblem, Callable[[Tensor, Tensor], Tensor]]:
    """The problem and its reference control u*, both from the file written by the prepare step."""
    problem = load_problem(problem_npz, device=device)
    with np.load(problem_npz, allow_pickle=False) as data:
        u_star = optimal_control_from_arrays({k: data[k] for k in data.files}, problem.T, device=device)
    return problem, u_star


def _build_run(
    problem: ControlProblem,
    u_star: Callable[[Tensor, Tensor], Tensor],
    method: str,
    cfg: Mapping[str, Any],
    seed: int,
    device: torch.device | str,
) -> _Run:
    """Seed, then initialise the ∇V network, M (SOCM), y0 (moment), Adam and the path generator, in this order."""
    runtime.seed_everything(seed)
    control = build_learned_control(problem, cfg)
    M = (
        SigmoidMLP(problem.d, cfg["M_hdims"], cfg["gamma0"], cfg["scaling_factor_M"]).to(device)
        if method == "SOCM"
        else None
    )
    y0 = torch.zeros((), device=device, requires_grad=True) if method == "moment" else None
    groups: list[dict[str, Any]] = [{"params": list(control.net.parameters()), "lr": cfg["lr"]}]
    if M is not None:
        groups.append({"params": list(M.parameters()), "lr": cfg["M_lr"]})
    if y0 is not None:
        groups.append({"params": [y0], "lr": cfg["y0_lr"]})
    optimizer = Adam(groups, eps=cfg["adam_eps"])
    generator = torch.Generator(device=device).manual_seed(int(seed))
    return _Run(problem, u_star, control, M, y0, optimizer, generator, device)


def _fingerprint(
    problem_npz: str | Path, setting: str, method: str, seed: int, cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """A checkpoint is resumed only if it was written for this very run (config, seed, problem file)."""
    return {
        "setting": setting,
        "method": method,
        "seed": int(seed),
        "train": cfg,
        "problem_sha256": io.sha256_file(problem_npz),
    }


def _restore(run: _Run, ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], list[list[float]], int]:
    """Load a checkpoint into the run (RNG state last); return (train state, curve rows, step)."""
    run.control.net.load_state_dict(ckpt["control"])
    if run.M is not None:
        run.M.load_state_dict(ckpt["M"])
    if run.y0 is not None:
        with torch.no_grad():
            run.y0.copy_(ckpt["y0"])
    if ckpt["warm_start"] is not None:
        run.control.warm_start = warm_start_from_state(run.problem, ckpt["warm_start"])
        run.control.warm_start.tabulate(run.problem.time_grid())
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.generator.set_state(ckpt["generator"])
    checkpoint.set_rng_state(ckpt["rng"])
    return dict(ckpt["train_state"]), [list(r) for r in ckpt["curve"]], int(ckpt["step"])


def _attach_warm_start(
    run: _Run, ws_cfg: Mapping[str, Any] | None, seed: int, warm_start_path: str | Path | None
) -> None:
    """Add the Gaussian-path warm start to the control: loaded from its file, or fitted here without one."""
    problem = run.problem
    if ws_cfg and warm_start_path is not None:
        run.control.warm_start = load_warm_start(problem, warm_start_path)
        run.control.warm_start.tabulate(problem.time_grid())
    elif ws_cfg:
        ws_gen = torch.Generator(device=run.device).manual_seed(int(seed) + WARM_START_SEED_OFFSET)
        run.control.warm_start = fit_gaussian_path(
            problem,
            int(ws_cfg["iterations"]),
            int(ws_cfg["batch"]),
            int(ws_cfg["knots"]),
            float(ws_cfg["lr"]),
            int(ws_cfg["time_points"]),
            ws_gen,
        )
        run.control.warm_start.tabulate(problem.time_grid())


def _start_fresh(
    run: _Run, cfg: Mapping[str, Any], seed: int, warm_start_path: str | Path | None
) -> tuple[dict[str, Any], list[list[float]], int]:
    """Warm start (if configured), then Ẑ₀ from the initial control; return (train state, [], 0)."""
    t_setup = time.perf_counter()
    _attach_warm_start(run, cfg["warm_start"], seed, warm_start_path)
    norm0 = normalization_constant(run.problem, run.control, cfg["batch"], int(cfg["norm_batches"]), run.generator)
    log.info("initial normalisation constant Ẑ = %.6g (%d batches)", norm0, cfg["norm_batches"])
    return initial_state(norm0, time.perf_counter() - t_setup), [], 0


def _resume_or_start(
    run: _Run,
    ckpts: checkpoint.TrainingCheckpoints,
    cfg: Mapping[str, Any],
    seed: int,
    warm_start_path: str | Path | None,
) -> tuple[dict[str, Any], list[list[float]], int]:
    """(train state, curve rows, first iteration) from this run's newest checkpoint, or of a fresh start."""
    ckpt = ckpts.resume(restore_rng=False)  # restored by _restore, once the warm start is rebuilt
    if ckpt is not None:
        return _restore(run, ckpt)
    return _start_fresh(run, cfg, seed, warm_start_path)


def _loss_and_error(
    run: _Run, method: str, batch: int, norm_const: float, keep_graph: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Simulate a batch under the current control; return (method loss, control L2 error, α)."""
    problem = run.problem
    paths = simulate(problem, run.control, batch, run.generator, keep_graph=keep_graph, record=not keep_graph)
    alpha = torch.exp(paths.log_weight(problem.lam).detach())  # (B,)
    weight = alpha / norm_const
    loss, u_theta = _method_loss(method, problem, paths, run.control, weight, norm_const, run.M, run.y0)
    with torch.no_grad():
        if u_theta is None:  # adjoint: the N pre-terminal sampled controls
            l2 = control_l2_error(
                run.u_star(paths.ts[:-1], paths.states[:-1].detach()), paths.controls.detach(), weight
            )
        else:
            l2 = control_l2_error(run.u_star(paths.ts, paths.states), u_theta.detach(), weight)
    return loss, l2, alpha


def _adam_step(run: _Run, loss: Tensor, itr: int, state: dict[str, Any]) -> tuple[float, float]:
    """Backward and one Adam step; a non-finite loss or gradient skips the step (counted). Returns (loss, |∇|²)."""
    loss_value = float(loss.detach())
    run.optimizer.zero_grad()
    if math.isfinite(loss_value):
        loss.backward()
        grad_sq = float(sum(p.grad.detach().double().pow(2).sum() for p in run.control.net.parameters()))
    else:
        grad_sq = float("nan")
    if math.isfinite(loss_value) and math.isfinite(grad_sq):
        run.optimizer.step()
    else:
        state["skipped_steps"] += 1
        log.warning("iteration %d: non-finite loss/gradient (%s, %s); Adam step skipped", itr, loss_value, grad_sq)
    return loss_value, grad_sq


def _iteration(
    run: _Run, method: str, cfg: Mapping[str, Any], state: dict[str, Any], itr: int, keep_graph: bool
) -> StepResult:
    """One training iteration: simulate, loss with the weight α/Ẑ, one Adam step (timed)."""
    t0 = time.perf_counter()
    if run.y0 is not None and itr == int(cfg["y0_lr_switch"]):
        run.optimizer.param_groups[-1]["lr"] = cfg["y0_lr_late"]
    loss, l2, alpha = _loss_and_error(run, method, cfg["batch"], state["norm_const"], keep_graph)
    loss_value, grad_sq = _adam_step(run, loss, itr, state)
    return StepResult(alpha, loss_value, float(l2), grad_sq, time.perf_counter() - t0)


def _checkpoint_state(run: _Run, state: Mapping[str, Any], rows: list[list[float]]) -> dict[str, Any]:
    """Everything a resumed run needs besides the RNG state (added by TrainingCheckpoints.save)."""
    return {
        "control": run.control.net.state_dict(),
        "M": None if run.M is None else run.M.state_dict(),
        "y0": None if run.y0 is None else run.y0.detach().clone(),
        "warm_start": None if run.control.warm_start is None else run.control.warm_start.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "generator": run.generator.get_state(),
        "train_state": dict(state),
        "curve": [list(r) for r in rows],
    }


def _final_model(
    run: _Run, setting: str, method: str, seed: int, cfg: Mapping[str, Any], state: Mapping[str, Any], wall_s: float
) -> dict[str, Any]:
    """The model file's content: weights, the metadata evaluate.load_control needs, and run statistics."""
    n_iter = cfg["iterations"]
    return {
        "control": run.control.net.state_dict(),
        "M": None if run.M is None else run.M.state_dict(),
        "gamma": None if run.M is None else float(run.M.gamma.detach()),
        "y0": None if run.y0 is None else float(run.y0.detach()),
        "warm_start": None if run.control.warm_start is None else run.control.warm_start.state_dict(),
        "setting": setting,
        "method": method,
        "seed": int(seed),
        "d": run.problem.d,
        "hdims": [int(h) for h in cfg["hdims"]],
        "M_hdims": [int(h) for h in cfg["M_hdims"]],
        "scaling_factor_nabla_V": float(cfg["scaling_factor_nabla_V"]),
        "output_relu": bool(run.control.net.output_relu),  # also in the network's state_dict (a bool buffer)
        "iterations": n_iter,
        "norm_const": float(state["norm_const"]),
        "train_wall_s": float(wall_s),
        "mean_time_per_iteration_s": float(state["sum_time"] / n_iter),
        "time_per_iteration_se_s": _mean_time_se(state, n_iter),
        "skipped_steps": int(state["skipped_steps"]),
        # mean of the raw (un-smoothed) per-iteration L2 error over the last 10% of iterations: at tiny
        # iteration counts the EMA (0.01) still carries the early transient, this window does not
        "final_window_iterations": int(state["window_n"]),
        "final_window_control_l2_error": float(state["window_l2_sum"] / max(state["window_n"], 1)),
    }


def _mean_time_se(state: Mapping[str, Any], n_iter: int) -> float:
    """Standard error of the mean time per iteration, std(ddof=1)/√n over the run's iterations (NaN if n < 2)."""
    if n_iter < 2:
        return math.nan
    mean = state["sum_time"] / n_iter
    var = max(state.get("sum_sq_time", math.nan) - n_iter * mean**2, 0.0) / (n_iter - 1)
    return float(math.sqrt(var / n_iter))


def train_control(
    problem_npz: str | Path,
    setting: str,
    method: str,
    train: Mapping[str, Any],
    seed: int,
    out_model: str | Path,
    out_curve_csv: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
    warm_start_path: str | Path | None = None,
) -> None:
    """Train one method on one setting; write the model (torch.save) and the EMA curve (CSV), resumably.

    With `train["warm_start"]` set, the warm start is loaded from `warm_start_path` (written once per
    setting and seed by the warm_start step) or, without one, fitted here.
    """
    runtime.setup_logging(log_path)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    cfg = _resolve_train(train)
    device = runtime.choose_device(threads)
    problem, u_star = _load_problem_and_reference(problem_npz, device)
    n_iter = cfg["iterations"]
    log.info(
        "SOCM train: setting=%s method=%s seed=%d d=%d N=%d iterations=%d batch=%d",
        *(setting, method, seed, problem.d, problem.N, n_iter, cfg["batch"]),
    )
    run = _build_run(problem, u_star, method, cfg, seed, device)
    ckpts = checkpoint.TrainingCheckpoints(
        ckpt_dir, _fingerprint(problem_npz, setting, method, seed, cfg), cfg["checkpoint_every"]
    )
    state, rows, start = _resume_or_start(run, ckpts, cfg, seed, warm_start_path)

    window_start = n_iter - max(1, math.ceil(0.1 * n_iter))  # raw L2 error averaged over the last 10%
    keep_graph = method == "adjoint"
    t_wall = time.perf_counter()
    wall_before = float(state["wall_s"])
    for itr in progress.progress(range(start, n_iter), total=n_iter - start, desc=f"{setting}/{method}", logger=log):
        update_metrics(state, _iteration(run, method, cfg, state, itr, keep_graph), cfg, itr, window_start)
        done = itr + 1
        if done % int(cfg["log_every"]) == 0 or done == n_iter:
            rows.append(curve_row(state, done))
        if ckpts.due(done, n_iter) and done < n_iter:
            state["wall_s"] = wall_before + time.perf_counter() - t_wall
            ckpts.save(done, _checkpoint_state(run, state, rows))
        _after_iteration(done)

    wall_s = wall_before + time.perf_counter() - t_wall
    with io.atomic_path(out_model) as tmp:
        torch.save(_final_model(run, setting, method, seed, cfg, state, wall_s), tmp)
    write_curve_csv(out_curve_csv, rows)
    ckpts.clear()
    final = rows[-1]
    log.info(
        "done %s/%s in %.1f s (%.2f ms/it): EMA L2 error %.4g, normalised IW std %.3g",
        *(setting, method, wall_s, 1e3 * state["sum_time"] / n_iter, final[1], final[2]),
    )
