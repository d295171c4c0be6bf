"""Networks of the model-based RL agents as flat parameter vectors (TaskMet §5.2 / the authors' OMD CartPole code;
docs/papers/taskmet.md, "RL").

Each network is one flat tensor, so Adam, implicit-function Hessian-vector products and conjugate gradients act on
plain vectors. The authors' architecture: MLPs with two ReLU hidden layers, orthogonal init with gain √2, final layer
orthogonal with scale 1e-2, zero biases. A flat vector may hold E networks of the same shape (the two soft-Q heads),
evaluated together with batched matmuls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MLPShape", "init_mlp", "mlp", "init_metric", "diagonal_metric", "METRIC_KINDS"]

METRIC_KINDS = ("global", "state")


@dataclass(frozen=True)
class MLPShape:
    """Layer widths (in, hidden..., out) of E identical ReLU MLPs stored in one flat vector."""

    sizes: tuple[int, ...]
    ensemble: int = 1

    @property
    def n_per_net(self) -> int:
        return sum(i * o + o for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def n_params(self) -> int:
        return self.ensemble * self.n_per_net


def init_mlp(shape: MLPShape, generator: torch.Generator, final_scale: float = 1e-2, final_bias: float = 0.0) -> Tensor:
    """Flat parameters (E·P,): hidden weights orthogonal with gain √2, last layer orthogonal × final_scale."""
    nets = []
    for _ in range(shape.ensemble):
        parts = []
        n_layers = len(shape.sizes) - 1
        for k, (n_in, n_out) in enumerate(zip(shape.sizes[:-1], shape.sizes[1:], strict=True)):
            last = k == n_layers - 1
            weight = torch.empty(n_out, n_in)
            torch.nn.init.orthogonal_(weight, gain=final_scale if last else math.sqrt(2.0), generator=generator)
            parts += [weight.T.reshape(-1), torch.full((n_out,), final_bias if last else 0.0)]
        nets.append(torch.cat(parts))
    return torch.cat(nets)


def mlp(shape: MLPShape, flat: Tensor, x: Tensor) -> Tensor:
    """Apply the E networks in ``flat`` (E·P,) to x (B, in) or (E, B, in); returns (E, B, out)."""
    params = flat.view(shape.ensemble, shape.n_per_net)  # (E, P)
    h = x.expand(shape.ensemble, *x.shape[-2:]) if x.dim() == 2 else x  # (E, B, in)
    offset = 0
    n_layers = len(shape.sizes) - 1
    for k, (n_in, n_out) in enumerate(zip(shape.sizes[:-1], shape.sizes[1:], strict=True)):
        weight = params[:, offset : offset + n_in * n_out].view(-1, n_in, n_out)  # (E, in, out)
        offset += n_in * n_out
        bias = params[:, offset : offset + n_out].unsqueeze(1)  # (E, 1, out)
        offset += n_out
        h = torch.baddbmm(bias, h, weight)  # (E, B, out)
        if k < n_layers - 1:
            h = F.relu(h)
    return h


def init_metric(kind: str, obs_dim: int, hidden: int, generator: torch.Generator) -> tuple[MLPShape | None, Tensor]:
    """Metric parameters φ: "global" a vector (obs_dim,) of ones (the code's default ``metric_contional=False``);
    "state" a one-hidden-layer MLP s -> (obs_dim,) with final bias 1 (``metric_contional=True``)."""
    if kind == "global":
        return None, torch.ones(obs_dim)
    if kind == "state":
        shape = MLPShape((obs_dim, hidden, obs_dim))
        return shape, init_mlp(shape, generator, final_scale=1e-2, final_bias=1.0)
    raise ValueError(f"metric must be one of {METRIC_KINDS}, got {kind!r}")


def diagonal_metric(shape: MLPShape | None, phi: Tensor, obs: Tensor) -> Tensor:
    """Diagonal of the metric Λ_φ(s), (B, obs_dim): softplus, rescaled so that ‖diag‖₂ = √obs_dim (the code's
    ``normalize``; the uniform metric is then exactly I)."""
    raw = phi.expand(obs.shape[0], -1) if shape is None else mlp(shape, phi, obs)[0]  # (B, n)
    positive = F.softplus(raw)  # (B, n)
    n = positive.shape[-1]
    return positive / positive.norm(dim=-1, keepdim=True) * math.sqrt(n)
