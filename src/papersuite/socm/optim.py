"""A minimal Adam with per-group learning rates, arithmetically identical to torch.optim.Adam.

Why not torch.optim.Adam: in torch 2.13 constructing any torch.optim optimizer imports torch._dynamo
(and sympy), about 1 s per training job at one CPU thread, a sizeable share of a tiny SOCM run.
This class reproduces the non-fused, non-foreach torch.optim.Adam update (amsgrad=False,
weight_decay=0) exactly (see the test), applied with torch's _foreach kernels, and keeps a
weights_only-safe state for checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["Adam"]


class Adam:
    """Adam (Kingma & Ba 2015) over parameter groups [{"params": [...], "lr": float}, ...]."""

    def __init__(
        self, groups: Iterable[Mapping[str, Any]], eps: float = 1e-8, betas: tuple[float, float] = (0.9, 0.999)
    ):
        self.param_groups = [{"params": list(g["params"]), "lr": float(g["lr"])} for g in groups]
        self.eps = float(eps)
        self.betas = (float(betas[0]), float(betas[1]))
        self.step_count: list[list[int]] = [[0] * len(g["params"]) for g in self.param_groups]
        self.exp_avg: list[list[Tensor]] = [[torch.zeros_like(p) for p in g["params"]] for g in self.param_groups]
        self.exp_avg_sq: list[list[Tensor]] = [[torch.zeros_like(p) for p in g["params"]] for g in self.param_groups]

    def zero_grad(self) -> None:
        """Drop the gradients (parameters without a gradient are skipped by step, as in torch)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient.

        The per-parameter update of torch.optim.Adam's single-tensor path, applied to each group's tensors
        at once by torch's _foreach kernels: the same element-wise operations in the same order, so the
        same numbers bit for bit (see the test), with a few kernel calls per group instead of six per tensor.
        """
        beta1, beta2 = self.betas
        for gi, group in enumerate(self.param_groups):
            live = [pi for pi, p in enumerate(group["params"]) if p.grad is not None]
            if not live:
                continue
            params = [group["params"][pi] for pi in live]
            grads = [p.grad for p in params]
            exp_avg = [self.exp_avg[gi][pi] for pi in live]
            exp_avg_sq = [self.exp_avg_sq[gi][pi] for pi in live]
            steps = []
            for pi in live:
                self.step_count[gi][pi] += 1
                steps.append(self.step_count[gi][pi])
            torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sq, beta2)
            torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
            denom = torch._foreach_sqrt(exp_avg_sq)
            torch._foreach_div_(denom, [(1 - beta2**step) ** 0.5 for step in steps])  # bias_correction2_sqrt
            torch._foreach_add_(denom, self.eps)
            step_sizes = [-(group["lr"] / (1 - beta1**step)) for step in steps]  # −lr / bias_correction1
            torch._foreach_addcdiv_(params, exp_avg, denom, step_sizes)

    def state_dict(self) -> dict[str, Any]:
        """Tensors, ints and floats only (torch.load(weights_only=True) safe)."""
        return {
            "lr": [g["lr"] for g in self.param_groups],
            "step": [list(s) for s in self.step_count],
            "exp_avg": [[t.clone() for t in ts] for ts in self.exp_avg],
            "exp_avg_sq": [[t.clone() for t in ts] for ts in self.exp_avg_sq],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from state_dict (same parameter layout)."""
        if len(state["lr"]) != len(self.param_groups):
            raise ValueError("optimizer state has a different number of parameter groups")
        for gi, group in enumerate(self.param_groups):
            group["lr"] = float(state["lr"][gi])
            self.step_count[gi] = [int(s) for s in state["step"][gi]]
            for pi in range(len(group["params"])):
                self.exp_avg[gi][pi].copy_(state["exp_avg"][gi][pi])
                self.exp_avg_sq[gi][pi].copy_(state["exp_avg_sq"][gi][pi])
