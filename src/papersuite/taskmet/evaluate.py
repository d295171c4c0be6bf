"""Test-time evaluation of a trained predictor (paper §5.1, Table 1): normalized decision quality with the
hard decision, and the prediction MSE, each with its standard error over the test instances."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from papersuite.core.noise import bootstrap_se, mean_se

from .dq import hard_objectives, optimal_objectives, random_objectives, relaxed_task_loss
from .task import Split, Task

__all__ = ["evaluate", "normalized_dq_of_columns"]


def normalized_dq_of_columns(columns: np.ndarray) -> float:
    """Normalized DQ of per-instance (model, random, optimal) DQ columns (I, 3): ratio of instance means."""
    model, rand, opt = columns.mean(axis=0)
    return float((model - rand) / (opt - rand))


def evaluate(task: Task, split: Split, predictor: nn.Module, seed: int, n_random: int = 10) -> dict[str, float]:
    """Metrics of ``predictor`` on ``split``.

    normalized_dq (LODL's normalisation, dq.py) with normalized_dq_se (bootstrap over instances, which keeps
    the model/random/optimal DQ of an instance together); dq, dq_random, dq_optimal (instance means) with
    dq_se; relaxed_dq (the training relaxation's objective); mse (per element) with mse_se over instances;
    n_instances. ``seed`` seeds the random-prediction baseline and the bootstrap.
    """
    with torch.no_grad():
        y_hat = predictor(split.x)  # (I, n, d)
        dq_model = hard_objectives(task, y_hat, split.y, split.aux)  # (I,)
        dq_rand = random_objectives(task, split, n_random, seed)  # (I,)
        dq_opt = optimal_objectives(task, split)  # (I,)
        relaxed = -float(relaxed_task_loss(task, y_hat, split.y, split.aux))
        mse_per_instance = (y_hat - split.y).pow(2).flatten(1).mean(1)  # (I,)
    columns = torch.stack([dq_model, dq_rand, dq_opt], dim=1).double().numpy()  # (I, 3)
    dq, dq_se = mean_se(columns[:, 0])
    mse_value, mse_se = mean_se(mse_per_instance.double().numpy())
    return {
        "normalized_dq": normalized_dq_of_columns(columns),
        "normalized_dq_se": bootstrap_se(normalized_dq_of_columns, columns, n_boot=200, seed=int(seed)),
        "dq": dq,
        "dq_se": dq_se,
        "dq_random": float(columns[:, 1].mean()),
        "dq_optimal": float(columns[:, 2].mean()),
        "relaxed_dq": relaxed,
        "mse": mse_value,
        "mse_se": mse_se,
        "n_instances": float(split.n_instances),
    }
