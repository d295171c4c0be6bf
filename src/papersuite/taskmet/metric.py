"""The metric-weighted prediction loss L_pred(θ, φ) = E[(f_θ(x) − y)ᵀ A_φ(x) (f_θ(x) − y)] (paper eq. 2)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["weighted_sq_error", "metric_loss", "mse"]


def weighted_sq_error(y_hat: Tensor, y: Tensor, A: Tensor | None = None) -> Tensor:
    """Per-item errᵀ A err with err = ŷ − y: (..., d), (..., d), A (..., d, d) -> (...,); A=None is I."""
    err = y_hat - y  # (..., d)
    if A is None:
        return err.pow(2).sum(-1)
    return torch.einsum("...i,...ij,...j->...", err, A, err)


def metric_loss(y_hat: Tensor, y: Tensor, A: Tensor | None = None) -> Tensor:
    """Batch mean over instances and items of errᵀ A err (the authors' code); with A = I it is d · MSE."""
    return weighted_sq_error(y_hat, y, A).mean()


def mse(y_hat: Tensor, y: Tensor) -> Tensor:
    """Per-element mean squared error (the paper's reported MSE)."""
    return (y_hat - y).pow(2).mean()
