"""LoRA and training in a random subspace, SubLoRA (Lotfi et al., ICML 2024 "Non-vacuous generalization bounds
for large language models", used as a row of NeurIPS 2024 Table 1; docs/papers/tokenbounds.md "Models").

theta = theta_0 + P w: only w (intrinsic dimension d) is trained and coded; theta_0 and P come from seeds and cost
0 bits. P is the Kronecker product of two Gaussian factors orthonormalised by QR (the authors' "rdkronqr"), applied
as Q1 W Q2^T without forming P.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["LoRALinear", "KroneckerQRProjector", "SubspaceModel"]


class LoRALinear(nn.Module):
    """y = base(x) + (lora_alpha / r) x A^T B^T with the base frozen (Hu et al. 2022); B starts at 0."""

    def __init__(self, base: nn.Module, d_in: int, d_out: int, rank: int = 4, lora_alpha: float = 32.0):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.scale = lora_alpha / rank
        self.lora_a = nn.Parameter(torch.randn(rank, d_in) / math.sqrt(d_in))  # (r, d_in)
        self.lora_b = nn.Parameter(torch.zeros(d_out, rank))  # (d_out, r)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_in) -> (..., d_out)."""
        return self.base(x) + self.scale * (x @ self.lora_a.T) @ self.lora_b.T


class KroneckerQRProjector(nn.Module):
    """P (D, d) = Q1 kron Q2 (cut to D rows), Q1 (D1, d1), Q2 (D2, d2) with orthonormal columns, from ``seed``."""

    def __init__(self, full_dim: int, intrinsic_dim: int, seed: int = 137):
        super().__init__()
        d1 = math.isqrt(intrinsic_dim - 1) + 1 if intrinsic_dim > 1 else 1  # ceil(sqrt(d))
        d2 = math.ceil(intrinsic_dim / d1)
        big1 = max(math.isqrt(full_dim - 1) + 1, d1)  # ceil(sqrt(D)), at least d1
        big2 = max(math.ceil(full_dim / big1), d2)
        gen = torch.Generator().manual_seed(seed)
        q1, _ = torch.linalg.qr(torch.randn(big1, d1, generator=gen))  # (D1, d1)
        q2, _ = torch.linalg.qr(torch.randn(big2, d2, generator=gen))  # (D2, d2)
        self.full_dim, self.intrinsic_dim = full_dim, intrinsic_dim
        self.register_buffer("q1", q1, persistent=False)
        self.register_buffer("q2", q2, persistent=False)

    def forward(self, w: Tensor) -> Tensor:
        """w (d,) -> P w (D,): vec(Q1 W Q2^T) with W = w zero-padded to (d1, d2)."""
        d1, d2 = self.q1.shape[1], self.q2.shape[1]
        wm = nn.functional.pad(w, (0, d1 * d2 - w.numel())).reshape(d1, d2)
        return (self.q1 @ wm @ self.q2.T).reshape(-1)[: self.full_dim]


class SubspaceModel(nn.Module):
    """Wraps a model: its trainable parameters become theta_0 + P w; only w is a parameter (and is coded)."""

    def __init__(self, model: nn.Module, intrinsic_dim: int, seed: int = 137):
        super().__init__()
        self.model = model
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.shapes = [model.get_parameter(n).shape for n in self.names]
        theta0 = torch.cat([model.get_parameter(n).detach().reshape(-1) for n in self.names])  # (D,)
        for n in self.names:
            model.get_parameter(n).requires_grad_(False)
        self.register_buffer("theta0", theta0, persistent=False)
        self.projector = KroneckerQRProjector(theta0.numel(), intrinsic_dim, seed)
        self.w = nn.Parameter(torch.zeros(intrinsic_dim))  # (d,) starts at theta_0

    def parameters_now(self) -> dict[str, Tensor]:
        """The wrapped model's subspace parameters theta_0 + P w, by name."""
        theta = self.theta0 + self.projector(self.w)  # (D,)
        out, start = {}, 0
        for n, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            out[n] = theta[start : start + size].reshape(shape)
            start += size
        return out

    def forward(self, *args, **kwargs):
        """The wrapped model's forward with its parameters replaced by theta_0 + P w."""
        return torch.func.functional_call(self.model, self.parameters_now(), args, kwargs, strict=False)
