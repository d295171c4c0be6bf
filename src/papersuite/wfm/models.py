"""Two-tower network for BW flow matching (the authors' network `separate`; docs/papers/wfm.md,
"Method: Gaussians").

Each tower sees (m, vech Σ, Fourier features of s) through three Dense embeddings, concatenates them and
applies residual blocks (Dense → SiLU(=swish) → Dense, + skip, LayerNorm). The mean tower ends in Dense(d)
(ṁ), the covariance tower in Dense(d(d+1)/2) read as a symmetric matrix (the BW tangent S, or Σ̇ for the
Euclidean baseline). Heads are initialised near zero (scale 1e-3), as in the original code.
Paper size: embed 512, hidden 1024, 6 blocks, 256 frequencies; tiny: embed 64, hidden 128, 2 blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .bures import unvech, vech

__all__ = ["fourier_time", "Tower", "TwoTower"]


def fourier_time(s: Tensor, n_freq: int) -> Tensor:
    """cos/sin(k·s) for integer k = 0..n_freq−1 (the code's time features): (...,) -> (..., 2·n_freq)."""
    k = torch.arange(n_freq, dtype=s.dtype, device=s.device)
    ks = s.unsqueeze(-1) * k
    return torch.cat([torch.cos(ks), torch.sin(ks)], dim=-1)


class _Block(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, h: Tensor) -> Tensor:
        return self.norm(h + self.fc2(nn.functional.silu(self.fc1(h))))


class Tower(nn.Module):
    """One tower: [Dense(m), Dense(vech Σ), Dense(fourier(s))] → residual blocks → Dense(out_dim)."""

    def __init__(
        self, d: int, out_dim: int, embed: int, hidden: int, n_blocks: int, n_freq: int, head_init: float = 1e-3
    ):
        super().__init__()
        self.n_freq = n_freq
        self.emb_m = nn.Linear(d, embed)
        self.emb_c = nn.Linear(d * (d + 1) // 2, embed)
        self.emb_t = nn.Linear(2 * n_freq, embed)
        self.blocks = nn.ModuleList(_Block(3 * embed, hidden) for _ in range(n_blocks))
        self.head = nn.Linear(3 * embed, out_dim)
        nn.init.normal_(self.head.weight, std=head_init)
        nn.init.zeros_(self.head.bias)

    def forward(self, m: Tensor, v: Tensor, s: Tensor) -> Tensor:
        h = torch.cat([self.emb_m(m), self.emb_c(v), self.emb_t(fourier_time(s, self.n_freq))], dim=-1)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


class TwoTower(nn.Module):
    """Field (m (B,d), Σ (B,d,d), s (B,)) -> (ṁ (B,d), symmetric matrix (B,d,d)) (the authors' `separate`)."""

    def __init__(
        self, d: int, embed: int = 64, hidden: int = 128, n_blocks: int = 2, n_freq: int = 8, head_init: float = 1e-3
    ):
        super().__init__()
        self.d = d
        self.mean_tower = Tower(d, d, embed, hidden, n_blocks, n_freq, head_init)
        self.cov_tower = Tower(d, d * (d + 1) // 2, embed, hidden, n_blocks, n_freq, head_init)

    def forward(self, m: Tensor, Sigma: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        v = vech(Sigma)
        return self.mean_tower(m, v, s), unvech(self.cov_tower(m, v, s), self.d)
