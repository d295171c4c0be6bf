"""Training loop shared by the eight methods (spec B1 "Optimizer", "Logged metrics"), resumable.

One iteration: simulate a batch under the detached current control (graph kept for the adjoint
loss), compute the method's loss with the weight α/Ẑ, one Adam step, update Ẑ and the EMA metrics.

Departures from the original code (documented on purpose):
- Ẑ: initialised from `norm_batches` batches under the initial control and then updated by a plain
  EMA (coefficient `norm_ema`, 0.002). The original's compute_EMA replaces the initial estimate by
  the first training batch's mean and keeps a running mean for the first 500 iterations.
- Non-finite losses (possible for the variance loss when α explodes) skip the Adam step and are
  counted (`skipped_steps` in the model file) instead of poisoning the network with NaNs.
- The control objective is computed by evaluate.py at the end only, not every 5000 iterations.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from papersuite.core import checkpoint, io, progress, runtime

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
from .models import FullyConnectedUNet, SigmoidMLP, control_from_network
from .optim import Adam
from .problems import ControlProblem, load_problem
from .reference import optimal_control_from_arrays
from .sde import Paths, simulate
from .warm_start import (
    WARM_START_SEED_OFFSET,
    GaussianPathWarmStart,
    fit_gaussian_path,
    load_warm_start,
    warm_start_from_state,
)

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

CURVE_COLUMNS = ["iteration", "control_l2_error", "normalized_iw_std", "grad_norm_sq", "loss", "time_per_iteration_s"]

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


def ema_update(value: float, ema: float | None, coeff: float, itr: int) -> float:
    """The original compute_EMA: running mean for itr ≤ 1/coeff, then EMA with `coeff` (spec B1)."""
    if itr == 0 or ema is None:
        return value
    if itr <= int(math.floor(1.0 / coeff)):
        return (value + itr * ema) / (itr + 1)
    return coeff * value + (1.0 - coeff) * ema


class LearnedControl:
    """u_θ(t, x) = −σᵀ∇V_θ(t, x) (+ the detached warm-start control), usable for simulation and on grids."""

    def __init__(
        self, net: FullyConnectedUNet, problem: ControlProblem, warm_start: GaussianPathWarmStart | None = None
    ):
        self.net = net
        self.problem = problem
        self.warm_start = warm_start

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        """t scalar or (K,), x (B, d) or (K, B, d) -> same shape as x."""
        u = control_from_network(self.net(t, x), self.problem.sigma)
        if self.warm_start is not None:
            u = u + self.warm_start.control(t, x)
        return u


def build_learned_control(problem: ControlProblem, train: Mapping[str, Any]) -> LearnedControl:
    """A freshly initialised ∇V network (global torch RNG) wrapped as a control."""
    net = FullyConnectedUNet(problem.d, train["hdims"], train["scaling_factor_nabla_V"]).to(
        device=problem.x0.device, dtype=problem.x0.dtype
    )
    return LearnedControl(net, problem)


def normalization_constant(
    problem: ControlProblem, control: LearnedControl, batch: int, n_batches: int, generator: torch.Generator
) -> float:
    """Ẑ₀ = mean of α over n_batches·batch paths under the initial control (simulated in chunks ≤ 8192 paths)."""
    total, chunks = batch * n_batches, []
    with torch.no_grad():
        while total > 0:
            size = min(total, max(batch, 8192))
            chunks.append(torch.exp(simulate(problem, control, size, generator).log_weight(problem.lam).double()))
            total -= size
    return float(torch.cat(chunks).mean())


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
    u_theta = control(paths.ts, paths.states)  # (N+1, B, d), graph through θ only
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
    return cfg


def _curve_frame(rows: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    frame["iteration"] = frame["iteration"].astype(int)
    return frame


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
    setting and seed by fit_warm_start) or, without one, fitted here.
    """
    runtime.setup_logging(log_path)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    cfg = _resolve_train(train)
    device = runtime.choose_device(threads)
    problem = load_problem(problem_npz, device=device)
    with np.load(problem_npz, allow_pickle=False) as data:
        u_star = optimal_control_from_arrays({k: data[k] for k in data.files}, problem.T, device=device)
    log.info(
        "SOCM train: setting=%s method=%s seed=%d d=%d N=%d iterations=%d batch=%d",
        setting,
        method,
        seed,
        problem.d,
        problem.N,
        cfg["iterations"],
        cfg["batch"],
    )

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

    # A checkpoint is resumed only if it was written for this very run (config, seed, problem file).
    fingerprint = {
        "setting": setting,
        "method": method,
        "seed": int(seed),
        "train": cfg,
        "problem_sha256": io.sha256_file(problem_npz),
    }
    run = checkpoint.TrainingCheckpoints(ckpt_dir, fingerprint, cfg["checkpoint_every"])
    ckpt = run.resume(restore_rng=False)  # restored below, once the warm start is rebuilt
    ws_cfg = cfg["warm_start"]
    if ckpt is not None:
        control.net.load_state_dict(ckpt["control"])
        if M is not None:
            M.load_state_dict(ckpt["M"])
        if y0 is not None:
            with torch.no_grad():
                y0.copy_(ckpt["y0"])
        if ckpt["warm_start"] is not None:
            control.warm_start = warm_start_from_state(problem, ckpt["warm_start"])
            control.warm_start.tabulate(problem.time_grid())
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        checkpoint.set_rng_state(ckpt["rng"])
        state = dict(ckpt["train_state"])
        rows = [list(r) for r in ckpt["curve"]]
        start = int(ckpt["step"])
    else:
        t_setup = time.perf_counter()
        if ws_cfg and warm_start_path is not None:
            control.warm_start = load_warm_start(problem, warm_start_path)
            control.warm_start.tabulate(problem.time_grid())
        elif ws_cfg:
            ws_gen = torch.Generator(device=device).manual_seed(int(seed) + WARM_START_SEED_OFFSET)
            control.warm_start = fit_gaussian_path(
                problem,
                int(ws_cfg["iterations"]),
                int(ws_cfg["batch"]),
                int(ws_cfg["knots"]),
                float(ws_cfg["lr"]),
                int(ws_cfg["time_points"]),
                ws_gen,
            )
            control.warm_start.tabulate(problem.time_grid())
        norm0 = normalization_constant(problem, control, cfg["batch"], int(cfg["norm_batches"]), generator)
        log.info("initial normalisation constant Ẑ = %.6g (%d batches)", norm0, cfg["norm_batches"])
        state = {
            "norm_const": norm0,
            "ema_loss": None,
            "ema_l2": None,
            "ema_w_mean": None,
            "ema_w_std": None,
            "ema_grad": None,
            "ema_time": None,
            "sum_time": 0.0,
            "wall_s": time.perf_counter() - t_setup,
            "skipped_steps": 0,
            "window_l2_sum": 0.0,
            "window_n": 0,
        }
        rows = []
        start = 0

    ema, n_iter = float(cfg["ema"]), cfg["iterations"]
    window_start = n_iter - max(1, math.ceil(0.1 * n_iter))  # raw L2 error averaged over the last 10%
    keep_graph = method == "adjoint"
    t_wall = time.perf_counter()
    wall_before = float(state["wall_s"])
    for itr in progress.progress(range(start, n_iter), total=n_iter - start, desc=f"{setting}/{method}", logger=log):
        t0 = time.perf_counter()
        if y0 is not None and itr == int(cfg["y0_lr_switch"]):
            optimizer.param_groups[-1]["lr"] = cfg["y0_lr_late"]
        paths = simulate(problem, control, cfg["batch"], generator, keep_graph=keep_graph)
        alpha = torch.exp(paths.log_weight(problem.lam).detach())  # (B,)
        weight = alpha / state["norm_const"]
        loss, u_theta = _method_loss(method, problem, paths, control, weight, state["norm_const"], M, y0)
        with torch.no_grad():
            if u_theta is None:  # adjoint: the N pre-terminal sampled controls
                l2 = control_l2_error(
                    u_star(paths.ts[:-1], paths.states[:-1].detach()), paths.controls.detach(), weight
                )
            else:
                l2 = control_l2_error(u_star(paths.ts, paths.states), u_theta.detach(), weight)
        loss_value = float(loss.detach())
        optimizer.zero_grad()
        if math.isfinite(loss_value):
            loss.backward()
            grad_sq = float(sum(p.grad.detach().double().pow(2).sum() for p in control.net.parameters()))
        else:
            grad_sq = float("nan")
        if math.isfinite(loss_value) and math.isfinite(grad_sq):
            optimizer.step()
        else:
            state["skipped_steps"] += 1
            log.warning("iteration %d: non-finite loss/gradient (%s, %s); Adam step skipped", itr, loss_value, grad_sq)
        dt_iter = time.perf_counter() - t0

        w_mean = float(alpha.double().mean())
        w_std = float(alpha.double().std())
        state["norm_const"] = (1.0 - cfg["norm_ema"]) * state["norm_const"] + cfg["norm_ema"] * w_mean
        state["ema_loss"] = ema_update(loss_value, state["ema_loss"], ema, itr)
        state["ema_l2"] = ema_update(float(l2), state["ema_l2"], ema, itr)
        state["ema_w_mean"] = ema_update(w_mean, state["ema_w_mean"], ema, itr)
        state["ema_w_std"] = ema_update(w_std, state["ema_w_std"], ema, itr)
        state["ema_grad"] = ema_update(grad_sq, state["ema_grad"], ema, itr)
        state["ema_time"] = ema_update(dt_iter, state["ema_time"], ema, itr)
        state["sum_time"] += dt_iter
        if itr >= window_start:
            state["window_l2_sum"] += float(l2)
            state["window_n"] += 1
        done = itr + 1
        if done % int(cfg["log_every"]) == 0 or done == n_iter:
            iw_std = state["ema_w_std"] / state["ema_w_mean"] if state["ema_w_mean"] else float("nan")
            rows.append([done, state["ema_l2"], iw_std, state["ema_grad"], state["ema_loss"], state["ema_time"]])
        if run.due(done, n_iter) and done < n_iter:
            state["wall_s"] = wall_before + time.perf_counter() - t_wall
            run.save(
                done,
                {
                    "control": control.net.state_dict(),
                    "M": None if M is None else M.state_dict(),
                    "y0": None if y0 is None else y0.detach().clone(),
                    "warm_start": None if control.warm_start is None else control.warm_start.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "train_state": dict(state),
                    "curve": [list(r) for r in rows],
                },
            )
        _after_iteration(done)

    wall_s = wall_before + time.perf_counter() - t_wall
    model = {
        "control": control.net.state_dict(),
        "M": None if M is None else M.state_dict(),
        "gamma": None if M is None else float(M.gamma.detach()),
        "y0": None if y0 is None else float(y0.detach()),
        "warm_start": None if control.warm_start is None else control.warm_start.state_dict(),
        "setting": setting,
        "method": method,
        "seed": int(seed),
        "d": problem.d,
        "hdims": [int(h) for h in cfg["hdims"]],
        "M_hdims": [int(h) for h in cfg["M_hdims"]],
        "scaling_factor_nabla_V": float(cfg["scaling_factor_nabla_V"]),
        "iterations": n_iter,
        "norm_const": float(state["norm_const"]),
        "train_wall_s": float(wall_s),
        "mean_time_per_iteration_s": float(state["sum_time"] / n_iter),
        "skipped_steps": int(state["skipped_steps"]),
        # mean of the raw (un-smoothed) per-iteration L2 error over the last 10% of iterations: at tiny
        # iteration counts the EMA (0.01) still carries the early transient, this window does not
        "final_window_iterations": int(state["window_n"]),
        "final_window_control_l2_error": float(state["window_l2_sum"] / max(state["window_n"], 1)),
    }
    with io.atomic_path(out_model) as tmp:
        torch.save(model, tmp)
    io.write_csv(out_curve_csv, _curve_frame(rows))
    run.clear()
    final = rows[-1]
    log.info(
        "done %s/%s in %.1f s (%.2f ms/it): EMA L2 error %.4g, normalised IW std %.3g",
        setting,
        method,
        wall_s,
        1e3 * state["sum_time"] / n_iter,
        final[1],
        final[2],
    )
