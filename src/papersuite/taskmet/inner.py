"""The inner problem θ*(φ) = argmin_θ L_pred(θ, φ) (paper eq. 3, §4 "Implementation"): the predictor's
parameters as one flat vector, fitted by warm-started Adam on minibatches with grad-norm clipping and a
gradient-norm stop (the authors' code: Adam, clip 1.0, stop at ‖∇θ‖ < 1e-3)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["FlatParams", "fit_inner"]


class FlatParams:
    """A module's parameters as one flat vector θ (P,), so solvers work on plain tensors."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.names = [name for name, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]

    @property
    def numel(self) -> int:
        return sum(self.sizes)

    def flatten(self) -> Tensor:
        """The module's current parameters, concatenated (P,), detached."""
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """θ (P,) -> {name: tensor} views, differentiable in θ."""
        chunks = flat.split(self.sizes)
        return {n: c.view(s) for n, c, s in zip(self.names, chunks, self.shapes, strict=True)}

    def __call__(self, flat: Tensor, x: Tensor) -> Tensor:
        """The module evaluated at parameters θ: f_θ(x)."""
        return functional_call(self.module, self.unflatten(flat), (x,))

    def load_into_module(self, flat: Tensor) -> None:
        """Copy θ into the module's own parameters."""
        with torch.no_grad():
            for p, value in zip(self.module.parameters(), self.unflatten(flat).values(), strict=True):
                p.copy_(value)


def fit_inner(
    theta: Tensor,
    optimizer: torch.optim.Optimizer,
    batch_loss: Callable[[Tensor, Tensor], Tensor],
    n_instances: int,
    n_steps: int,
    batch_size: int,
    clip_norm: float = 1.0,
    grad_tol: float = 1e-3,
) -> tuple[int, float]:
    """Adam steps on θ (a leaf the optimizer owns) for ``batch_loss(θ, idx)`` on random minibatches.

    ``idx`` (batch_size,) indexes the training instances, drawn from the global torch RNG (seeded and
    checkpointed by the caller). Stops after ``n_steps`` or when the minibatch gradient norm falls below
    ``grad_tol``. Returns (steps taken, last minibatch loss).
    """
    loss_value, steps = math.nan, 0
    while steps < n_steps:
        steps += 1
        idx = torch.randperm(n_instances)[:batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = batch_loss(theta, idx)
        loss.backward()
        loss_value = float(loss.detach())
        grad_norm = float(torch.nn.utils.clip_grad_norm_([theta], clip_norm))
        if grad_norm < grad_tol:
            break
        optimizer.step()
    return steps, loss_value
