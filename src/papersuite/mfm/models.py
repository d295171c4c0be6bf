"""Networks of MFM (Atanackovic et al., ICLR 2025, "Meta Flow Matching" and its appendix on architectures;
docs/papers/mfm.md, "Method"): the GCN population embedding φ and the residual SELU vector-field decoder.

Decoder input per point: [condition c (broadcast), sinusoidal time embedding, random Fourier features of x, x].
c is φ(p0) for MFM, a one-hot population id for CGFM, a treatment one-hot (organoids) or nothing for FM.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .graph import gcn_propagate, knn_indices

__all__ = ["timestep_embedding", "FourierFeatures", "ResidualSELU", "PopulationGCN", "VectorField"]


def timestep_embedding(t: Tensor, dim: int, max_period: float = 1e4) -> Tensor:
    """Transformer sinusoidal embedding (..., dim) of t (...): [sin tω, cos tω], ω_i = max_period^{-i/(h−1)}."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=t.dtype) / (half - 1))
    args = t.unsqueeze(-1) * freqs  # (..., half)
    emb = torch.cat([args.sin(), args.cos()], dim=-1)
    return F.pad(emb, (0, dim % 2))


class FourierFeatures(nn.Module):
    """Random Fourier features [cos 2π xB, sin 2π xB] (..., 2m) of x (..., D), B ∈ R^{D×m} ~ N(0, scale²), fixed."""

    def __init__(self, dim: int, n_features: int, scale: float):
        super().__init__()
        self.register_buffer("B", torch.randn(dim, n_features) * scale)

    def forward(self, x: Tensor) -> Tensor:
        proj = 2.0 * math.pi * x @ self.B  # (..., m)
        return torch.cat([proj.cos(), proj.sin()], dim=-1)


class ResidualSELU(nn.Module):
    """Linear → SELU, then (L − 1) residual blocks h ← SELU(W h + h), then Linear to dim_out (the code's SkipMLP)."""

    def __init__(self, dim_in: int, dim_out: int, hidden: int, n_layers: int):
        super().__init__()
        self.inp = nn.Linear(dim_in, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(n_layers - 1))
        self.out = nn.Linear(hidden, dim_out)

    def forward(self, z: Tensor) -> Tensor:
        h = F.selu(self.inp(z))
        for block in self.blocks:
            h = F.selu(block(h) + h)
        return self.out(h)


class PopulationGCN(nn.Module):
    """φ(p0): GCN layers on the source's kNN graph (ReLU between layers, none after the last), mean pool, L2 norm.

    Input: points (..., n, d) and optional per-point extra features (..., n, c) (organoids: the cell-type one-hot),
    which are node features but not used to build the graph. Output (..., hidden), unit norm."""

    def __init__(self, dim_in: int, hidden: int, n_layers: int, k: int):
        super().__init__()
        self.k = int(k)
        widths = [dim_in] + [hidden] * n_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        neighbours = knn_indices(x.detach(), self.k)  # (..., n, k): the graph carries no gradient
        h = x if extra is None else torch.cat([x, extra], dim=-1)
        for i, layer in enumerate(self.layers):
            # GCNConv: Â (h W) + b, the bias added after propagation
            h = gcn_propagate(h @ layer.weight.T, neighbours) + layer.bias
            if i < len(self.layers) - 1:
                h = F.relu(h)
        pooled = h.mean(dim=-2)  # (..., hidden)
        return pooled / pooled.norm(dim=-1, keepdim=True)


class VectorField(nn.Module):
    """v_t(x | c): (..., D) from x (..., D), t (...) and a condition c (..., C) broadcast over the points."""

    def __init__(
        self, dim: int, cond_dim: int, hidden: int, n_layers: int, t_dim: int = 128, n_fourier: int = 128, scale=0.01
    ):
        super().__init__()
        self.t_dim, self.cond_dim = t_dim, cond_dim
        self.fourier = FourierFeatures(dim, n_fourier, scale)
        self.net = ResidualSELU(cond_dim + t_dim + 2 * n_fourier + dim, dim, hidden, n_layers)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        parts = [timestep_embedding(t, self.t_dim).expand(*x.shape[:-1], -1), self.fourier(x), x]
        if self.cond_dim:
            parts.insert(0, cond.expand(*x.shape[:-1], -1))
        return self.net(torch.cat(parts, dim=-1))
