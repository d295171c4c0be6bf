"""Predictor f_θ and metric network A_φ(x) = L_φ(x) L_φ(x)ᵀ + e^s I (paper §3.1; the authors' code's
`dense_nn` and `MetricNN`, docs/papers/taskmet.md "Networks")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["make_mlp", "make_predictor", "MetricNet", "OUT_ACTIVATIONS"]

OUT_ACTIVATIONS: dict[str, type[nn.Module] | None] = {
    "none": None,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}


def make_mlp(p: int, out: int, hidden: Sequence[int]) -> nn.Sequential:
    """Linear(p → h₁) → ReLU → … → Linear(h_last → out); ``hidden=[]`` is a single Linear."""
    widths = [p, *hidden]
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(w_in, w_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], out))
    return nn.Sequential(*layers)


def make_predictor(p: int, d: int, hidden: Sequence[int], out_activation: str = "none") -> nn.Sequential:
    """The predictor f_θ: (..., p) features -> (..., d) predictions, applied per item (LODL's `dense_nn`)."""
    if out_activation not in OUT_ACTIVATIONS:
        raise ValueError(f"out_activation must be one of {sorted(OUT_ACTIVATIONS)}, got {out_activation!r}")
    net = make_mlp(p, d, hidden)
    act = OUT_ACTIVATIONS[out_activation]
    if act is not None:
        net.append(act())
    return net


class MetricNet(nn.Module):
    """A_φ(x) = L_φ(x) L_φ(x)ᵀ + e^s I, positive definite with λ_min ≥ e^s (paper eq. 6; authors' `MetricNN`).

    L_φ is an MLP from the item's features to a d × d matrix; s is a learned scalar initialised at 0.
    """

    def __init__(self, p: int, d: int, hidden: Sequence[int]):
        super().__init__()
        self.p, self.d = int(p), int(d)
        self.net = make_mlp(self.p, self.d * self.d, hidden)
        self.log_scale = nn.Parameter(torch.zeros(()))  # s

    def factor(self, x: Tensor) -> Tensor:
        """L_φ(x): (..., p) -> (..., d, d)."""
        return self.net(x).unflatten(-1, (self.d, self.d))

    def forward(self, x: Tensor) -> Tensor:
        """A_φ(x): (..., p) -> (..., d, d)."""
        L = self.factor(x)  # (..., d, d)
        eye = torch.eye(self.d, dtype=L.dtype, device=L.device)
        return L @ L.transpose(-1, -2) + self.log_scale.exp() * eye
