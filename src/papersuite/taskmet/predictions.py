"""What the figures draw from a trained predictor: its test predictions, and for one-feature, one-output tasks
(cubic) the prediction and the learned metric A(x) on a grid of the feature (the paper's cubic illustration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from papersuite.core.io import atomic_path

from .task import Split

__all__ = ["write_predictions", "GRID_POINTS"]

GRID_POINTS = 201  # feature grid on [−1, 1] for the cubic illustration


@torch.no_grad()
def write_predictions(path: str | Path, split: Split, predictor: nn.Module, metric: nn.Module | None) -> Path:
    """npz with y_hat (I, n, d) and y on ``split``; with one feature and one output also x_grid (G,), y_hat_grid
    (G,) and, for a learned metric, metric_grid (G,) = A(x)."""
    arrays = {"y_hat": predictor(split.x).numpy(), "y": split.y.numpy()}
    if split.x.shape[-1] == 1 and split.y.shape[-1] == 1:
        grid = torch.linspace(-1.0, 1.0, GRID_POINTS, dtype=split.x.dtype)[:, None]  # (G, 1)
        arrays["x_grid"] = grid[:, 0].numpy()
        arrays["y_hat_grid"] = predictor(grid)[:, 0].numpy()
        if metric is not None:
            arrays["metric_grid"] = metric(grid)[:, 0, 0].numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)
