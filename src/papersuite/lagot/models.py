"""Networks of the neural dual (Pooladian et al., UAI 2024, the neural dual; docs/papers/lagot.md, "Method"): the target
potential g (a plain leaky-ReLU MLP with scalar output: not an ICNN, no c-concavity constraint) and the amortized
c-transform argmin, the residual map ŷ_θ(x) = x + MLP(x).

Weights are initialised as the authors' flax `Dense` (LeCun-normal kernels, zero biases), not with torch's default
uniform, so the initial map is x plus a small perturbation of the same size as the original's.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["mlp", "PotentialMLP", "ResidualMap", "lecun_init_"]


def lecun_init_(module: nn.Module) -> nn.Module:
    """LeCun-normal kernels (variance 1/fan_in) and zero biases on every Linear of `module` (flax's Dense init)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=layer.in_features**-0.5)
            nn.init.zeros_(layer.bias)
    return module


def mlp(dim_in: int, hidden: Sequence[int], dim_out: int, negative_slope: float = 0.01) -> nn.Sequential:
    """Linear → leaky-ReLU blocks over `hidden`, then a Linear to `dim_out` (flax `nn.leaky_relu`: slope 0.01)."""
    layers: list[nn.Module] = []
    width = dim_in
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.LeakyReLU(negative_slope)]
        width = int(h)
    layers.append(nn.Linear(width, dim_out))
    return lecun_init_(nn.Sequential(*layers))


class PotentialMLP(nn.Module):
    """Target potential g: (B, D) -> (B,), an unconstrained MLP (the authors' `MLP(is_potential=True)`)."""

    def __init__(self, dim: int, hidden: Sequence[int] = (64, 64, 64, 64)):
        super().__init__()
        self.net = mlp(dim, hidden, 1)

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y).squeeze(-1)  # (B,)


class ResidualMap(nn.Module):
    """Amortized c-transform argmin ŷ_θ(x) = x + MLP(x): (B, D) -> (B, D) (the paper's amortized c-transform)."""

    def __init__(self, dim: int, hidden: Sequence[int] = (64, 64, 64, 64)):
        super().__init__()
        self.net = mlp(dim, hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)  # (B, D)
