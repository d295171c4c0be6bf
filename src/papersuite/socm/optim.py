"""A minimal Adam with per-group learning rates, arithmetically identical to torch.optim.Adam.

Why not torch.optim.Adam: in torch 2.13 constructing any torch.optim optimizer imports torch._dynamo
(and sympy), about 1 s per training job at one CPU thread, a sizeable share of a tiny SOCM run.
This class reproduces the non-fused, non-foreach torch.optim.Adam update (amsgrad=False,
weight_decay=0) exactly (see the test), applied with torch's _foreach kernels, and keeps a
weights_only-safe state for checkpoints.

An ensemble (ensemble.py): with `members=E` every parameter has a leading member dimension E and each member has
its own step count, so the update of member e is the one a separate Adam of member e makes; step(active) moves
only the active members (a member whose loss or gradient is not finite keeps its weights and moments).
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
        self,
        groups: Iterable[Mapping[str, Any]],
        eps: float = 1e-8,
        betas: tuple[float, float] = (0.9, 0.999),
        members: int = 1,
    ):
        self.param_groups = [{"params": list(g["params"]), "lr": float(g["lr"])} for g in groups]
        self.eps = float(eps)
        self.betas = (float(betas[0]), float(betas[1]))
        self.members = int(members)  # > 1: parameters (E, ...), one step count per member
        # step counts per group, parameter and member: [group][param][member]
        self.step_count: list[list[list[int]]] = [[[0] * self.members for _ in g["params"]] for g in self.param_groups]
        self.exp_avg: list[list[Tensor]] = [[torch.zeros_like(p) for p in g["params"]] for g in self.param_groups]
        self.exp_avg_sq: list[list[Tensor]] = [[torch.zeros_like(p) for p in g["params"]] for g in self.param_groups]

    def zero_grad(self) -> None:
        """Drop the gradients (parameters without a gradient are skipped by step, as in torch)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self, active: Tensor | None = None) -> None:
        """One Adam update of every parameter that has a gradient; `active` (E,) bool: the members updated.

        The per-parameter update of torch.optim.Adam's single-tensor path, applied to each group's tensors
        at once by torch's _foreach kernels: the same element-wise operations in the same order, so the
        same numbers bit for bit (see the test), with a few kernel calls per group instead of six per tensor.
        """
        keep = None if active is None or bool(active.all()) else [bool(a) for a in active.tolist()]
        for gi, group in enumerate(self.param_groups):
            live = [pi for pi, p in enumerate(group["params"]) if p.grad is not None]
            if not live:
                continue
            params = [group["params"][pi] for pi in live]
            tensors = (params, [self.exp_avg[gi][pi] for pi in live], [self.exp_avg_sq[gi][pi] for pi in live])
            before = None if keep is None else [[t.clone() for t in ts] for ts in tensors]
            counts = []
            for pi in live:
                count = self.step_count[gi][pi]
                for e in range(self.members):
                    count[e] += 1 if keep is None or keep[e] else 0
                counts.append(count)
            self._update(group["lr"], params, [p.grad for p in params], tensors[1], tensors[2], counts)
            if before is not None:  # inactive members: weights and moments as they were
                mask = torch.tensor(keep, device=params[0].device)
                for now, old in zip(tensors, before):
                    for t, t_old in zip(now, old):
                        t.copy_(torch.where(mask.reshape(-1, *[1] * (t.dim() - 1)), t, t_old))

    def _update(
        self,
        lr: float,
        params: list[Tensor],
        grads: list[Tensor],
        exp_avg: list[Tensor],
        exp_avg_sq: list[Tensor],
        counts: list[list[int]],
    ) -> None:
        """Adam's moments and step; bias corrections per member (a tensor (E, 1, ...)) where counts differ."""
        beta1, beta2 = self.betas
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        if all(len(set(c)) == 1 for c in counts):  # every member at the same step: scalars, torch's exact path
            steps = [c[0] for c in counts]
            torch._foreach_div_(denom, [(1 - beta2**step) ** 0.5 for step in steps])  # bias_correction2_sqrt
            torch._foreach_add_(denom, self.eps)
            step_sizes = [-(lr / (1 - beta1**step)) for step in steps]  # −lr / bias_correction1
            torch._foreach_addcdiv_(params, exp_avg, denom, step_sizes)
            return
        for p, m, den, c in zip(params, exp_avg, denom, counts):
            shape = (-1, *[1] * (p.dim() - 1))
            bc2 = torch.tensor([(1 - beta2**s) ** 0.5 if s else 1.0 for s in c], dtype=p.dtype, device=p.device)
            size = torch.tensor([-(lr / (1 - beta1**s)) if s else 0.0 for s in c], dtype=p.dtype, device=p.device)
            den.div_(bc2.reshape(shape)).add_(self.eps)
            p.addcdiv_(m * size.reshape(shape), den)  # p + (size·m)/den, as addcdiv with a scalar value computes

    def state_dict(self) -> dict[str, Any]:
        """Tensors, ints and floats only (torch.load(weights_only=True) safe)."""
        return {
            "lr": [g["lr"] for g in self.param_groups],
            "step": [[list(c) for c in s] for s in self.step_count],
            "exp_avg": [[t.clone() for t in ts] for ts in self.exp_avg],
            "exp_avg_sq": [[t.clone() for t in ts] for ts in self.exp_avg_sq],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from state_dict (same parameter layout)."""
        if len(state["lr"]) != len(self.param_groups):
            raise ValueError("optimizer state has a different number of parameter groups")
        for gi, group in enumerate(self.param_groups):
            group["lr"] = float(state["lr"][gi])
            self.step_count[gi] = [[int(s) for s in counts] for counts in state["step"][gi]]
            for pi in range(len(group["params"])):
                self.exp_avg[gi][pi].copy_(state["exp_avg"][gi][pi])
                self.exp_avg_sq[gi][pi].copy_(state["exp_avg_sq"][gi][pi])
