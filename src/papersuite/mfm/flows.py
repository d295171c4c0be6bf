"""FM, CGFM and MFM: one model family, training with the alternating decoder / GNN optimisation, and inference by
an ODE solve (Atanackovic et al., ICLR 2025, "Meta Flow Matching" and its training algorithm; docs/papers/mfm.md,
"Method").

The condition of the vector field: FM none (or the treatment one-hot), CGFM a one-hot id of the training
population (an unseen population gets the zero vector), MFM the GCN embedding φ(p0) of the source population.
Training uses the global RNGs, seeded from `seed`, so core.checkpoint's RNG state resumes a run bit-identically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest
from papersuite.core.runtime import seed_everything

from .models import PopulationGCN, VectorField
from .populations import Batch, Population, sample_batch

__all__ = ["METHODS", "DEFAULTS", "FlowModel", "flow_matching_loss", "build_flow", "train_flow", "transport"]

log = logging.getLogger("papersuite.mfm.flows")

METHODS = ("fm", "cgfm", "mfm")

# Letters at the paper's scale: decoder 4 × 512, GNN 3 × 64, k = 50, lr 1e-4 for both, 10 populations × 700 points.
DEFAULTS = {
    "method": "mfm",
    "hidden": 512,
    "n_layers": 4,
    "t_dim": 128,
    "n_fourier": 128,
    "fourier_scale": 0.01,
    "gnn_hidden": 64,
    "gnn_layers": 3,
    "k": 50,
    "steps": 1000,
    "n_populations": 10,
    "n_points": 700,
    "lr": 1e-4,
    "gnn_lr": 1e-4,
    "coupling": "paired",
    "n_treatments": 0,
    "ckpt_every": 0,
    "solver": "euler",
    "ode_steps": 50,
    "atol": 1e-4,
    "rtol": 1e-4,
    "chunk": 1024,
}


def _params(params: dict | None) -> dict:
    unknown = set(params or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown MFM flow parameters: {sorted(unknown)}")
    p = {**DEFAULTS, **(params or {})}
    if p["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {p['method']!r}")
    return p


class FlowModel(nn.Module):
    """The vector field v_t(x | c) with the condition c of its method (FM, CGFM or MFM)."""

    def __init__(self, dim: int, extra_dim: int, n_ids: int, p: dict):
        super().__init__()
        self.method, self.n_ids, self.n_treatments = p["method"], n_ids, p["n_treatments"]
        cond_dim = self.n_treatments
        self.gnn = None
        if self.method == "mfm":
            self.gnn = PopulationGCN(dim + extra_dim, p["gnn_hidden"], p["gnn_layers"], p["k"])
            cond_dim += p["gnn_hidden"]
        elif self.method == "cgfm":
            cond_dim += n_ids
        self.field = VectorField(
            dim, cond_dim, p["hidden"], p["n_layers"], p["t_dim"], p["n_fourier"], p["fourier_scale"]
        )

    def condition(self, source: Tensor, extra: Tensor | None, index: Tensor, treatment: Tensor) -> Tensor | None:
        """c (B, C) of B populations from their source points (B, n, D), extras (B, n, c), ids and treatments (B,)."""
        parts = []
        if self.method == "mfm":
            parts.append(self.gnn(source, extra))
        elif self.method == "cgfm":  # an unseen population (id −1 or ≥ n_ids) gets the zero vector
            seen = (index >= 0) & (index < self.n_ids)
            parts.append(F.one_hot(index.clamp(0, self.n_ids - 1), self.n_ids).float() * seen[:, None])
        if self.n_treatments:
            parts.append(F.one_hot(treatment.clamp_min(0), self.n_treatments).float() * (treatment >= 0)[:, None])
        return torch.cat(parts, dim=-1) if parts else None


def flow_matching_loss(v: Tensor, u: Tensor) -> Tensor:
    """‖v‖² − 2⟨v, u⟩ averaged over points: ‖v − u‖² less the constant ‖u‖² (the code's form; same gradient)."""
    return ((v**2).sum(-1) - 2.0 * (v * u).sum(-1)).mean()


def build_flow(populations: list[Population], params: dict | None) -> FlowModel:
    """A FlowModel sized for these training populations (their dimension, extra features and count)."""
    p = _params(params)
    pop = populations[0]
    extra_dim = 0 if pop.source_extra is None else pop.source_extra.shape[-1]
    return FlowModel(pop.source.shape[-1], extra_dim, len(populations), p)


def _batch_loss(model: FlowModel, batch: Batch, train_gnn: bool) -> Tensor:
    """The FM loss on one minibatch; φ with gradients only when train_gnn (the alternating scheme)."""
    with torch.set_grad_enabled(train_gnn or model.method != "mfm"):
        cond = model.condition(batch.source, batch.source_extra, batch.index, batch.treatment)  # (B, C)
    t = torch.rand(batch.x0.shape[:-1]).to(batch.x0.device)  # (B, n): one time per point (drawn on the CPU RNG)
    xt = (1 - t[..., None]) * batch.x0 + t[..., None] * batch.x1
    v = model.field(xt, t, None if cond is None else cond[:, None, :])
    return flow_matching_loss(v, batch.x1 - batch.x0)


def train_flow(
    populations: list[Population],
    params: dict | None,
    seed: int,
    ckpt_dir: str | Path | None = None,
    on_step: Callable[[int], None] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[FlowModel, list[float]]:
    """Train FM / CGFM / MFM on the training populations; returns the model and the per-step losses.

    MFM alternates: even steps update the decoder with φ detached, odd steps recompute φ with gradients and step
    only the GNN. With ckpt_dir and ckpt_every > 0 the run resumes from core.checkpoint files; on_step(step) is
    called after each finished step (a test uses it to stop a run as if it were killed). Minibatches are drawn on
    the CPU RNGs and moved to `device`."""
    p = _params(params)
    seed_everything(seed)
    model = build_flow(populations, p).to(device)
    opt_field = torch.optim.Adam(model.field.parameters(), lr=p["lr"])
    opt_gnn = torch.optim.Adam(model.gnn.parameters(), lr=p["gnn_lr"]) if model.gnn is not None else None
    digest = data_digest(*[t for pop in populations for t in (pop.source, pop.target)])
    run = TrainingCheckpoints(ckpt_dir, {"train": p, "seed": seed, "data": digest}, p["ckpt_every"])
    ckpt = run.resume()
    start, losses = 0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt_field.load_state_dict(ckpt["opt_field"])
        if opt_gnn is not None:
            opt_gnn.load_state_dict(ckpt["opt_gnn"])
        start, losses = int(ckpt["step"]), [float(v) for v in ckpt["losses"].tolist()]
    for step in range(start, p["steps"]):
        train_gnn = opt_gnn is not None and step % 2 == 1
        batch = sample_batch(populations, p["n_populations"], p["n_points"], p["coupling"]).to(device)
        loss = _batch_loss(model, batch, train_gnn)
        opt = opt_gnn if train_gnn else opt_field
        model.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()  # the other optimiser's gradients are discarded at the next zero_grad
        losses.append(loss.item())
        if step % 500 == 0:
            log.info("%s step %d/%d loss %.4f", p["method"], step, p["steps"], losses[-1])
        if run.due(step + 1, p["steps"]):
            state = {"model": model.state_dict(), "opt_field": opt_field.state_dict()}
            if opt_gnn is not None:
                state["opt_gnn"] = opt_gnn.state_dict()
            run.save(step + 1, {**state, "losses": torch.tensor(losses, dtype=torch.float64)})
        if on_step is not None:
            on_step(step + 1)
    return model, losses


@torch.no_grad()
def transport(model: FlowModel, population: Population, params: dict | None = None) -> Tensor:
    """Push the whole source (n0, D) through the learned flow, t: 0 → 1, with φ from the whole source (MFM
    inference); torchdiffeq's fixed-step `euler`/`rk4` (ode_steps) or adaptive `dopri5` (atol, rtol)."""
    from torchdiffeq import odeint

    p = _params(params)
    device = next((t.device for t in model.parameters()), torch.device("cpu"))
    src = population.source.to(device)
    extra = None if population.source_extra is None else population.source_extra[None].to(device)
    ids = torch.tensor([population.index], device=device)
    cond = model.condition(src[None], extra, ids, torch.tensor([population.treatment], device=device))

    def field(t: Tensor, x: Tensor) -> Tensor:
        return model.field(x, t.expand(x.shape[:-1]), cond)

    times = torch.tensor([0.0, 1.0], dtype=src.dtype, device=device)
    if p["solver"] in ("euler", "rk4", "midpoint"):
        options = {"method": p["solver"], "options": {"step_size": 1.0 / p["ode_steps"]}}
    else:
        options = {"method": p["solver"], "atol": p["atol"], "rtol": p["rtol"]}
    chunks = [odeint(field, chunk, times, **options)[-1] for chunk in src.split(p["chunk"])]
    return torch.cat(chunks).cpu()
