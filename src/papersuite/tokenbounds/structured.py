"""Structured linear layers whose few parameters are what gets coded (Lotfi et al., NeurIPS 2024, Section 5
"Monarch" and "Kronecker"; docs/papers/tokenbounds.md "Models").

Monarch (Dao et al., ICML 2022): y = P_out B2 P_mid B1 x with block-diagonal B1 (b blocks of in_blk x in_blk) and
B2 (b blocks of out_blk x in_blk) and fixed perfect-shuffle permutations, about 2 n^2 / b parameters for n x n.
Kronecker: y = x (U kron V) with U (n1, m1), V (n2, m2), n1 n2 = d_in, m1 m2 = d_out, n1 m1 + n2 m2 parameters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MonarchLinear", "KroneckerLinear", "divisor_pair", "monarch_multiply"]


def monarch_multiply(x: Tensor, w1: Tensor, w2: Tensor) -> Tensor:
    """Block-diagonal butterfly product (HazyResearch ``blockdiag_butterfly_multiply``).

    x (B, k p), w1 (k, q, p), w2 (l, s, r) with l r = k q; returns (B, s l).
    """
    batch = x.shape[0]
    k, q, p = w1.shape
    l, s, r = w2.shape
    out1 = torch.bmm(x.reshape(batch, k, p).transpose(0, 1), w1.transpose(-1, -2))  # (k, B, q)
    out1 = out1.transpose(0, 1).reshape(batch, r, l).transpose(-1, -2).transpose(0, 1)  # (l, B, r): P_mid
    out2 = torch.bmm(out1, w2.transpose(-1, -2))  # (l, B, s)
    return out2.permute(1, 2, 0).reshape(batch, s * l)  # P_out: output index s_idx * l + l_idx


class MonarchLinear(nn.Module):
    """A Monarch matrix d_in -> d_out with ``nblocks`` blocks (inputs zero-padded, outputs cut to d_out)."""

    def __init__(self, d_in: int, d_out: int, nblocks: int = 4, std: float = 0.02):
        super().__init__()
        self.d_in, self.d_out, self.nblocks = d_in, d_out, nblocks
        self.in_blk = math.ceil(d_in / nblocks)
        self.out_blk = math.ceil(d_out / nblocks)
        # per-block scale so that the product's entries have about the dense init's std (std / sqrt of the fan)
        s1 = 1.0 / math.sqrt(self.in_blk)
        self.w1 = nn.Parameter(torch.randn(nblocks, self.in_blk, self.in_blk) * s1)  # (b, in_blk, in_blk)
        self.w2 = nn.Parameter(torch.randn(nblocks, self.out_blk, self.in_blk) * std)  # (b, out_blk, in_blk)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_in) -> (..., d_out)."""
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.d_in)
        pad = self.nblocks * self.in_blk - self.d_in
        if pad:
            flat = nn.functional.pad(flat, (0, pad))
        y = monarch_multiply(flat, self.w1, self.w2)[:, : self.d_out]
        return y.reshape(*lead, self.d_out)

    def dense(self) -> Tensor:
        """The explicit (d_out, d_in) matrix, so that forward(x) = x @ dense().T."""
        return self.forward(torch.eye(self.d_in, dtype=self.w1.dtype)).T


def divisor_pair(n: int, mode: int = 4) -> tuple[int, int]:
    """The ``mode``-th (0-based, clamped to the last) ascending divisor pair (a <= b, a b = n): 768 -> (6, 128)."""
    pairs = [(a, n // a) for a in range(1, math.isqrt(n) + 1) if n % a == 0]
    return pairs[min(mode, len(pairs) - 1)]


class KroneckerLinear(nn.Module):
    """y = x (U kron V): U (n1, m1), V (n2, m2) with (n1, n2) = divisor_pair(d_in), (m1, m2) = divisor_pair(d_out)."""

    def __init__(self, d_in: int, d_out: int, mode: int = 4, std: float = 0.02):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        n1, n2 = divisor_pair(d_in, mode)
        m1, m2 = divisor_pair(d_out, mode)
        # entries of U kron V are products u v: std(u) std(v) = std keeps the dense init's scale
        self.u = nn.Parameter(torch.randn(n1, m1) * math.sqrt(std))  # (n1, m1)
        self.v = nn.Parameter(torch.randn(n2, m2) * math.sqrt(std))  # (n2, m2)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_in) -> (..., d_out) via (U^T X V) on x reshaped to (n1, n2), never forming the product."""
        lead = x.shape[:-1]
        xr = x.reshape(-1, self.u.shape[0], self.v.shape[0])  # (B, n1, n2)
        y = torch.einsum("bik,ij,kl->bjl", xr, self.u, self.v)  # (B, m1, m2)
        return y.reshape(*lead, self.d_out)

    def dense(self) -> Tensor:
        """The explicit (d_out, d_in) matrix kron(U, V)^T."""
        return torch.kron(self.u, self.v).T
