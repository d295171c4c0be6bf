"""Training loop shared by the eight methods, resumable (docs/papers/socm.md, "Training and metrics").

One job trains every seed of a (setting, method) as one stacked ensemble (ensemble.py, docs/papers/socm.md,
"Jobs and ensembles"): member e is initialised, draws its paths and is updated exactly as a single run of
seeds[e] would be, up to the float rounding of batched products (see the test); E = 1 is a single run.

One iteration: simulate a batch per member under the detached current control (graph kept for the adjoint
loss), compute each member's loss with its weight α/Ẑ, one Adam step on their sum (each member's gradient is
its own loss's), update each member's Ẑ and EMA metrics.

Ẑ₀ is estimated from `norm_batches` batches under the initial control (used by iteration 0's loss), then
updated after every iteration by metrics.update_norm_const: by default the original's compute_EMA (the first
batch's mean, a running mean for 1/norm_ema iterations, then an EMA); `norm_schedule: ema` keeps Ẑ₀ and
applies a plain EMA.

Departures from the original code (docs/papers/socm.md, "Deviations"):
- Non-finite losses (possible for the variance loss when α explodes) skip that member's Adam step and are
  counted (`skipped_steps` in the model file) instead of poisoning the network with NaNs.
- The control objective is computed by evaluate.py at the end only, not every 5000 iterations.

train_control is the loop; its helpers, in call order: _build_run (per member: seed, then the ∇V network, M and
y0 in a fixed order of RNG draws; then stacked), _resume_or_start (a checkpoint of this very ensemble, or the
warm starts and Ẑ₀), _iteration (one simulate / loss / Adam step), metrics.update_metrics, metrics.curve_row,
_checkpoint_state and train_records.final_model.
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

from .ensemble import MemberWarmStarts, StackedSigmoidMLP, StackedUNet
from .learned_control import LearnedControl, build_learned_control, build_unet, normalization_constant
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
from .train_records import final_model
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
    norm_const: Tensor,
    M: SigmoidMLP | StackedSigmoidMLP | None,
    y0: Tensor | None,
) -> tuple[Tensor, Tensor | None]:
    """(loss, u_θ on the grid or None for the adjoint loss); per member ((E,)) for an ensemble's paths."""
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
    """What one ensemble's training updates: the learned parts, the optimiser and one path generator per member."""

    problem: ControlProblem
    u_star: Callable[[Tensor, Tensor], Tensor]  # reference control on the grid, (K,), (K, ..., d) -> (K, ..., d)
    control: LearnedControl  # a StackedUNet's control: states (E, B, d)
    M: StackedSigmoidMLP | None  # SOCM only
    y0: Tensor | None  # (E,), moment loss only
    optimizer: Adam
    generators: list[torch.Generator]  # member e's training paths' random numbers
    seeds: list[int]
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
    seeds: list[int],
    device: torch.device | str,
) -> _Run:
    """Per member: seed, then initialise the ∇V network and M (SOCM) in this order (a single run's draws);
    then stack them, with y0 (moment), Adam and one path generator per member seeded as a single run's."""
    nets, Ms = [], []
    for seed in seeds:
        runtime.seed_everything(seed)
        nets.append(build_unet(problem, cfg))
        if method == "SOCM":
            Ms.append(SigmoidMLP(problem.d, cfg["M_hdims"], cfg["gamma0"], cfg["scaling_factor_M"]).to(device))
    control = LearnedControl(StackedUNet(nets), problem)
    M = StackedSigmoidMLP(Ms) if Ms else None
    y0 = torch.zeros(len(seeds), device=device, requires_grad=True) if method == "moment" else None
    groups: list[dict[str, Any]] = [{"params": list(control.net.parameters()), "lr": cfg["lr"]}]
    if M is not None:
        groups.append({"params": list(M.parameters()), "lr": cfg["M_lr"]})
    if y0 is not None:
        groups.append({"params": [y0], "lr": cfg["y0_lr"]})
    optimizer = Adam(groups, eps=cfg["adam_eps"], members=len(seeds))
    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    return _Run(problem, u_star, control, M, y0, optimizer, generators, [int(s) for s in seeds], device)


def _fingerprint(
    problem_npz: str | Path, setting: str, method: str, seeds: list[int], cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """A checkpoint is resumed only if it was written for this very ensemble (config, seeds, problem file)."""
    return {
        "setting": setting,
        "method": method,
        "seeds": [int(s) for s in seeds],
        "train": cfg,
        "problem_sha256": io.sha256_file(problem_npz),
    }


def _warm_starts_from_states(problem: ControlProblem, states: list[dict[str, Tensor]]) -> MemberWarmStarts:
    warm = MemberWarmStarts([warm_start_from_state(problem, state) for state in states])
    warm.tabulate(problem.time_grid())
    return warm


def _restore(run: _Run, ckpt: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[list[list[float]]], int]:
    """Load a checkpoint into the run (RNG state last); return (members' train states, curve rows, step)."""
    run.control.net.load_state_dict(ckpt["control"])
    if run.M is not None:
        run.M.load_state_dict(ckpt["M"])
    if run.y0 is not None:
        with torch.no_grad():
            run.y0.copy_(ckpt["y0"])
    if ckpt["warm_start"] is not None:
        run.control.warm_start = _warm_starts_from_states(run.problem, ckpt["warm_start"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    for generator, state in zip(run.generators, ckpt["generators"]):
        generator.set_state(state)
    checkpoint.set_rng_state(ckpt["rng"])
    states = [dict(s) for s in ckpt["train_state"]]
    return states, [[list(r) for r in rows] for rows in ckpt["curve"]], int(ckpt["step"])


def _attach_warm_start(run: _Run, ws_cfg: Mapping[str, Any] | None, warm_start_paths: list[str | Path] | None) -> None:
    """Add each member's Gaussian-path warm start to the control: loaded from its file, or fitted here without."""
    if not ws_cfg:
        return
    problem, members = run.problem, []
    for e, seed in enumerate(run.seeds):
        if warm_start_paths is not None:
            members.append(load_warm_start(problem, warm_start_paths[e]))
            continue
        ws_gen = torch.Generator(device=run.device).manual_seed(int(seed) + WARM_START_SEED_OFFSET)
        members.append(
            fit_gaussian_path(
                problem,
                int(ws_cfg["iterations"]),
                int(ws_cfg["batch"]),
                int(ws_cfg["knots"]),
                float(ws_cfg["lr"]),
                int(ws_cfg["time_points"]),
                ws_gen,
            )
        )
    run.control.warm_start = MemberWarmStarts(members)
    run.control.warm_start.tabulate(problem.time_grid())


def _start_fresh(
    run: _Run, cfg: Mapping[str, Any], warm_start_paths: list[str | Path] | None
) -> tuple[list[dict[str, Any]], list[list[list[float]]], int]:
    """Warm starts (if configured), then each member's Ẑ₀ from its initial control; (train states, [[]…], 0)."""
    t_setup = time.perf_counter()
    _attach_warm_start(run, cfg["warm_start"], warm_start_paths)
    norm0 = normalization_constant(run.problem, run.control, cfg["batch"], int(cfg["norm_batches"]), run.generators)
    norm0 = [float(v) for v in norm0.tolist()]  # (E,)
    log.info(
        "initial normalisation constants Ẑ = %s (%d batches)", ", ".join(f"{v:.6g}" for v in norm0), cfg["norm_batches"]
    )
    setup_s = (time.perf_counter() - t_setup) / len(run.seeds)
    return [initial_state(v, setup_s) for v in norm0], [[] for _ in run.seeds], 0


def _resume_or_start(
    run: _Run, ckpts: checkpoint.TrainingCheckpoints, cfg: Mapping[str, Any], warm_start_paths: list[str | Path] | None
) -> tuple[list[dict[str, Any]], list[list[list[float]]], int]:
    """(train states, curve rows, first iteration) from this ensemble's newest checkpoint, or of a fresh start."""
    ckpt = ckpts.resume(restore_rng=False)  # restored by _restore, once the warm start is rebuilt
    if ckpt is not None:
        return _restore(run, ckpt)
    return _start_fresh(run, cfg, warm_start_paths)


def _loss_and_error(
    run: _Run, method: str, batch: int, norm_const: Tensor, keep_graph: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Simulate `batch` paths per member under the current control; (method losses (E,), L2 errors (E,), α (E, B))."""
    problem = run.problem
    paths = simulate(problem, run.control, batch, run.generators, keep_graph=keep_graph, record=not keep_graph)
    alpha = torch.exp(paths.log_weight(problem.lam).detach())  # (E, B)
    weight = alpha / norm_const[:, None]
    loss, u_theta = _method_loss(method, problem, paths, run.control, weight, norm_const, run.M, run.y0)
    with torch.no_grad():
        if u_theta is None:  # adjoint: the N pre-terminal sampled controls
            l2 = control_l2_error(
                run.u_star(paths.ts[:-1], paths.states[:-1].detach()), paths.controls.detach(), weight
            )
        else:
            l2 = control_l2_error(run.u_star(paths.ts, paths.states), u_theta.detach(), weight)
    return loss, l2, alpha


def _adam_step(run: _Run, loss: Tensor, itr: int, states: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Backward of the members' summed losses and one Adam step; a member with a non-finite loss or gradient
    skips its step (counted). Returns (losses, |∇|² over the ∇V network), one per member."""
    finite_loss = torch.isfinite(loss.detach())  # (E,)
    run.optimizer.zero_grad()
    torch.where(finite_loss, loss, torch.zeros_like(loss)).sum().backward()
    grad_sq = sum(p.grad.detach().double().pow(2).flatten(1).sum(1) for p in run.control.net.parameters())  # (E,)
    grad_sq = torch.where(finite_loss, grad_sq, torch.full_like(grad_sq, math.nan))
    active = finite_loss & torch.isfinite(grad_sq)
    run.optimizer.step(active)
    loss_values, grad_values = loss.detach().tolist(), grad_sq.tolist()
    for e, ok in enumerate(active.tolist()):
        if not ok:
            states[e]["skipped_steps"] += 1
            log.warning(
                "iteration %d, seed %d: non-finite loss/gradient (%s, %s); Adam step skipped",
                *(itr, run.seeds[e], loss_values[e], grad_values[e]),
            )
    return loss_values, grad_values


def _iteration(
    run: _Run, method: str, cfg: Mapping[str, Any], states: list[dict[str, Any]], itr: int, keep_graph: bool
) -> list[StepResult]:
    """One training iteration of every member: simulate, loss with the weight α/Ẑ, one Adam step (timed; each
    member is charged the ensemble's time / E)."""
    t0 = time.perf_counter()
    if run.y0 is not None and itr == int(cfg["y0_lr_switch"]):
        run.optimizer.param_groups[-1]["lr"] = cfg["y0_lr_late"]
    norm_const = torch.tensor([s["norm_const"] for s in states], dtype=run.problem.x0.dtype, device=run.device)
    loss, l2, alpha = _loss_and_error(run, method, cfg["batch"], norm_const, keep_graph)
    loss_values, grad_values = _adam_step(run, loss, itr, states)
    seconds = (time.perf_counter() - t0) / len(run.seeds)
    return [StepResult(alpha[e], loss_values[e], l2_e, grad_values[e], seconds) for e, l2_e in enumerate(l2.tolist())]


def _checkpoint_state(run: _Run, states: list[dict[str, Any]], rows: list[list[list[float]]]) -> dict[str, Any]:
    """Everything a resumed ensemble needs besides the global RNG state (added by TrainingCheckpoints.save)."""
    warm = run.control.warm_start
    return {
        "control": run.control.net.state_dict(),
        "M": None if run.M is None else run.M.state_dict(),
        "y0": None if run.y0 is None else run.y0.detach().clone(),
        "warm_start": None if warm is None else warm.state_dicts(),
        "optimizer": run.optimizer.state_dict(),
        "generators": [g.get_state() for g in run.generators],
        "train_state": [dict(s) for s in states],
        "curve": [[list(r) for r in member_rows] for member_rows in rows],
    }


def train_control(
    problem_npz: str | Path,
    setting: str,
    method: str,
    train: Mapping[str, Any],
    seeds: list[int],
    out_model: str | Path,
    out_curve_csv: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
    warm_start_paths: list[str | Path] | None = None,
) -> None:
    """Train one method on one setting for every seed in `seeds` (one stacked ensemble); write the model file
    (all members) and the EMA curves (CSV with a seed column), resumably.

    With `train["warm_start"]` set, member e's warm start is loaded from `warm_start_paths[e]` (written once per
    setting and seed by the warm_start step) or, without them, fitted here.
    """
    runtime.setup_logging(log_path)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    cfg = _resolve_train(train)
    device = runtime.choose_device(threads)
    problem, u_star = _load_problem_and_reference(problem_npz, device)
    n_iter = cfg["iterations"]
    log.info(
        "SOCM train: setting=%s method=%s seeds=%s d=%d N=%d iterations=%d batch=%d",
        *(setting, method, seeds, problem.d, problem.N, n_iter, cfg["batch"]),
    )
    run = _build_run(problem, u_star, method, cfg, seeds, device)
    ckpts = checkpoint.TrainingCheckpoints(
        ckpt_dir, _fingerprint(problem_npz, setting, method, seeds, cfg), cfg["checkpoint_every"]
    )
    states, rows, start = _resume_or_start(run, ckpts, cfg, warm_start_paths)

    window_start = n_iter - max(1, math.ceil(0.1 * n_iter))  # raw L2 error averaged over the last 10%
    keep_graph = method == "adjoint"
    t_wall = time.perf_counter()
    wall_before = [float(s["wall_s"]) for s in states]
    for itr in progress.progress(range(start, n_iter), total=n_iter - start, desc=f"{setting}/{method}", logger=log):
        for state, step in zip(states, _iteration(run, method, cfg, states, itr, keep_graph)):
            update_metrics(state, step, cfg, itr, window_start)
        done = itr + 1
        if done % int(cfg["log_every"]) == 0 or done == n_iter:
            for member_rows, state in zip(rows, states):
                member_rows.append(curve_row(state, done))
        if ckpts.due(done, n_iter) and done < n_iter:
            for state, before in zip(states, wall_before):
                state["wall_s"] = before + (time.perf_counter() - t_wall) / len(seeds)
            ckpts.save(done, _checkpoint_state(run, states, rows))
        _after_iteration(done)

    walls = [before + (time.perf_counter() - t_wall) / len(seeds) for before in wall_before]
    with io.atomic_path(out_model) as tmp:
        torch.save(final_model(run, setting, method, cfg, states, walls), tmp)
    write_curve_csv(out_curve_csv, seeds, rows)
    ckpts.clear()
    for seed, state, member_rows in zip(seeds, states, rows):
        log.info(
            "done %s/%s seed %d (%.2f ms/it per member): EMA L2 error %.4g, normalised IW std %.3g",
            *(setting, method, seed, 1e3 * state["sum_time"] / n_iter, member_rows[-1][1], member_rows[-1][2]),
        )
