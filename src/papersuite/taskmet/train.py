"""Training: TaskMet's bilevel loop (paper §4, Alg. 1) and the two baselines of Table 1, two-stage MSE and
DFL, with best-validation model selection and resumable checkpoints (docs/papers/taskmet.md, "Method").

One outer iteration of TaskMet (the authors' `Workspace.run`):
1. fit θ under the current metric A_φ, warm-started, with the predictor's persistent Adam (inner.py);
2. the task loss −mean g(z(f_θ(x)), y) of the relaxed decision on a batch of training instances, and its
   θ-gradient; the metric's hypergradient by implicit differentiation (hypergradient.py) with the
   optimality condition on a minibatch of training instances;
3. validate every ``valfreq`` iterations and keep the best (θ, φ) by validation score;
4. one Adam step on φ (after validation, as the authors' code, so a validation row is the metric that
   produced its θ).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest
from papersuite.core.progress import progress

from .dq import DQBaselines, hard_objectives, relaxed_task_loss
from .hypergradient import implicit_hypergradient
from .inner import FlatParams, fit_inner
from .lodl import lodl_metric
from .metric import metric_loss, mse
from .models import MetricNet, make_predictor
from .task import Split, Task, index_split

__all__ = ["METHODS", "DEFAULTS", "TrainResult", "train", "build_predictor", "build_metric"]

log = logging.getLogger("papersuite.taskmet.train")

METHODS = ("mse", "dfl", "lodl", "taskmet")

DEFAULTS: dict[str, Any] = {
    "predictor_hidden": [],  # hidden widths of f_θ ([] = Linear; LODL's dense_nn)
    "predictor_out_activation": "none",  # none | relu | tanh | sigmoid | softplus
    "pred_lr": 0.1,  # Adam learning rate of θ (inner fit, and MSE)
    "prediction_batchsize": 10,  # instances per inner Adam step
    "clip_norm": 1.0,  # grad-norm clip of every θ step
    "inner_grad_tol": 1e-3,  # inner fit stops when the minibatch ‖∇θ‖ falls below this
    "inner_iters_init": 500,  # inner Adam steps at outer iteration 0 (taskmet, mse)
    "inner_iters": 100,  # inner Adam steps at every later outer iteration (taskmet, mse)
    "metric_hidden": [200],  # hidden widths of L_φ
    "metric_lr": 1e-3,  # Adam learning rate of φ
    "outer_iters": 500,  # outer iterations of taskmet (the authors' release config)
    "batchsize": 50,  # training instances per outer task-loss batch (taskmet) and per DFL step
    "implicit_batchsize": 10,  # instances in the optimality condition of the implicit step (0 = all)
    "implicit_solver": "normal_cg",  # normal_cg | cg | exact
    "cg_iters": 5,  # CG iterations of the implicit solve
    "cg_ridge": 1e-5,  # ridge ρ of the implicit solve
    "mse_iters": 20,  # outer iterations of mse (each inner_iters(_init) Adam steps under A = I)
    "dfl_iters": 200,  # Adam steps of dfl, each on a batch of batchsize instances
    "dfl_lr": 0.1,  # Adam learning rate of θ in dfl
    "dfl_mse_weight": 1.0,  # weight of the MSE term in the dfl loss (the authors' dflalpha = 1)
    "lodl_samples": 64,  # lodl: noisy predictions per training instance for its local loss (LODL's n_samples)
    "lodl_noise": 0.1,  # lodl: their noise std, as a fraction of the targets' std
    "valfreq": 10,  # validate every valfreq iterations (and at the last)
    "patience": 0,  # stop after this many iterations without a better validation score (0 = never)
    "select_by": None,  # task_loss | dq | mse; None: mse for mse, task_loss for dfl and taskmet
    "n_random": 10,  # draws of U(0,1) predictions for the validation DQ's random baseline
    "checkpoint_every": 10,  # checkpoint every this many iterations (0 = off)
}


@dataclass
class TrainResult:
    """A trained run: the best-validation predictor (and metric), the validation curve, the best iteration."""

    method: str
    predictor_state: dict[str, Tensor]
    metric_state: dict[str, Tensor] | None
    curve: list[dict[str, float]]
    best_iteration: int
    predictor: nn.Module
    metric: nn.Module | None


def build_predictor(task: Task, splits: Mapping[str, Split], config: Mapping) -> nn.Module:
    """f_θ for this task's features (p) and outputs (d)."""
    cfg = {**DEFAULTS, **config}
    p = int(splits["train"].x.shape[-1])
    return make_predictor(p, task.output_dim, cfg["predictor_hidden"], cfg["predictor_out_activation"])


def build_metric(task: Task, splits: Mapping[str, Split], config: Mapping) -> MetricNet:
    """A_φ for this task's features (p) and outputs (d)."""
    cfg = {**DEFAULTS, **config}
    return MetricNet(int(splits["train"].x.shape[-1]), task.output_dim, cfg["metric_hidden"])


class _Run:
    """Everything one training run holds: data, models as flat parameters, optimizers, curve, best."""

    def __init__(self, task: Task, splits: Mapping[str, Split], method: str, cfg: Mapping, seed: int):
        torch.manual_seed(int(seed))
        self.task, self.cfg, self.method = task, cfg, method
        self.train_split, self.val_split = splits["train"], splits["val"]
        self.predictor = build_predictor(task, splits, cfg)
        self.pred = FlatParams(self.predictor)
        self.theta = self.pred.flatten().requires_grad_(True)  # (P,) the optimizer's leaf
        lr = cfg["dfl_lr"] if method == "dfl" else cfg["pred_lr"]
        self.opt_theta = torch.optim.Adam([self.theta], lr=lr)
        self.metric: MetricNet | None = None
        self.opt_phi: torch.optim.Optimizer | None = None
        self.lodl_A: Tensor | None = None  # lodl's fixed diag(w_n) per training instance (I, n, d, d)
        if method == "lodl":
            self.lodl_A = lodl_metric(task, self.train_split, int(cfg["lodl_samples"]), float(cfg["lodl_noise"]))
        if method == "taskmet":
            self.metric = build_metric(task, splits, cfg)
            self.metric_params = FlatParams(self.metric)
            self.opt_phi = torch.optim.Adam(self.metric.parameters(), lr=cfg["metric_lr"])
        self.val_dq = DQBaselines(task, self.val_split, int(cfg["n_random"]), seed=int(seed))
        self.curve: list[dict[str, float]] = []
        self.best: dict[str, Any] = {"score": math.inf, "iteration": -1}

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds besides the RNG state."""
        state = {
            "theta": self.theta.detach().clone(),
            "opt_theta": self.opt_theta.state_dict(),
            "curve": list(self.curve),
            "best": dict(self.best),
        }
        if self.metric is not None:
            state["metric"] = self.metric.state_dict()
            state["opt_phi"] = self.opt_phi.state_dict()
        return state

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        with torch.no_grad():
            self.theta.copy_(state["theta"])
        self.opt_theta.load_state_dict(state["opt_theta"])
        self.curve = [dict(row) for row in state["curve"]]
        self.best = dict(state["best"])
        if self.metric is not None:
            self.metric.load_state_dict(state["metric"])
            self.opt_phi.load_state_dict(state["opt_phi"])

    def phi(self) -> Tensor:
        """The metric's current parameters φ (Q,)."""
        return self.metric_params.flatten()


def _inner_steps(cfg: Mapping, iteration: int) -> int:
    return int(cfg["inner_iters_init"] if iteration == 0 else cfg["inner_iters"])


def _fit_under_metric(run: _Run, iteration: int, A_train: Tensor | None) -> tuple[int, float]:
    """Inner step: warm-started Adam on L_pred(θ, φ) with φ fixed (A_train (I, n, d, d) or None = I)."""
    train, cfg = run.train_split, run.cfg

    def batch_loss(theta: Tensor, idx: Tensor) -> Tensor:
        A = None if A_train is None else A_train[idx]
        return metric_loss(run.pred(theta, train.x[idx]), train.y[idx], A)

    return fit_inner(
        run.theta,
        run.opt_theta,
        batch_loss,
        train.n_instances,
        _inner_steps(cfg, iteration),
        int(cfg["prediction_batchsize"]),
        float(cfg["clip_norm"]),
        float(cfg["inner_grad_tol"]),
    )


def _taskmet_iteration(run: _Run, iteration: int) -> tuple[Tensor, dict[str, float]]:
    """Inner fit, outer task loss and the metric's implicit hypergradient (Q,) at the fitted θ*."""
    train, cfg, n_train = run.train_split, run.cfg, run.train_split.n_instances
    phi = run.phi()
    with torch.no_grad():
        A_train = run.metric_params(phi, train.x)  # (I, n, d, d)
    steps, inner_value = _fit_under_metric(run, iteration, A_train)
    theta_star = run.theta.detach().clone()  # (P,)
    batch = index_split(train, torch.randperm(n_train)[: int(cfg["batchsize"])])
    theta_req = theta_star.clone().requires_grad_(True)
    outer = relaxed_task_loss(run.task, run.pred(theta_req, batch.x), batch.y, batch.aux)
    outer_grad = torch.autograd.grad(outer, theta_req)[0]  # ∇_θ L_task(θ*) (P,)
    n_implicit = int(cfg["implicit_batchsize"]) or n_train
    implicit = index_split(train, torch.randperm(n_train)[:n_implicit])

    def inner_loss(theta: Tensor, phi_: Tensor) -> Tensor:
        return metric_loss(run.pred(theta, implicit.x), implicit.y, run.metric_params(phi_, implicit.x))

    hyper = implicit_hypergradient(
        inner_loss, outer_grad, theta_star, phi, cfg["implicit_solver"], int(cfg["cg_iters"]), float(cfg["cg_ridge"])
    )
    stats = {
        "train_task_loss": float(outer.detach()),
        "inner_loss": inner_value,
        "inner_steps": float(steps),
        "hypergrad_norm": float(hyper.norm()),
        "metric_scale": float(run.metric.log_scale.detach().exp()),
    }
    return hyper, stats


def _metric_step(run: _Run, hyper: Tensor) -> None:
    """One Adam step of φ along the hypergradient; a non-finite one is skipped (the authors' NaN guard)."""
    if not bool(torch.isfinite(hyper).all()):
        log.warning("non-finite hypergradient: metric step skipped")
        return
    for param, grad in zip(run.metric.parameters(), run.metric_params.unflatten(hyper).values(), strict=True):
        param.grad = grad.detach().clone()
    run.opt_phi.step()
    run.opt_phi.zero_grad(set_to_none=True)


def _dfl_iteration(run: _Run) -> dict[str, float]:
    """One Adam step of θ on −g(z(f_θ(x)), y) + w · MSE over a training batch (DFL, LODL's baseline)."""
    cfg, train = run.cfg, run.train_split
    batch = index_split(train, torch.randperm(train.n_instances)[: int(cfg["batchsize"])])
    run.opt_theta.zero_grad(set_to_none=True)
    y_hat = run.pred(run.theta, batch.x)
    task_loss = relaxed_task_loss(run.task, y_hat, batch.y, batch.aux)
    loss = task_loss + float(cfg["dfl_mse_weight"]) * mse(y_hat, batch.y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([run.theta], float(cfg["clip_norm"]))
    run.opt_theta.step()
    return {"train_task_loss": float(task_loss.detach()), "train_loss": float(loss.detach())}


def _validate(run: _Run) -> dict[str, float]:
    """Relaxed task loss, normalized hard DQ and MSE of the current θ on the validation split."""
    val = run.val_split
    with torch.no_grad():
        y_hat = run.pred(run.theta.detach(), val.x)  # (I, n, d)
        task_loss = float(relaxed_task_loss(run.task, y_hat, val.y, val.aux))
        dq = run.val_dq.normalized(hard_objectives(run.task, y_hat, val.y, val.aux))
    return {"val_task_loss": task_loss, "val_dq": dq, "val_mse": float(mse(y_hat, val.y))}


def _selection_score(row: Mapping[str, float], select_by: str) -> float:
    """Lower is better: the validation task loss, −DQ or the MSE."""
    return {"task_loss": row["val_task_loss"], "dq": -row["val_dq"], "mse": row["val_mse"]}[select_by]


def _record(run: _Run, iteration: int, stats: dict[str, float], select_by: str) -> None:
    """Validate, append a curve row, and keep (θ, φ) when the validation score is the best so far."""
    row = {"iteration": float(iteration), **stats, **_validate(run)}
    run.curve.append(row)
    score = _selection_score(row, select_by)
    if score < run.best["score"]:
        run.best = {"score": score, "iteration": iteration, "theta": run.theta.detach().clone()}
        if run.metric is not None:
            run.best["metric"] = {k: v.clone() for k, v in run.metric.state_dict().items()}


def _iteration_count(cfg: Mapping, method: str) -> int:
    return int(cfg[{"mse": "mse_iters", "lodl": "mse_iters", "dfl": "dfl_iters", "taskmet": "outer_iters"}[method]])


def _one_iteration(run: _Run, iteration: int) -> tuple[dict[str, float], Callable[[], None]]:
    """Run iteration ``iteration`` of the method up to validation: its statistics and what follows validation."""
    if run.method == "taskmet":
        hyper, stats = _taskmet_iteration(run, iteration)
        return stats, lambda: _metric_step(run, hyper)
    if run.method == "dfl":
        return _dfl_iteration(run), lambda: None
    steps, loss = _fit_under_metric(run, iteration, run.lodl_A)  # mse: A = I; lodl: its local weights
    return {
        "train_mse_loss" if run.lodl_A is None else "train_lodl_loss": loss,
        "inner_steps": float(steps),
    }, lambda: None


def train(
    task: Task,
    splits: Mapping[str, Split],
    method: str,
    config: Mapping,
    seed: int,
    checkpoint_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``method`` (mse | dfl | lodl | taskmet) on ``splits["train"]``, select on ``splits["val"]``.

    Config keys (defaults in :data:`DEFAULTS`, each commented there): predictor_hidden,
    predictor_out_activation, pred_lr, prediction_batchsize, clip_norm, inner_grad_tol, inner_iters_init,
    inner_iters, metric_hidden, metric_lr, outer_iters, batchsize, implicit_batchsize, implicit_solver,
    cg_iters, cg_ridge, mse_iters, dfl_iters, dfl_lr, dfl_mse_weight, lodl_samples, lodl_noise, valfreq,
    patience, select_by, n_random, checkpoint_every. Unknown keys are an error. A run killed mid-way and
    restarted with the same arguments resumes from its last checkpoint to the same result; the checkpoints are
    removed at the end.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown taskmet train config keys: {unknown}")
    cfg = {**DEFAULTS, **config}
    select_by = cfg["select_by"] or ("mse" if method == "mse" else "task_loss")
    run = _Run(task, splits, method, cfg, seed)
    train_split = splits["train"]
    fingerprint = {
        "task": task.name,
        "method": method,
        "config": cfg,
        "seed": int(seed),
        "data": data_digest(train_split.x, train_split.y, splits["val"].x, splits["val"].y),
    }
    ckpts = TrainingCheckpoints(checkpoint_dir, fingerprint, int(cfg["checkpoint_every"]))
    ckpt = ckpts.resume()  # restores the RNG state too
    start = 0 if ckpt is None else int(ckpt["step"])
    if ckpt is not None:
        run.load(ckpt)
    total, valfreq, patience = _iteration_count(cfg, method), int(cfg["valfreq"]), int(cfg["patience"])
    for iteration in progress(range(start, total), total=total, desc=f"taskmet {task.name} {method}", logger=log):
        if patience and run.best["iteration"] >= 0 and iteration - run.best["iteration"] > patience:
            break  # early stopping; iterations after it would not change the result
        stats, after_validation = _one_iteration(run, iteration)
        if iteration % valfreq == 0 or iteration == total - 1:
            _record(run, iteration, stats, select_by)
        after_validation()
        if ckpts.due(iteration + 1, total):
            ckpts.save(iteration + 1, run.state())
    result = _result(run)
    ckpts.clear()
    return result


def _result(run: _Run) -> TrainResult:
    """Load the best (θ, φ) into the modules."""
    best = run.best
    run.pred.load_into_module(best["theta"])
    metric_state = None
    if run.metric is not None:
        run.metric.load_state_dict(best["metric"])
        metric_state = {k: v.detach().clone() for k, v in run.metric.state_dict().items()}
    predictor_state = {k: v.detach().clone() for k, v in run.predictor.state_dict().items()}
    return TrainResult(
        run.method, predictor_state, metric_state, run.curve, int(best["iteration"]), run.predictor, run.metric
    )
