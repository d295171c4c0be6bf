"""Permutation-equivariant masked transformer F_θ(x_s, s[, label]) for point-cloud WFM
(docs/papers/wfm.md, "Method: point clouds").

Per point: [Dense(x) ‖ time embedding ‖ label embedding] → encoder blocks (multi-head self-attention with a
key-padding mask + residual → LayerNorm → FFN with leaky-ReLU + residual → LayerNorm) → Dense(d) initialised near
zero. Time and label embeddings are per cloud and broadcast to every point. There is no positional encoding, so
permuting the points permutes the output, and padding points (mask False) never influence real points: they are
excluded as keys, and every other operation is per point. Outputs on padding are set to exactly 0 (a padding
point of a cloud never moves).
Paper: width 512, 6 blocks, 4 heads, 512 frequencies, attention dropout 0.1. Tiny: 64, 2 blocks, 4 heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import fourier_time

__all__ = ["PointTransformer", "embedding_width"]


def embedding_width(hidden: int, n_heads: int, conditional: bool) -> int:
    """Token width: `hidden` rounded down to a multiple of 2·heads (3·heads when conditional), so each of the
    2 (3) concatenated parts has a whole number of features per head (authors' code); at least one such multiple."""
    unit = (3 if conditional else 2) * n_heads
    return max(unit, (hidden // unit) * unit)


class _SelfAttention(nn.Module):
    """Multi-head self-attention over the points of a cloud; keys outside `mask` get zero attention weight."""

    def __init__(self, width: int, n_heads: int, dropout: float):
        super().__init__()
        if width % n_heads:
            raise ValueError(f"width {width} is not a multiple of n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        B, N, W = h.shape
        q, k, v = self.qkv(h).view(B, N, 3, self.n_heads, W // self.n_heads).permute(2, 0, 3, 1, 4)  # (B,H,N,W/H)
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(att.transpose(1, 2).reshape(B, N, W))


class _EncoderBlock(nn.Module):
    def __init__(self, width: int, n_heads: int, mlp_hidden: int, dropout: float):
        super().__init__()
        self.attn = _SelfAttention(width, n_heads, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, mlp_hidden), nn.Linear(mlp_hidden, width)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        h = self.norm1(h + self.attn(h, mask))
        return self.norm2(h + self.fc2(F.leaky_relu(self.fc1(h))))


class PointTransformer(nn.Module):
    """Velocity field on padded clouds: (x (B,N,d), s (B,), mask (B,N) bool, labels (B,) long | None) → (B,N,d).

    n_labels > 0 makes it conditional (an embedding per class, one third of the width); labels are then
    required. n_freq Fourier frequencies cos/sin(k·s), k = 0..n_freq−1, feed a two-layer MLP."""

    def __init__(
        self,
        d: int,
        hidden: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        n_freq: int = 16,
        n_labels: int = 0,
        mlp_hidden: int | None = None,
        dropout: float = 0.0,
        head_init: float = 1e-3,
    ):
        super().__init__()
        self.d, self.n_freq, self.n_labels = d, n_freq, n_labels
        width = embedding_width(hidden, n_heads, n_labels > 0)
        part = width // (3 if n_labels > 0 else 2)
        self.width = width
        self.embed_x = nn.Linear(d, part)
        self.embed_t = nn.Sequential(nn.Linear(2 * n_freq, part), nn.LeakyReLU(), nn.Linear(part, part))
        self.embed_label = nn.Embedding(n_labels, part) if n_labels > 0 else None
        self.blocks = nn.ModuleList(
            _EncoderBlock(width, n_heads, mlp_hidden or width, dropout) for _ in range(n_layers)
        )
        self.head = nn.Linear(width, d)
        # near-zero head (the JAX code: variance scaling 1e-5): the untrained field barely moves the noise
        nn.init.normal_(self.head.weight, std=head_init)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor, s: Tensor, mask: Tensor, labels: Tensor | None = None) -> Tensor:
        B, N, _ = x.shape
        mask = mask.bool()
        parts = [self.embed_x(x), self.embed_t(fourier_time(s.to(x.dtype), self.n_freq)).unsqueeze(1).expand(B, N, -1)]
        if self.embed_label is not None:
            if labels is None:
                raise ValueError(f"this field is conditional on {self.n_labels} labels; pass labels (B,)")
            parts.append(self.embed_label(labels.long()).unsqueeze(1).expand(B, N, -1))
        elif labels is not None:
            raise ValueError("labels given to an unconditional field (n_labels=0)")
        h = torch.cat(parts, dim=-1)  # (B, N, width)
        for block in self.blocks:
            h = block(h, mask)
        return self.head(h) * mask.unsqueeze(-1)
