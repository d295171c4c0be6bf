"""Neural Lagrangian OT (NLOT): training the dual with amortized c-transforms under a closed-form or an
amortized-spline cost, and its evaluation (Pooladian et al., UAI 2024, the neural dual and the obstacle
experiments of Figs. 1–2; docs/papers/lagot.md).

One iteration (the authors' `train_ot.py`): draw a source and a target batch; refine ŷ_θ(x) by L-BFGS to ŷ*;
one AdamW step on g (dual loss) and θ (regression loss). With the amortized-spline cost the spline amortizer is
pretrained on random pairs of pooled source and target samples, takes one step per iteration on the conjugate
pairs (x, ŷ*), and is refit every `refit_every` iterations on (x, ŷ_θ(x)), except in the last
`refit_stop_before_end` iterations. Obstacle barriers are annealed over the first `anneal_steps` iterations.
The map is T(x) = ŷ*(x): an optimisation, never an ODE solve.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from papersuite.core.checkpoint import TrainingCheckpoints
from papersuite.core.noise import mean_se, rate_se

from .amortizer import (
    SplineAmortizer,
    amortized_cost,
    amortized_cost_and_grad,
    amortized_path,
    amortizer_step,
    fit_amortizer,
    has_closed_form_cost_grad,
    make_amortizer_optimizer,
)
from .ctransform import CostGradFn, half_sq_euclidean
from .dual import CTRANSFORM_DEFAULTS, nlot_losses, transport_map
from .geometry import Geometry, straight_path
from .models import PotentialMLP, ResidualMap
from .sampling import Sampler
from .wasserstein import marginal_w2

__all__ = ["DEFAULTS", "AMORTIZER_DEFAULTS", "COSTS", "train_nlot", "clip_gradients", "cosine_lr"]

log = logging.getLogger("papersuite.lagot.nlot")

COSTS = ("closed_form", "amortized")

AMORTIZER_DEFAULTS: dict[str, Any] = {
    "hidden": [1024, 1024],  # SplineMLP hidden widths (the authors': 1024, 1024)
    "n_params": 30,  # spline parameters per dimension (the authors' 30-node basis)
    "n_points": 20,  # path evaluation points (the authors' 20)
    "lr": 1e-4,  # Adam learning rate (the authors' 1e-4)
    "grad_clip": 1.0,  # global-norm clip of each amortizer step
    "pretrain_steps": 5001,  # steps on random pooled pairs before training (the authors' init_train_iters)
    "update_on_conjugates": True,  # one step per iteration on (x, ŷ*)
    "refit_every": 25,  # refit on (x, ŷ_θ(x)) every this many iterations (the authors' update_frequency)
    "refit_steps": 5001,  # steps per refit (the authors' train_iters)
    "refit_stop_before_end": 1000,  # no refit in the last this many iterations
    "grad_tol": 1e-4,  # early stop of a fit when the EMA(0.9) of the gradient norm is below this
}

DEFAULTS: dict[str, Any] = {
    "iterations": 10001,  # dual iterations (the authors' num_train_iters)
    "batch_size": 1024,  # source and target samples per iteration
    "potential_hidden": [64, 64, 64, 64],  # g's hidden widths
    "map_hidden": [64, 64, 64, 64],  # ŷ_θ's hidden widths
    "lr": 5e-5,  # AdamW initial learning rate of g and θ
    "lr_final_fraction": 1e-4,  # cosine decay to lr × this at the last iteration (1.0: constant)
    "weight_decay": 1e-4,  # AdamW weight decay (optax's default)
    "grad_clip": 5.0,  # global-norm clip per network
    "anneal_steps": 2000,  # barrier annealing iterations (0: the end values from the start)
    "ctransform": dict(CTRANSFORM_DEFAULTS),  # L-BFGS settings (dual.CTRANSFORM_DEFAULTS)
    "eval_ctransform": {},  # overrides of those settings for the evaluated map T(x) (e.g. more iterations)
    "amortizer": dict(AMORTIZER_DEFAULTS),  # spline amortizer (cost "amortized" only)
    "n_eval": 512,  # fresh samples per evaluation repeat (W2, dual value, obstacle fractions)
    "eval_repeats": 5,  # evaluation repeats (W2 mean ± se)
    "n_dual": 4096,  # fresh source and target samples for the dual value and the map's transport cost
    "n_paths": 64,  # source points whose map and path are returned for figures
    "checkpoint_every": 100,  # checkpoint every this many iterations (0: off)
}


def cosine_lr(lr: float, final_fraction: float, step: int, total: int) -> float:
    """optax.cosine_decay_schedule: lr·[(1 − α)·½(1 + cos(π·step/total)) + α], α = final_fraction."""
    progress = min(step, total) / max(total, 1)
    return lr * ((1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress)) + final_fraction)


def clip_gradients(params: list[Tensor], max_norm: float) -> None:
    """optax.clip_by_global_norm on the .grad of `params` (in place)."""
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


def _merge(config: Mapping[str, Any]) -> dict[str, Any]:
    cfg = {**DEFAULTS, **config}
    cfg["ctransform"] = {**CTRANSFORM_DEFAULTS, **config.get("ctransform", {})}
    cfg["eval_ctransform"] = {**cfg["ctransform"], **config.get("eval_ctransform", {})}
    cfg["amortizer"] = {**AMORTIZER_DEFAULTS, **config.get("amortizer", {})}
    return cfg


class _NLOTRun:
    """Everything one NLOT run holds: networks, optimizers, amortizer, data generator, curve."""

    def __init__(self, geometry: Geometry, cost: str, source: Sampler, target: Sampler, cfg: dict, seed: int):
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
        torch.manual_seed(int(seed))
        self.geometry, self.cost, self.source, self.target, self.cfg = geometry, cost, source, target, cfg
        self.generator = torch.Generator().manual_seed(int(seed))
        dim = int(geometry.dim)
        self.potential = PotentialMLP(dim, cfg["potential_hidden"])
        self.source_map = ResidualMap(dim, cfg["map_hidden"])
        adamw = {"lr": cfg["lr"], "betas": (0.9, 0.999), "weight_decay": cfg["weight_decay"]}
        self.opt_g = torch.optim.AdamW(self.potential.parameters(), **adamw)
        self.opt_map = torch.optim.AdamW(self.source_map.parameters(), **adamw)
        self.amortizer: SplineAmortizer | None = None
        if cost == "amortized":
            amor = cfg["amortizer"]
            self.amortizer = SplineAmortizer(dim, amor["n_params"], amor["hidden"])
            self.opt_amor = make_amortizer_optimizer(self.amortizer, amor["lr"])
        self.anneal = 0.0
        self.curve: dict[str, list[float]] = {"dual": [], "amor_loss": [], "ctransform_iters": [], "path_energy": []}

    def cost_fn(self, x: Tensor, y: Tensor) -> Tensor:
        """c(x, y): ½|x − y|² or the amortized path cost at the current annealing progress: (B,D),(B,D) -> (B,)."""
        if self.amortizer is None:
            return half_sq_euclidean(x, y)
        return amortized_cost(self.geometry, self.amortizer, x, y, self.anneal, self.cfg["amortizer"]["n_points"])

    def cost_and_grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """cost_fn (B,) and its gradient in y (B, D) in closed form: y − x for ½|x − y|², else the amortized
        path cost's (amortizer.amortized_cost_and_grad; only where `closed_form_grad` is set)."""
        if self.amortizer is None:
            return half_sq_euclidean(x, y), y - x
        n_points = self.cfg["amortizer"]["n_points"]
        return amortized_cost_and_grad(self.geometry, self.amortizer, x, y, self.anneal, n_points)

    @property
    def closed_form_grad(self) -> CostGradFn | None:
        """cost_and_grad where it applies (the c-transform then skips autograd through the cost), else None."""
        if self.amortizer is None or has_closed_form_cost_grad(self.geometry):
            return self.cost_and_grad
        return None

    def set_anneal(self, step: int) -> None:
        steps = int(self.cfg["anneal_steps"])
        self.anneal = 1.0 if steps <= 0 else min(step / steps, 1.0)

    def fit_amortizer(self, pairs, steps: int) -> list[float]:
        amor = self.cfg["amortizer"]
        return fit_amortizer(
            self.geometry,
            self.amortizer,
            pairs,
            steps,
            optimizer=self.opt_amor,
            anneal=self.anneal,
            n_points=amor["n_points"],
            grad_clip=amor["grad_clip"],
            grad_tol=amor["grad_tol"],
            generator=self.generator,
        )

    def pretrain_pairs(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Random pairs from pooled source + target samples (the authors' pretraining sampler)."""
        batch = int(self.cfg["batch_size"])
        pools = [torch.cat([self.source(batch, generator), self.target(batch, generator)]) for _ in range(2)]
        x, y = (pool[torch.randperm(len(pool), generator=generator)] for pool in pools)
        return x, y

    def refit_pairs(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(x, ŷ_θ(x)) for a fresh source batch (the authors' periodic refit)."""
        x = self.source(int(self.cfg["batch_size"]), generator)
        with torch.no_grad():
            return x, self.source_map(x)

    def step(self, it: int) -> None:
        """One dual iteration (and the amortizer's updates of that iteration)."""
        cfg, total = self.cfg, int(self.cfg["iterations"])
        self.set_anneal(it)
        x = self.source(int(cfg["batch_size"]), self.generator)
        y = self.target(int(cfg["batch_size"]), self.generator)
        for opt in (self.opt_g, self.opt_map):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(cfg["lr"], cfg["lr_final_fraction"], it, total)
        losses, refined = nlot_losses(
            self.cost_fn, self.potential, self.source_map, x, y, self.geometry.bounds, cfg["ctransform"],
            cost_and_grad=self.closed_form_grad,
        )  # fmt: skip
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_map.zero_grad(set_to_none=True)
        losses.loss.backward()
        clip_gradients(list(self.potential.parameters()), cfg["grad_clip"])
        clip_gradients(list(self.source_map.parameters()), cfg["grad_clip"])
        self.opt_g.step()
        self.opt_map.step()
        energy = math.nan
        if self.amortizer is not None:
            amor = cfg["amortizer"]
            if amor["update_on_conjugates"]:
                energy, _ = amortizer_step(
                    self.geometry, self.amortizer, self.opt_amor, x, refined.solution, self.anneal,
                    amor["n_points"], amor["grad_clip"],
                )  # fmt: skip
            if it % int(amor["refit_every"]) == 0 and it < total - int(amor["refit_stop_before_end"]):
                self.fit_amortizer(self.refit_pairs, int(amor["refit_steps"]))
        self.curve["dual"].append(float(losses.dual_value))
        self.curve["amor_loss"].append(float(losses.amor_loss.detach()))
        self.curve["ctransform_iters"].append(float(refined.num_iter.float().mean()))
        self.curve["path_energy"].append(float(energy))

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds besides the global RNG state."""
        state = {
            "potential": self.potential.state_dict(),
            "source_map": self.source_map.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_map": self.opt_map.state_dict(),
            "generator": self.generator.get_state(),
            "curve": {k: list(v) for k, v in self.curve.items()},
        }
        if self.amortizer is not None:
            state["amortizer"] = self.amortizer.state_dict()
            state["opt_amor"] = self.opt_amor.state_dict()
        return state

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.potential.load_state_dict(state["potential"])
        self.source_map.load_state_dict(state["source_map"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_map.load_state_dict(state["opt_map"])
        self.generator.set_state(state["generator"])
        self.curve = {k: [float(v) for v in vals] for k, vals in state["curve"].items()}
        if self.amortizer is not None:
            self.amortizer.load_state_dict(state["amortizer"])
            self.opt_amor.load_state_dict(state["opt_amor"])

    def pushforward(self, x: Tensor) -> Tensor:
        """T(x): L-BFGS-refined argmin from ŷ_θ(x) under the final (annealed) cost: (B, D) -> (B, D)."""
        return transport_map(
            self.cost_fn, self.potential, self.source_map, x, self.geometry.bounds, self.cfg["eval_ctransform"],
            cost_and_grad=self.closed_form_grad,
        )  # fmt: skip

    def paths(self, x: Tensor, y: Tensor) -> Tensor:
        """Paths from x to T(x) (B, n, D): the amortizer's spline, or the chord under the closed-form cost."""
        n_points = int(self.cfg["amortizer"]["n_points"])
        if self.amortizer is None:
            return straight_path(x, y, n_points)
        return amortized_path(self.amortizer, x, y, n_points).detach()


def geometry_fingerprint(geometry: Geometry) -> dict[str, Any]:
    """What identifies a geometry in a checkpoint fingerprint (name, mode, bounds, barrier/metric constants)."""
    keys = ("name", "mode", "dim", "bounds", "M_bounds", "temp_bounds", "metric_eps", "min_eigenvalue")
    return {k: repr(getattr(geometry, k)) for k in keys if hasattr(geometry, k)}


def obstacle_mask(geometry: Geometry, points: Tensor) -> Tensor | None:
    """Points (..., D) inside the obstacle: U(x) below half the final barrier height −M_end/2 (box, slit, GMM,
    V-neck, S-tunnel, maze: their sharp barriers are −M inside, 0 outside); None without a barrier."""
    m_bounds = getattr(geometry, "M_bounds", None)
    if m_bounds is None or float(m_bounds[1]) <= 0.0:
        return None
    with torch.no_grad():
        return geometry.potential(points, 1.0) < -0.5 * float(m_bounds[1])


def _dual_value(run: _NLOTRun, x: Tensor, mapped: Tensor, y: Tensor) -> dict[str, float]:
    """Dual objective mean(c(x,T(x)) − g(T(x))) + mean g(y) on fresh samples, ± se, and the map's mean cost."""
    with torch.no_grad():
        cost = run.cost_fn(x, mapped)  # (n,)
        source_part, source_se = mean_se((cost - run.potential(mapped)).tolist())
        target_part, target_se = mean_se(run.potential(y).tolist())
        transport, transport_se = mean_se(cost.tolist())
    return {
        "dual": source_part + target_part,
        "dual_se": math.hypot(source_se, target_se),
        "transport_cost": transport,
        "transport_cost_se": transport_se,
    }


def _obstacle_metrics(run: _NLOTRun, paths: Tensor) -> dict[str, float]:
    """Fraction of path points inside the obstacle (± se over paths) and fraction of paths entering it."""
    inside = obstacle_mask(run.geometry, paths)  # (n, P)
    if inside is None:
        return {}
    point_fraction, point_se = mean_se(inside.float().mean(-1).tolist())
    path_fraction, path_se = rate_se(int(inside.any(-1).sum()), int(inside.shape[0]))
    return {
        "obstacle_point_fraction": point_fraction,
        "obstacle_point_fraction_se": point_se,
        "obstacle_path_fraction": path_fraction,
        "obstacle_path_fraction_se": path_se,
    }


def evaluate_nlot(run: _NLOTRun, seed: int) -> tuple[dict[str, float], dict[str, Tensor]]:
    """Marginal W2 vs noise W2, dual value, obstacle fractions (fresh samples of an evaluation generator), and
    the figure data: n_paths source points, T(x) and the paths between (Figs. 1–2)."""
    cfg = run.cfg
    run.set_anneal(int(cfg["iterations"]))
    generator = torch.Generator().manual_seed(int(seed) + 1_000_003)  # evaluation draws, apart from training's
    n = int(cfg["n_eval"])
    metrics = marginal_w2(run.pushforward, run.source, run.target, n, int(cfg["eval_repeats"]), generator)
    n_dual = int(cfg["n_dual"])
    x, y = run.source(n_dual, generator), run.target(n_dual, generator)
    mapped = run.pushforward(x)  # (n_dual, D)
    metrics.update(_dual_value(run, x, mapped, y))
    x, mapped, y = x[:n], mapped[:n], y[:n]
    paths = run.paths(x, mapped)  # (n, P, D)
    metrics.update(_obstacle_metrics(run, paths))
    metrics["map_displacement"] = float((mapped - x).norm(dim=-1).mean())
    k = int(cfg["n_paths"])
    figure = {"source": x[:k].clone(), "mapped": mapped[:k].clone(), "paths": paths[:k].clone(), "target": y[:k]}
    return metrics, figure


def train_nlot(
    geometry: Geometry,
    cost: str,
    source: Sampler,
    target: Sampler,
    config: Mapping[str, Any],
    seed: int,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate NLOT (the paper's obstacle experiments, Figs. 1–2) under cost "closed_form"
    (½|x − y|²) or "amortized" (spline paths of `geometry`); deterministic given (config, seed), resumable from
    `checkpoint_dir`.

    Config keys (defaults: DEFAULTS, the authors' train_ot.yaml): iterations, batch_size, potential_hidden,
    map_hidden, lr, lr_final_fraction, weight_decay, grad_clip, anneal_steps, ctransform {max_iter, tol, history,
    max_linesearch, decrease}, eval_ctransform (overrides of ctransform for the evaluated map), amortizer
    {hidden, n_params, n_points, lr, grad_clip, pretrain_steps, update_on_conjugates, refit_every, refit_steps,
    refit_stop_before_end, grad_tol}, n_eval, eval_repeats, n_dual, n_paths, checkpoint_every.

    Returns {"metrics": {w2, w2_se, noise_w2, noise_w2_se, w2_ratio, w2_ratio_se, dual, dual_se, transport_cost,
    transport_cost_se, map_displacement, [obstacle_point_fraction(_se), obstacle_path_fraction(_se)],
    pretrain_energy_final, train_seconds, ode_solves (0: the map is an L-BFGS argmin)}, "curve": per-iteration
    lists, "figure": {source, mapped, paths, target}, "states": state dicts of g, ŷ_θ (and the amortizer)}.
    """
    cfg = _merge(config)
    start_time = time.perf_counter()
    run = _NLOTRun(geometry, cost, source, target, cfg, seed)
    fingerprint = {"nlot": cfg, "seed": int(seed), "cost": cost, "geometry": geometry_fingerprint(geometry)}
    fingerprint["data"] = [repr(source), repr(target)]
    ckpt_run = TrainingCheckpoints(checkpoint_dir, fingerprint, int(cfg["checkpoint_every"]))
    ckpt = ckpt_run.resume()
    total = int(cfg["iterations"])
    start, pretrain = 0, []
    if ckpt is not None:
        run.load(ckpt)
        start, pretrain = int(ckpt["step"]), [float(v) for v in ckpt["pretrain"]]
    elif run.amortizer is not None:
        run.set_anneal(0)
        pretrain = run.fit_amortizer(run.pretrain_pairs, int(cfg["amortizer"]["pretrain_steps"]))
    for it in range(start, total):
        run.step(it)
        if it % 100 == 0:
            log.info(
                "iteration %d/%d: dual %.4f, amor %.2e", it, total, run.curve["dual"][-1], run.curve["amor_loss"][-1]
            )
        if ckpt_run.due(it + 1, total):
            ckpt_run.save(it + 1, {**run.state(), "pretrain": pretrain})
    metrics, figure = evaluate_nlot(run, seed)
    metrics["pretrain_energy_final"] = pretrain[-1] if pretrain else math.nan
    metrics["train_seconds"] = time.perf_counter() - start_time
    metrics["ode_solves"] = 0
    states = {"potential": run.potential.state_dict(), "source_map": run.source_map.state_dict()}
    if run.amortizer is not None:
        states["amortizer"] = run.amortizer.state_dict()
    ckpt_run.clear()
    return {"metrics": metrics, "curve": run.curve, "figure": figure, "states": states, "pretrain_curve": pretrain}
