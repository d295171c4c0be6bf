"""Metric learning from snapshots (Pooladian et al., UAI 2024: the bilevel problem over consecutive snapshot pairs;
the authors' `train_ot_scarvelis.py`; docs/papers/lagot.md, "Metric learning").

Inner problem, per pair (α_t, α_{t+1}): a potential g_t and a map ŷ_{θ_t} trained by the NLOT dual (dual.py) under
the learned metric's sq-geodesic cost, with the full snapshots as batches; all pairs start from the same
initial networks. Outer problem: every `metric_every` iterations after `metric_warmup`, one AdamW step on the
metric A_φ(x) = R(θ_φ(x))ᵀ diag(1, λ) R(θ_φ(x)) minimising the mean over pairs of the dual objective (the OT
cost estimate). Its gradient reaches φ only through c_φ(x, ŷ*) on the detached spline paths (envelope theorem).
The spline amortizer is pretrained on random pooled pairs, takes a step per iteration on the conjugate pairs, and
is refit every `refit_every` iterations on (x, ŷ_θ(x)).

All pairs are solved as ONE batch: the c-transform runs once over every pair's samples, each sample with its own
pair's potential (PairNetworks); one AdamW over all pairs' parameters equals one AdamW per pair (elementwise).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest

from .alignment import alignment_score, cheap_directions, grid
from .amortizer import (
    SplineAmortizer,
    amortized_cost,
    amortized_path,
    amortizer_step,
    fit_amortizer,
    make_amortizer_optimizer,
)
from .ctransform import solve_ctransform
from .dual import CTRANSFORM_DEFAULTS
from .geometry import make_geometry
from .metrics import LearnedMetricGeometry
from .models import PotentialMLP, ResidualMap

__all__ = ["DEFAULTS", "PairNetworks", "learn_metric"]

log = logging.getLogger("papersuite.lagot.metric_learning")

DEFAULTS: dict[str, Any] = {
    "iterations": 3001,  # inner iterations (the authors' num_train_iters)
    "potential_hidden": [64, 64, 64, 64],  # g_t's hidden widths
    "map_hidden": [64, 64, 64, 64],  # ŷ_θt's hidden widths
    "potential_lr": 1e-4,  # AdamW learning rate of every g_t and θ_t (constant)
    "weight_decay": 1e-4,  # AdamW weight decay (optax's default), inner and outer
    "metric_hidden": [128, 128],  # the metric MLP's hidden widths
    "min_eigenvalue": 0.1,  # λ: A's eigenvalues are (1, λ)
    "metric_lr": 5e-3,  # AdamW learning rate of φ
    "metric_every": 10,  # outer step every this many iterations ...
    "metric_warmup": 50,  # ... once the iteration exceeds this
    "ctransform": dict(CTRANSFORM_DEFAULTS),  # L-BFGS settings
    "amortizer": {
        "hidden": [1024, 1024],  # SplineMLP hidden widths
        "n_params": 30,  # spline parameters per dimension
        "n_points": 20,  # path evaluation points
        "lr": 1e-4,  # Adam learning rate
        "grad_clip": 1.0,  # global-norm clip
        "pretrain_steps": 1001,  # steps on random pooled pairs before training
        "update_on_conjugates": True,  # one step per iteration on every pair's (x, ŷ*)
        "refit_every": 25,  # refit on (x, ŷ_θ(x)) every this many iterations
        "refit_steps": 1001,  # steps per refit (cycling over pairs)
        "grad_tol": 1e-4,  # early stop of a fit on the EMA(0.9) gradient norm
    },
    "n_pairs": None,  # use the first n consecutive pairs (None: all)
    "alignment_grid": 100,  # alignment on an n × n grid over the bounds
    "eval_every": 50,  # alignment curve every this many iterations
    "quiver_grid": 20,  # quiver-plot grid size (n × n arrows)
    "n_chains": 32,  # particles of the first snapshot pushed through every map, for figures
    "checkpoint_every": 50,  # checkpoint every this many iterations (0: off)
}


class PairNetworks(nn.Module):
    """One network per snapshot pair, all copies of one initial network; forward(z, pair) applies to each sample
    its own pair's network: (B, D), (B,) -> (B, ...)."""

    def __init__(self, template: nn.Module, n_pairs: int):
        super().__init__()
        self.nets = nn.ModuleList(copy.deepcopy(template) for _ in range(n_pairs))

    def forward(self, z: Tensor, pair: Tensor) -> Tensor:
        if pair.numel() > 1 and bool((pair[1:] >= pair[:-1]).all()):
            # Sorted pairs (the pair-major batches and the solver's subsets of them): contiguous runs, no scatter.
            counts = torch.bincount(pair, minlength=len(self.nets)).tolist()
            chunks = z.split(counts)
            return torch.cat([self.nets[p](chunk) for p, chunk in enumerate(chunks) if counts[p] > 0])
        outputs, order = [], []
        for p in torch.unique(pair).tolist():
            idx = (pair == p).nonzero().squeeze(-1)
            outputs.append(self.nets[p](z[idx]))
            order.append(idx)
        values = torch.cat(outputs)
        out = values.new_empty((z.shape[0], *values.shape[1:]))
        out[torch.cat(order)] = values
        return out


def _merge(config: Mapping[str, Any]) -> dict[str, Any]:
    cfg = {**DEFAULTS, **config}
    cfg["ctransform"] = {**CTRANSFORM_DEFAULTS, **config.get("ctransform", {})}
    cfg["amortizer"] = {**DEFAULTS["amortizer"], **config.get("amortizer", {})}
    return cfg


class _MetricRun:
    """Everything one metric-learning run holds."""

    def __init__(self, snapshots: Tensor, bounds, cfg: dict, seed: int):
        torch.manual_seed(int(seed))
        self.cfg = cfg
        n_pairs = snapshots.shape[0] - 1 if cfg["n_pairs"] is None else int(cfg["n_pairs"])
        data = snapshots[: n_pairs + 1].float()  # (P+1, N, 2)
        self.n_pairs, self.n = n_pairs, data.shape[1]
        self.x = data[:-1].reshape(-1, 2)  # (P·N, 2) sources, pair-major
        self.y = data[1:].reshape(-1, 2)  # (P·N, 2) targets
        self.pair = torch.arange(n_pairs).repeat_interleave(self.n)  # (P·N,)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.metric = LearnedMetricGeometry(cfg["metric_hidden"], bounds, cfg["min_eigenvalue"])
        self.potentials = PairNetworks(PotentialMLP(2, cfg["potential_hidden"]), n_pairs)
        self.maps = PairNetworks(ResidualMap(2, cfg["map_hidden"]), n_pairs)
        inner = list(self.potentials.parameters()) + list(self.maps.parameters())
        self.opt_inner = torch.optim.AdamW(inner, lr=cfg["potential_lr"], weight_decay=cfg["weight_decay"])
        self.opt_metric = torch.optim.AdamW(
            self.metric.parameters(), lr=cfg["metric_lr"], weight_decay=cfg["weight_decay"]
        )
        amor = cfg["amortizer"]
        self.amortizer = SplineAmortizer(2, amor["n_params"], amor["hidden"])
        self.opt_amor = make_amortizer_optimizer(self.amortizer, amor["lr"])
        self.cycle = 0  # which pair the next pretrain/refit step uses
        self.curve: dict[str, list[float]] = {"dual": [], "amor_loss": [], "metric_iteration": [], "metric_loss": []}
        self.curve.update({"alignment_iteration": [], "alignment": []})

    def cost_fn(self, x: Tensor, y: Tensor) -> Tensor:
        """Learned metric's sq-geodesic cost along the amortizer's detached path: (B, D), (B, D) -> (B,)."""
        return amortized_cost(self.metric, self.amortizer, x, y, 1.0, self.cfg["amortizer"]["n_points"])

    def _pair_slice(self, t: int) -> slice:
        return slice(t * self.n, (t + 1) * self.n)

    def pretrain_pairs(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Random pairs from pooled snapshots t and t+1, t cycling over the pairs (the authors' sampler)."""
        t, self.cycle = self.cycle, (self.cycle + 1) % self.n_pairs
        pool = torch.cat([self.x[self._pair_slice(t)], self.y[self._pair_slice(t)]])
        return pool[torch.randperm(len(pool), generator=generator)], pool[
            torch.randperm(len(pool), generator=generator)
        ]

    def refit_pairs(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(x_t, ŷ_θt(x_t)) for pair t cycling over the pairs (the authors' refit sampler)."""
        t, self.cycle = self.cycle, (self.cycle + 1) % self.n_pairs
        sl = self._pair_slice(t)
        with torch.no_grad():
            return self.x[sl], self.maps(self.x[sl], self.pair[sl])

    def fit(self, sampler, steps: int) -> list[float]:
        amor = self.cfg["amortizer"]
        return fit_amortizer(
            self.metric, self.amortizer, sampler, steps, optimizer=self.opt_amor, n_points=amor["n_points"],
            grad_clip=amor["grad_clip"], grad_tol=amor["grad_tol"], generator=self.generator,
        )  # fmt: skip

    def refine(self, y_amortized: Tensor) -> Tensor:
        """ŷ* for every pair's samples in one batched L-BFGS, each with its own pair's potential: (P·N, 2)."""
        result = solve_ctransform(
            self.cost_fn, self.potentials, self.x, y_amortized.detach(), self.metric.bounds,
            groups=self.pair, **self.cfg["ctransform"],
        )  # fmt: skip
        return result.solution

    def per_pair_mean(self, values: Tensor) -> Tensor:
        """Mean over each pair's samples: (P·N, ...) -> (P,)."""
        return values.reshape(self.n_pairs, -1).mean(-1)

    def step(self, it: int) -> None:
        """One inner iteration over all pairs, the amortizer's step, and the outer metric step when due."""
        cfg, amor = self.cfg, self.cfg["amortizer"]
        y_amortized = self.maps(self.x, self.pair)  # (P·N, 2)
        y_star = self.refine(y_amortized)
        with torch.no_grad():
            cost = self.cost_fn(self.x, y_star)  # (P·N,)
        dual = self.per_pair_mean(cost - self.potentials(y_star, self.pair)) + self.per_pair_mean(
            self.potentials(self.y, self.pair)
        )  # (P,) per-pair dual objectives
        amor_loss = self.per_pair_mean((y_amortized - y_star).pow(2))  # (P,)
        self.opt_inner.zero_grad(set_to_none=True)
        (amor_loss - dual).sum().backward()  # pairs share no parameters: the sum is every pair's own loss
        self.opt_inner.step()
        if amor["update_on_conjugates"]:
            amortizer_step(self.metric, self.amortizer, self.opt_amor, self.x, y_star, 1.0, amor["n_points"])
        if it > int(cfg["metric_warmup"]) and it % int(cfg["metric_every"]) == 0:
            self.metric_step(y_star, dual.detach() - self.per_pair_mean(cost))
            self.curve["metric_iteration"].append(float(it))
        if it % int(amor["refit_every"]) == 0:
            self.fit(self.refit_pairs, int(amor["refit_steps"]))
        self.curve["dual"].append(float(dual.detach().mean()))
        self.curve["amor_loss"].append(float(amor_loss.detach().mean()))

    def metric_step(self, y_star: Tensor, potential_terms: Tensor) -> None:
        """Outer AdamW step minimising the mean dual objective over φ; only c_φ(x, ŷ*) depends on φ."""
        self.opt_metric.zero_grad(set_to_none=True)
        loss = (self.per_pair_mean(self.cost_fn(self.x, y_star)) + potential_terms).mean()
        loss.backward()
        self.opt_metric.step()
        self.opt_metric.zero_grad(set_to_none=True)
        self.curve["metric_loss"].append(float(loss.detach()))

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds besides the global RNG state."""
        modules = ("metric", "potentials", "maps", "amortizer", "opt_inner", "opt_metric", "opt_amor")
        state = {name: getattr(self, name).state_dict() for name in modules}
        state.update({"generator": self.generator.get_state(), "cycle": self.cycle})
        state["curve"] = {k: list(v) for k, v in self.curve.items()}
        return state

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        for name in ("metric", "potentials", "maps", "amortizer", "opt_inner", "opt_metric", "opt_amor"):
            getattr(self, name).load_state_dict(state[name])
        self.generator.set_state(state["generator"])
        self.cycle = int(state["cycle"])
        self.curve = {k: [float(v) for v in vals] for k, vals in state["curve"].items()}

    def pushforward(self, x: Tensor, t: int) -> Tensor:
        """T_t(x): L-BFGS from ŷ_θt(x) under g_t: (B, 2) -> (B, 2)."""
        pair = torch.full((x.shape[0],), t, dtype=torch.long)
        with torch.no_grad():
            y0 = self.maps(x, pair)
        result = solve_ctransform(
            self.cost_fn, self.potentials, x, y0, self.metric.bounds, groups=pair, **self.cfg["ctransform"]
        )
        return result.solution


def _chains(run: _MetricRun, n_chains: int) -> dict[str, Tensor]:
    """n_chains particles of the first snapshot pushed through T_0, …, T_{P−1}, with the paths between (Fig. 4)."""
    points = [run.x[: min(n_chains, run.n)]]
    paths = []
    for t in range(run.n_pairs):
        nxt = run.pushforward(points[-1], t)
        paths.append(amortized_path(run.amortizer, points[-1], nxt, run.cfg["amortizer"]["n_points"]).detach())
        points.append(nxt)
    return {"points": torch.stack(points), "paths": torch.stack(paths)}  # (P+1, k, 2), (P, k, n, 2)


def _quiver(run: _MetricRun, true_metric, bounds, n: int) -> dict[str, Tensor]:
    """Cheap eigen-directions of the learned and the true metric on an n × n grid (the quiver plots, Fig. 3)."""
    points = grid(bounds, n)
    return {
        "points": points,
        "learned": cheap_directions(run.metric.metric, points).float(),
        "true": cheap_directions(true_metric, points).float(),
    }


def learn_metric(
    snapshots: Tensor,
    true_metric: str,
    config: Mapping[str, Any],
    seed: int,
    checkpoint_dir: str | Path | None = None,
    bounds: Sequence[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Learn A_φ from snapshots (T, N, 2) by the bilevel loop (paper Table 2, Figs. 3–4); score it against the
    registered true metric `true_metric` ("circle", "vee", "xpath"; its bounds unless `bounds` is given).
    Deterministic given (config, seed, snapshots); resumable from `checkpoint_dir`.

    Config keys (defaults: DEFAULTS, the authors' train_ot_scarvelis.yaml): iterations, potential_hidden,
    map_hidden, potential_lr, weight_decay, metric_hidden, min_eigenvalue, metric_lr, metric_every,
    metric_warmup, ctransform {max_iter, tol, history, max_linesearch, decrease}, amortizer {hidden, n_params,
    n_points, lr, grad_clip, pretrain_steps, update_on_conjugates, refit_every, refit_steps, grad_tol}, n_pairs,
    alignment_grid, eval_every, quiver_grid, n_chains, checkpoint_every.

    Returns {"metrics": {alignment, alignment_initial, dual_final, n_pairs, train_seconds}, "curve": per-iteration
    dual and amortization loss, metric-step losses, the alignment curve, "quiver": {points, learned, true},
    "chains": {points, paths}, "states": {metric, amortizer}}.
    """
    cfg = _merge(config)
    start_time = time.perf_counter()
    truth = make_geometry(true_metric)
    bounds = tuple(tuple(float(v) for v in b) for b in (bounds or truth.bounds))
    run = _MetricRun(snapshots, bounds, cfg, seed)
    align_points = grid(bounds, int(cfg["alignment_grid"]))
    alignment_initial = alignment_score(truth.metric, run.metric.metric, align_points)
    fingerprint = {"metric_learning": cfg, "seed": int(seed), "truth": true_metric, "bounds": repr(bounds)}
    fingerprint["data"] = data_digest(snapshots)
    ckpt_run = TrainingCheckpoints(checkpoint_dir, fingerprint, int(cfg["checkpoint_every"]))
    ckpt = ckpt_run.resume()
    total, start, pretrain = int(cfg["iterations"]), 0, []
    if ckpt is not None:
        run.load(ckpt)
        start, pretrain = int(ckpt["step"]), [float(v) for v in ckpt["pretrain"]]
    else:
        pretrain = run.fit(run.pretrain_pairs, int(cfg["amortizer"]["pretrain_steps"]))
    for it in range(start, total):
        run.step(it)
        if it % int(cfg["eval_every"]) == 0 or it == total - 1:
            run.curve["alignment_iteration"].append(float(it))
            run.curve["alignment"].append(alignment_score(truth.metric, run.metric.metric, align_points))
            log.info(
                "iteration %d/%d: dual %.4f, alignment %.3f",
                it,
                total,
                run.curve["dual"][-1],
                run.curve["alignment"][-1],
            )
        if ckpt_run.due(it + 1, total):
            ckpt_run.save(it + 1, {**run.state(), "pretrain": pretrain})
    metrics = {
        "alignment": alignment_score(truth.metric, run.metric.metric, align_points),
        "alignment_se": 0.0,  # exact given the trained metric (a deterministic grid)
        "alignment_initial": alignment_initial,
        "dual_final": run.curve["dual"][-1] if run.curve["dual"] else math.nan,
        "n_pairs": run.n_pairs,
        "train_seconds": time.perf_counter() - start_time,
    }
    out = {
        "metrics": metrics,
        "curve": run.curve,
        "pretrain_curve": pretrain,
        "quiver": _quiver(run, truth.metric, bounds, int(cfg["quiver_grid"])),
        "chains": _chains(run, int(cfg["n_chains"])),
        "states": {"metric": run.metric.state_dict(), "amortizer": run.amortizer.state_dict()},
    }
    ckpt_run.clear()
    return out
