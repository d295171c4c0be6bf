"""Adam with torch.optim.Adam's numbers and state_dict, without its import cost.

Why not torch.optim.Adam: in torch 2.13 constructing any torch.optim optimizer imports torch._dynamo and
sympy, about 2-3 CPU-seconds of a tiny wfm training job. This class applies torch.optim.Adam's default update
(single-tensor path on CPU: amsgrad=False, weight_decay=0, maximize=False) with torch's _foreach kernels,
the same element-wise operations in the same order, so the same numbers bit for bit (tests/wfm), and reads and
writes torch.optim.Adam's state_dict layout, so checkpoints of either resume in the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["Adam"]


class Adam:
    """Adam (Kingma & Ba 2015) over one parameter group, torch.optim.Adam's defaults (betas 0.9/0.999, eps 1e-8)."""

    def __init__(
        self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.params = list(params)
        self.param_groups = [{"lr": float(lr), "betas": (float(betas[0]), float(betas[1])), "eps": float(eps)}]
        self.step_count = [0] * len(self.params)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (parameters without one are skipped by step, as in torch)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        exp_avg = [self.exp_avg[i] for i in live]
        exp_avg_sq = [self.exp_avg_sq[i] for i in live]
        steps = []
        for i in live:
            self.step_count[i] += 1
            steps.append(float(self.step_count[i]))  # torch keeps the count as a float tensor and reads .item()
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, [(1 - beta2**step) ** 0.5 for step in steps])  # bias_correction2_sqrt
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, exp_avg, denom, [-(group["lr"] / (1 - beta1**step)) for step in steps])

    def state_dict(self) -> dict[str, Any]:
        """torch.optim.Adam's layout: per-parameter step (float32 tensor), exp_avg, exp_avg_sq, and the group."""
        state = {
            i: {
                "step": torch.tensor(float(self.step_count[i])),
                "exp_avg": self.exp_avg[i].clone(),
                "exp_avg_sq": self.exp_avg_sq[i].clone(),
            }
            for i in range(len(self.params))
            if self.step_count[i] > 0
        }
        group = self.param_groups[0]
        return {
            "state": state,
            "param_groups": [
                {
                    "lr": group["lr"],
                    "betas": group["betas"],
                    "eps": group["eps"],
                    "weight_decay": 0,
                    "amsgrad": False,
                    "maximize": False,
                    "foreach": None,
                    "capturable": False,
                    "differentiable": False,
                    "fused": None,
                    "decoupled_weight_decay": False,
                    "params": list(range(len(self.params))),
                }
            ],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state written by state_dict or by torch.optim.Adam over the same parameters."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("optimizer state has a different parameter layout")
        group = self.param_groups[0]
        group["lr"] = float(groups[0]["lr"])
        group["betas"] = (float(groups[0]["betas"][0]), float(groups[0]["betas"][1]))
        group["eps"] = float(groups[0]["eps"])
        for i, key in enumerate(groups[0]["params"]):
            entry = state_dict["state"].get(key)
            if entry is None:
                self.step_count[i] = 0
                self.exp_avg[i].zero_()
                self.exp_avg_sq[i].zero_()
                continue
            self.step_count[i] = int(float(entry["step"]))
            self.exp_avg[i].copy_(entry["exp_avg"])
            self.exp_avg_sq[i].copy_(entry["exp_avg_sq"])
