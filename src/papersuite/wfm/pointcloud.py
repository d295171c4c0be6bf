"""Point-cloud Wasserstein flow matching: pairing, loss, resumable training, sampling
(docs/papers/wfm.md, "Method: point clouds").

Each training example is a uniform cloud y (padded, weights 1/n on its n real points). Its source x is a noise
cloud with the same mask. The conditional path is the McCann interpolant of the per-pair OT (Monge) map T:
x_s = x + s·(T(x) − x), whose Wasserstein tangent is v = T(x) − x; the network regresses v, and generation
integrates the learned field from noise (s = 0) to data (s = 1), as in train.py.

Pairings (both equal-size, uniform): T(x_i) = y_σ(i) with σ from
  "sinkhorn" — squared-Euclidean cost divided by its max, log-domain Sinkhorn (ε = 0.002, 200 iterations), greedy
              rounding of the plan (the authors' `rounded_matching`, the default);
  "exact"    — the Hungarian assignment (scipy), the ε → 0 limit and the exact Monge map.
Minibatch pairing (unconditional runs only): the B noise clouds are re-assigned to the B data clouds by
rounding an entropic plan (or the exact assignment) on a B×B Chamfer cost. Noise clouds are drawn at all N_max
positions; noise cloud j paired with data cloud i is used on i's mask, so its cost C_ij is the Chamfer distance
between i and *that* restriction of j — what is scored is exactly what is trained on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest, resume_training, save_training
from papersuite.core.progress import progress
from papersuite.core.runtime import seed_everything
from papersuite.core.sinkhorn import greedy_round, log_sinkhorn_plan

from .clouds import noise_clouds, noise_params
from .optim import Adam
from .transformer import PointTransformer

__all__ = [
    "DEFAULTS",
    "PAIRINGS",
    "MINIBATCH_PAIRINGS",
    "SCHEDULES",
    "SOLVERS",
    "sq_dists",
    "match_points",
    "pair_points",
    "chamfer_cost",
    "pair_clouds",
    "couple",
    "flow_path",
    "flow_loss",
    "learning_rate",
    "build_model",
    "train_pointcloud",
    "integrate",
    "sample_pointcloud",
]

log = logging.getLogger("papersuite.wfm.pointcloud")

PAIRINGS = ("sinkhorn", "exact")
MINIBATCH_PAIRINGS = ("sinkhorn", "exact", "none")
SCHEDULES = ("exponential", "warmup_cosine")
SOLVERS = ("euler", "midpoint")

# Tiny profile (digits, 1500 steps, B 32, width 64, 2 blocks, 4 heads, N(0, 0.5²) noise, exact pairing).
# The paper profile overrides: hidden 512, n_layers 6, n_freq 512, dropout 0.1, batch 16 (64 ShapeNet),
# lr 3e-4 warmup_cosine (warmup 5000, end_lr 3e-6) or lr 2e-4 exponential (decay 0.998 per 1000 steps),
# noise chol_normal, pairing/minibatch "sinkhorn".
DEFAULTS = {
    "steps": 1500,
    "batch": 32,
    "lr": 1e-3,
    "schedule": "exponential",
    "decay": 0.97,
    "decay_every": 100,
    "warmup": 0,
    "end_lr": 1e-5,
    "hidden": 64,
    "n_layers": 2,
    "n_heads": 4,
    "n_freq": 16,
    "mlp_hidden": 0,
    "dropout": 0.0,
    "head_init": 1e-3,
    "noise": "normal",
    "noise_std": 0.5,
    "df_scale": 2.0,
    "pairing": "exact",
    "minibatch": "exact",
    "eps": 0.002,
    "sinkhorn_iters": 200,
    "subsample": 0,
    "ckpt_every": 0,
}


def _params(params: dict | None) -> dict:
    unknown = set(params or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown point-cloud WFM parameters: {sorted(unknown)}")
    p = {**DEFAULTS, **(params or {})}
    for key, allowed in (("pairing", PAIRINGS), ("minibatch", MINIBATCH_PAIRINGS), ("schedule", SCHEDULES)):
        if p[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {p[key]!r}")
    return p


# --- per-pair OT map ----------------------------------------------------------------------------------------


def sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances (..., n, m) between x (..., n, d) and y (..., m, d), broadcasting the leading
    dims, via ‖x‖² + ‖y‖² − 2⟨x, y⟩ (no (n, m, d) intermediate: 4× faster on the B×B×N×N Chamfer cost),
    clamped at 0 against rounding."""
    xy = torch.matmul(x, y.transpose(-1, -2))
    return ((x * x).sum(-1).unsqueeze(-1) + (y * y).sum(-1).unsqueeze(-2) - 2 * xy).clamp_min(0.0)


def _assignment(cost: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Hungarian assignment on each cost[b] restricted to mask[b] (rows and columns); padding i ↦ i."""
    from scipy.optimize import linear_sum_assignment

    B, n, _ = cost.shape
    perm = np.tile(np.arange(n), (B, 1))
    for b in range(B):  # scipy has no batched solver; each call is a C routine on ≤ N_max points
        real = np.flatnonzero(mask[b])
        rows, cols = linear_sum_assignment(cost[b][np.ix_(real, real)])
        perm[b, real[rows]] = real[cols]
    return perm


def match_points(
    x: Tensor, y: Tensor, weights: Tensor, method: str = "sinkhorn", eps: float = 0.002, n_iters: int = 200
) -> Tensor:
    """σ (B,N) with T(x_i) = y_σ(i): the rounded entropic plan or the exact assignment between x (B,N,d) and
    y (B,N,d) on their shared mask (weights > 0), squared-Euclidean cost. Padding maps to itself."""
    mask = weights > 0
    cost = sq_dists(x, y)  # (B, N, N)
    if method == "sinkhorn":
        w = weights / weights.sum(-1, keepdim=True)
        return greedy_round(log_sinkhorn_plan(cost, w, w, eps, n_iters, scale="max"), mask)
    if method == "exact":
        perm = _assignment(cost.detach().cpu().double().numpy(), mask.cpu().numpy())
        return torch.from_numpy(perm).to(x.device)
    raise ValueError(f"pairing must be one of {PAIRINGS}, got {method!r}")


def pair_points(
    x: Tensor, y: Tensor, weights: Tensor, method: str = "sinkhorn", eps: float = 0.002, n_iters: int = 200
) -> Tensor:
    """y re-ordered so that point i of the result is T(x_i) (the per-pair Monge map): (B,N,d)."""
    perm = match_points(x, y, weights, method, eps, n_iters)
    return y.gather(1, perm.unsqueeze(-1).expand_as(y))


# --- minibatch pairing of clouds ----------------------------------------------------------------------------


def chamfer_cost(noise: Tensor, data: Tensor, weights: Tensor, chunk_elems: int = 1 << 24) -> Tensor:
    """C (B_data, B_noise): C_ij = Chamfer(noise_j on data i's mask, data_i), squared, two-way, means.

    noise (B_noise, N, d) drawn at every position, data (B_data, N, d), weights (B_data, N) of the data.
    One GEMM per chunk of data clouds (memory below `chunk_elems` distances); positions off data i's mask get
    +inf through the squared norms, so no full-size mask is ever materialised."""
    Bn, N, d = noise.shape
    mask = weights > 0
    w = weights / weights.sum(-1, keepdim=True)
    off = torch.zeros_like(w).masked_fill(~mask, math.inf)  # (B_data, N): +inf on padding
    xx = (noise * noise).sum(-1)  # (Bn, N)
    rows = []
    step = max(1, chunk_elems // max(1, Bn * N * N))
    for start in range(0, data.shape[0], step):
        y, m, o = data[start : start + step], mask[start : start + step], off[start : start + step]
        c = y.shape[0]
        G = (noise.reshape(Bn * N, d) @ y.reshape(c * N, d).T).view(Bn, N, c, N)  # ⟨x_jp, y_iq⟩ as (j, p, i, q)
        yy = (y * y).sum(-1) + o  # (c, N)
        D = (-2 * G).add_(xx[:, :, None, None] + o.T[None, :, :, None]).add_(yy[None, None])  # (j, p, i, q)
        near_data = D.amin(-1).permute(2, 0, 1).masked_fill(~m[:, None, :], 0.0)  # (i, j, p): nearest data pt
        near_noise = D.amin(1).permute(1, 0, 2).masked_fill(~m[:, None, :], 0.0)  # (i, j, q): nearest noise pt
        wc = w[start : start + step].unsqueeze(1)  # (c, 1, N)
        rows.append((near_data * wc).sum(-1) + (near_noise * wc).sum(-1))
    return torch.cat(rows).clamp_min(0.0)


def pair_clouds(cost: Tensor, method: str = "sinkhorn", eps: float = 0.002, n_iters: int = 200) -> Tensor:
    """perm (B,): data cloud i ↔ noise cloud perm[i], from a B×B cost (the minibatch pairing): rounded
    entropic plan (ε after max-scaling, uniform weights) or the exact assignment."""
    B = cost.shape[0]
    if method == "sinkhorn":
        u = torch.full((1, B), 1.0 / B, dtype=cost.dtype, device=cost.device)
        return greedy_round(log_sinkhorn_plan(cost.unsqueeze(0), u, u, eps, n_iters, scale="max"))[0]
    if method == "exact":
        perm = _assignment(cost.detach().cpu().double().numpy()[None], np.ones((1, B), bool))[0]
        return torch.from_numpy(perm).to(cost.device)
    raise ValueError(f"minibatch pairing must be one of ('sinkhorn', 'exact'), got {method!r}")


def couple(
    noise: Tensor,
    data: Tensor,
    weights: Tensor,
    minibatch: str = "sinkhorn",
    pairing: str = "sinkhorn",
    eps: float = 0.002,
    n_iters: int = 200,
) -> tuple[Tensor, Tensor]:
    """One training batch's coupling: noise clouds (B,N,d) drawn at every position are re-assigned to the
    data clouds (B,N,d) by the minibatch pairing (unless "none"), take the data masks, and each data cloud is
    re-ordered by the per-pair matching. Returns (x, T(x)): source clouds and their matched targets."""
    if minibatch != "none":
        noise = noise[pair_clouds(chamfer_cost(noise, data, weights), minibatch, eps, n_iters)]
    x = noise * (weights > 0).unsqueeze(-1)
    return x, pair_points(x, data, weights, pairing, eps, n_iters)


# --- loss ---------------------------------------------------------------------------------------------------


def flow_path(x0: Tensor, x1: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """McCann interpolant and its velocity for matched clouds: x_s = x0 + s·v, v = x1 − x0, s (B,)."""
    v = x1 - x0
    return x0 + s[:, None, None] * v, v


def flow_loss(pred: Tensor, v: Tensor, weights: Tensor) -> Tensor:
    """L = mean over clouds of Σ_i w_i ‖F_i − v_i‖²: a per-cloud mean; padding (w = 0) adds nothing."""
    return (((pred - v) ** 2).sum(-1) * weights).sum(-1).mean()


# --- training -----------------------------------------------------------------------------------------------


def learning_rate(step: int, p: dict) -> float:
    """ "exponential": lr·decay^(step // decay_every) (as train.py; the ICML-era code decays 0.998 per 1000).
    "warmup_cosine" (v1 code): linear from lr/100 to lr over `warmup` steps, then cosine down to end_lr."""
    if p["schedule"] == "exponential":
        return p["lr"] * p["decay"] ** (step // p["decay_every"])
    if step < p["warmup"]:
        return p["lr"] / 100 + (p["lr"] - p["lr"] / 100) * step / p["warmup"]
    frac = (step - p["warmup"]) / max(1, p["steps"] - p["warmup"])
    return p["end_lr"] + 0.5 * (p["lr"] - p["end_lr"]) * (1 + math.cos(math.pi * min(1.0, frac)))


def build_model(d: int, params: dict | None = None, n_labels: int = 0) -> PointTransformer:
    p = _params(params)
    return PointTransformer(
        d,
        hidden=p["hidden"],
        n_layers=p["n_layers"],
        n_heads=p["n_heads"],
        n_freq=p["n_freq"],
        n_labels=n_labels,
        mlp_hidden=p["mlp_hidden"] or None,
        dropout=p["dropout"],
        head_init=p["head_init"],
    )


def _subsample(points: Tensor, weights: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """k random points per cloud (the authors' ShapeNet `shape_sample`); only for clouds without padding."""
    if not bool((weights > 0).all()):
        raise ValueError("subsample needs equal-size clouds without padding")
    idx = torch.rand(points.shape[:2]).argsort(-1)[:, :k].to(points.device)  # (B, k); drawn on the CPU
    return (
        points.gather(1, idx.unsqueeze(-1).expand(-1, -1, points.shape[-1])),
        torch.full(idx.shape, 1.0 / k, device=points.device),
    )


def train_pointcloud(
    points: Tensor,
    weights: Tensor,
    params: dict | None,
    seed: int,
    labels: Tensor | None = None,
    n_labels: int = 0,
    ckpt_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> tuple[PointTransformer, dict]:
    """Train point-cloud WFM on padded clouds points (n,N,d), weights (n,N) [labels (n,) in 0..n_labels−1].

    Every step: B data clouds (without replacement), B noise clouds, minibatch pairing (unconditional only),
    per-pair matching, s ~ U[0,1] per cloud, regression of F(x_s, s[, label]) on v. Adam with the
    `schedule`. With ckpt_dir and ckpt_every > 0 it saves/resumes core.checkpoint files bit-identically.
    Random draws are made on the CPU, so a run's data stream is the same on every device.
    Returns the model (eval mode) and {"losses", "noise" (noise_params), "resumed_from", "train_s", "step_s"}."""
    p = _params(params)
    points, weights = torch.as_tensor(points).float(), torch.as_tensor(weights).float()
    n, N, d = points.shape
    if weights.shape != (n, N):
        raise ValueError(f"weights {tuple(weights.shape)} do not match points {tuple(points.shape)}")
    conditional = labels is not None
    if conditional:
        labels = torch.as_tensor(labels).long()
        if n_labels < 1 or labels.shape != (n,) or int(labels.min()) < 0 or int(labels.max()) >= n_labels:
            raise ValueError(f"labels must be (n,) in 0..n_labels-1 with n_labels >= 1 (n_labels={n_labels})")
    elif n_labels:
        raise ValueError("n_labels > 0 needs labels")
    B = min(p["batch"], n)
    noise = noise_params(p["noise"], p["noise_std"], points, weights, p["df_scale"])
    device = torch.device(device)
    points, weights = points.to(device), weights.to(device)
    if conditional:
        labels = labels.to(device)
    seed_everything(seed)
    model = build_model(d, p, n_labels).to(device)
    opt = Adam(model.parameters(), lr=p["lr"])  # torch.optim.Adam's numbers (optim.py)
    data = (points, weights) if labels is None else (points, weights, labels)
    fingerprint = {"params": p, "seed": int(seed), "n_labels": int(n_labels), "data": data_digest(*data)}
    run = TrainingCheckpoints(ckpt_dir, fingerprint, p["ckpt_every"])
    start, losses = resume_training(run, model, opt)
    minibatch = "none" if conditional else p["minibatch"]
    model.train()
    t0 = time.perf_counter()
    for step in progress(range(start, p["steps"]), total=p["steps"] - start, desc="wfm point clouds", logger=log):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, p)
        idx = torch.randperm(n)[:B].to(device)
        y, w = points[idx], weights[idx]
        if p["subsample"]:
            y, w = _subsample(y, w, p["subsample"])
        x = noise_clouds(torch.ones(w.shape), d, noise).to(device)  # every position; masks applied after pairing
        x, y = couple(x, y, w, minibatch, p["pairing"], p["eps"], p["sinkhorn_iters"])
        s = torch.rand(B).to(device)
        x_s, v = flow_path(x, y, s)
        loss = flow_loss(model(x_s, s, w > 0, labels[idx] if conditional else None), v, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        save_training(run, step + 1, p["steps"], model, opt, losses)
    train_s = time.perf_counter() - t0
    model.eval()
    return model, {
        "losses": losses,
        "noise": noise,
        "resumed_from": start,
        "train_s": train_s,
        "step_s": train_s / max(1, p["steps"] - start),
    }


# --- sampling -----------------------------------------------------------------------------------------------


def integrate(field: Callable[[Tensor, Tensor], Tensor], x0: Tensor, n_steps: int, solver: str = "euler") -> Tensor:
    """Integrate dx/ds = field(x, s) from s = 0 to 1 with n_steps fixed steps: explicit Euler
    (v1 code) or explicit midpoint/RK2 (2025 code). field takes x (B,N,d) and s (B,)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    x, dt = x0, 1.0 / n_steps
    for k in range(n_steps):
        s = torch.full((x.shape[0],), k * dt, dtype=x.dtype, device=x.device)
        if solver == "euler":
            x = x + dt * field(x, s)
        else:
            x = x + dt * field(x + 0.5 * dt * field(x, s), s + 0.5 * dt)
    return x


@torch.no_grad()
def sample_pointcloud(
    model: PointTransformer,
    weights: Tensor,
    seed: int,
    labels: Tensor | None = None,
    n_steps: int = 50,
    solver: str = "euler",
    noise: dict | None = None,
    chunk: int = 512,
) -> dict:
    """Generate clouds with the given masks weights (n, N_max) (sizes drawn from the training masks by the
    caller, clouds.draw_weights): noise from its own seeded generator (`noise` = the training history's
    noise_params), then integrate the learned field. Returns {"points" (n,N,d), "noise" (n,N,d)}; padding is 0."""
    device = next(model.parameters()).device
    weights = torch.as_tensor(weights).float().cpu()
    x0 = noise_clouds(weights, model.d, noise, torch.Generator().manual_seed(seed)).to(device)
    mask = (weights > 0).to(device)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(weights), chunk):  # bounded memory for large sets
        sl = slice(start, start + chunk)
        lab = None if labels is None else torch.as_tensor(labels)[sl].long().to(device)
        out.append(integrate(lambda x, s, m=mask[sl], lab=lab: model(x, s, m, lab), x0[sl], n_steps, solver))
    model.train(was_training)
    return {"points": torch.cat(out) * mask.unsqueeze(-1), "noise": x0}
