"""BW flow matching over Gaussians and the Euclidean-FM baseline: training, sampling, set-level W2
(docs/papers/wfm.md, "Method: Gaussians", "Metrics").

method="bw": McCann interpolant between a noise Gaussian and its paired data Gaussian, Riemannian targets
(ṁ, S_s), tangent loss, sampling with the PSD-preserving exp-map Euler step.
method="euclidean" (the "naive approach" BW-FM is compared with): straight line in (m, Σ), target
(m_y − m_x, Σ_y − Σ_x), loss (‖m̂ − ṁ‖² + ‖Σ̂̇ − Σ̇‖_F²)/d, Euler steps Σ += dt Σ̂̇ that may leave the PSD cone.
Both pair each minibatch of noise and data Gaussians exactly (Hungarian on the BW² cost) and share the
two-tower network. Time s = 0 at noise, 1 at data. Training uses the global RNGs (seeded from `seed`), so
core.checkpoint's RNG state makes an interrupted run resume bit-identically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest, resume_training, save_training
from papersuite.core.noise import rate_se
from papersuite.core.progress import progress
from papersuite.core.runtime import seed_everything

from . import bures as bw
from .data import noise_stats, sample_noise
from .models import TwoTower
from .optim import Adam
from .uncertainty import assignment_w2, set_w2_se

__all__ = [
    "DEFAULTS",
    "METHODS",
    "build_model",
    "flow_targets",
    "train_flow",
    "sample",
    "set_w2",
    "w2_from_cost",
    "evaluate",
]

log = logging.getLogger("papersuite.wfm.train")

METHODS = ("bw", "euclidean")

# Tiny profile; the paper profile overrides embed 512, hidden 1024, n_blocks 6, n_freq 256, lr 1e-4, batch 16.
DEFAULTS = {
    "steps": 1000,
    "batch": 32,
    "lr": 1e-3,
    "decay": 0.97,
    "decay_every": 100,
    "embed": 64,
    "hidden": 128,
    "n_blocks": 2,
    "n_freq": 8,
    "mean_scale": 1.0,
    "df_scale": 5,
    "ckpt_every": 0,
    "sample_steps": 100,
}


def _params(params: dict | None) -> dict:
    unknown = set(params or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown BW-FM parameters: {sorted(unknown)}")
    return {**DEFAULTS, **(params or {})}


def build_model(d: int, params: dict | None = None) -> TwoTower:
    p = _params(params)
    return TwoTower(d, embed=p["embed"], hidden=p["hidden"], n_blocks=p["n_blocks"], n_freq=p["n_freq"])


def flow_targets(
    m_x: Tensor, S_x: Tensor, m_y: Tensor, S_y: Tensor, s: Tensor, method: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Point on the conditional path and its target velocity: (m_s, Σ_s, ṁ, S_s or Σ̇), computed in float64."""
    dtype = m_x.dtype
    args = [t.double() for t in (m_x, S_x, m_y, S_y, s)]
    if method == "bw":
        A, _ = bw.bw_map(*args[:4])
        m_s, S_s = bw.mccann_interpolate(*args, A=A)
        m_dot, S_dot = bw.tangent_target(*args, A=A)
    elif method == "euclidean":
        m_x, S_x, m_y, S_y, s = args
        s1 = s.unsqueeze(-1)
        m_s, S_s = (1 - s1) * m_x + s1 * m_y, (1 - s1.unsqueeze(-1)) * S_x + s1.unsqueeze(-1) * S_y
        m_dot, S_dot = m_y - m_x, S_y - S_x
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return tuple(t.to(dtype) for t in (m_s, S_s, m_dot, S_dot))


def _loss(out: tuple[Tensor, Tensor], m_dot: Tensor, S_dot: Tensor, Sigma: Tensor, method: str) -> Tensor:
    m_hat, S_hat = out
    if method == "bw":
        return bw.tangent_loss(m_hat, S_hat, m_dot, S_dot, Sigma)
    d = m_dot.shape[-1]
    return (((m_hat - m_dot) ** 2).sum(-1) + ((S_hat - S_dot) ** 2).sum((-2, -1))).mean() / d


def train_flow(
    means: Tensor,
    covs: Tensor,
    params: dict | None,
    seed: int,
    method: str = "bw",
    ckpt_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> tuple[TwoTower, dict]:
    """Train BW-FM (method="bw") or the Euclidean baseline on training Gaussians means (n,d), covs (n,d,d).

    Adam, lr·decay^(step // decay_every). Every step: B data Gaussians (without replacement), B noise Gaussians
    (noise from the training data's statistics), Hungarian pairing on BW², s ~ U[0,1], regression on the
    path's velocity. With ckpt_dir and ckpt_every > 0 the run saves/resumes core.checkpoint files. Random draws
    are made on the CPU, so a run's data stream is the same on every device.
    Returns the model (eval mode) and {"losses": [...], "noise_stats": (mean_std, cov_scale), "resumed_from"}."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = _params(params)
    device = torch.device(device)
    means, covs = means.float().to(device), covs.float().to(device)
    n, d = means.shape
    B = min(p["batch"], n)
    stats = noise_stats(means, covs)
    seed_everything(seed)
    model = build_model(d, p).to(device)
    opt = Adam(model.parameters(), lr=p["lr"])  # torch.optim.Adam's numbers (optim.py)
    fingerprint = {"params": p, "method": method, "seed": int(seed), "data": data_digest(means, covs)}
    run = TrainingCheckpoints(ckpt_dir, fingerprint, p["ckpt_every"])
    start, losses = resume_training(run, model, opt)
    model.train()
    for step in progress(range(start, p["steps"]), total=p["steps"] - start, desc=f"wfm {method}-FM", logger=log):
        for group in opt.param_groups:
            group["lr"] = p["lr"] * p["decay"] ** (step // p["decay_every"])
        idx = torch.randperm(n)[:B].to(device)
        m_y, S_y = means[idx], covs[idx]
        m_x, S_x = (
            t.to(device) for t in sample_noise(B, d, *stats, mean_scale=p["mean_scale"], df_scale=p["df_scale"])
        )
        perm = bw.pair_by_assignment(m_y, S_y, m_x, S_x)  # data i <-> noise perm[i]
        m_x, S_x = m_x[perm], S_x[perm]
        s = torch.rand(B).to(device)
        m_s, S_s, m_dot, S_dot = flow_targets(m_x, S_x, m_y, S_y, s, method)
        loss = _loss(model(m_s, S_s, s), m_dot, S_dot, S_s, method)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        save_training(run, step + 1, p["steps"], model, opt, losses)
    model.eval()
    return model, {"losses": losses, "noise_stats": stats, "resumed_from": start}


@torch.no_grad()
def sample(
    model: TwoTower,
    n: int,
    stats: tuple[float, float],
    seed: int,
    method: str = "bw",
    n_steps: int = 100,
    mean_scale: float = 1.0,
    df_scale: int = 5,
) -> dict:
    """Generate n Gaussians from noise (the paper's sampling): Euler on s: 0 → 1 with bures.exp_step (bw) or
    bures.euclidean_step (euclidean, no projection). Returns {"means", "covs", "noise_means", "noise_covs"}."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    m0, S0 = (
        t.to(device) for t in sample_noise(n, model.d, *stats, generator=g, mean_scale=mean_scale, df_scale=df_scale)
    )
    step = bw.exp_step if method == "bw" else bw.euclidean_step
    m1, S1 = bw.integrate(lambda m, S, s: model(m, S, s), m0, S0, n_steps, step=step)
    return {"means": m1, "covs": S1, "noise_means": m0, "noise_covs": S0}


def set_w2(m_a: Tensor, S_a: Tensor, m_b: Tensor, S_b: Tensor) -> float:
    """Set-level W2 (wfm.md "Metrics"): sqrt of the exact OT cost between the uniform measures on two sets of
    Gaussians with BW² ground cost."""
    return w2_from_cost(bw.bw_cost_matrix(m_a.double(), S_a.double(), m_b.double(), S_b.double()).numpy())


def w2_from_cost(C: np.ndarray) -> float:
    """sqrt of the exact OT cost between uniform measures with ground cost C (na, nb). Equal sizes: an assignment
    (exact for uniform weights); otherwise the transport LP (HiGHS)."""
    na, nb = C.shape
    if na == nb:
        return assignment_w2(C)
    from scipy.optimize import linprog
    from scipy.sparse import coo_array, vstack

    rows = coo_array((np.ones(na * nb), (np.repeat(np.arange(na), nb), np.arange(na * nb))), shape=(na, na * nb))
    cols = coo_array((np.ones(na * nb), (np.tile(np.arange(nb), na), np.arange(na * nb))), shape=(nb, na * nb))
    res = linprog(
        C.ravel(),
        A_eq=vstack([rows, cols]),
        b_eq=np.r_[np.full(na, 1 / na), np.full(nb, 1 / nb)],
        bounds=(0, None),
        method="highs",
    )
    if not res.success:
        raise RuntimeError(f"set-level OT failed: {res.message}")
    return float(np.sqrt(max(res.fun, 0.0)))


def evaluate(gen: dict, test_means: Tensor, test_covs: Tensor, seed: int = 0) -> dict:
    """Metrics of a generated set and their standard errors (wfm.md "Noise and verdicts"): set-level W2 of
    generated and of noise to the test set (bootstrap over generated Gaussians, uncertainty.set_w2_se), the
    fraction of generated Σ with a negative eigenvalue (binomial), and the smallest eigenvalue. Non-PSD outputs
    are projected (bures.project_psd) before the W2, which needs PSD matrices."""
    min_eig = bw.min_eigenvalue(gen["covs"].double())  # (n,)
    covs = gen["covs"].double()
    covs = torch.where((min_eig < 0)[:, None, None], bw.project_psd(covs), covs)
    test_means, test_covs = test_means.double(), test_covs.double()
    cost_gen = bw.bw_cost_matrix(gen["means"].double(), covs, test_means, test_covs).numpy()  # (n, n_test)
    cost_noise = bw.bw_cost_matrix(
        gen["noise_means"].double(), gen["noise_covs"].double(), test_means, test_covs
    ).numpy()  # (n, n_test)
    n_bad = int((min_eig < 0).sum())
    non_psd_frac, non_psd_se = rate_se(n_bad, len(min_eig))
    return {
        "w2_gen": w2_from_cost(cost_gen),
        "w2_noise": w2_from_cost(cost_noise),
        "non_psd_frac": non_psd_frac,
        "non_psd_frac_se": non_psd_se,
        "min_eig": float(min_eig.min()),
        **set_w2_se(cost_gen, cost_noise, seed=seed),
    }
