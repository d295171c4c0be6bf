"""The learned control u_θ = −σᵀ∇V_θ (+ the warm start) and the initial normalisation constant Ẑ₀.

See docs/papers/socm.md, "Method" and "Training and metrics". The network is one FullyConnectedUNet (evaluation)
or a StackedUNet, the ∇V networks of an ensemble of seeds trained together (training; ensemble.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .ensemble import MemberWarmStarts, StackedUNet
from .models import FullyConnectedUNet, control_from_network
from .problems import ControlProblem
from .sde import simulate
from .unet_grid import UNetGridRecord
from .unet_step import graph_stepper
from .warm_start import GaussianPathWarmStart

__all__ = ["LearnedControl", "build_learned_control", "build_unet", "normalization_constant"]


class LearnedControl:
    """u_θ(t, x) = −σᵀ∇V_θ(t, x) (+ the detached warm-start control), usable for simulation and on grids."""

    def __init__(
        self,
        net: FullyConnectedUNet | StackedUNet,
        problem: ControlProblem,
        warm_start: GaussianPathWarmStart | MemberWarmStarts | None = None,
    ):
        self.net = net
        self.problem = problem
        self.warm_start = warm_start
        self._record: UNetGridRecord | None = None  # reused across iterations (recording_stepper)

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        """t scalar or (K,), x (B, d) or (K, B, d); (E, B, d) or (K, E, B, d) for a StackedUNet -> x's shape."""
        u = control_from_network(self.net(t, x), self.problem.sigma)
        if self.warm_start is not None:
            u = u + self.warm_start.control(t, x)
        return u

    def stepper(self, batch: int) -> Callable[[Tensor, Tensor], Tensor]:
        """This control at a scalar t on x (batch, d), without autograd: the network's stepper (the same
        numbers as __call__, less per-call overhead), for simulations that keep no graph."""
        net_step = self.net.stepper(batch)
        sigma, warm_start = self.problem.sigma, self.warm_start

        def step(t: Tensor, x: Tensor) -> Tensor:
            u = control_from_network(net_step(t, x), sigma)
            if warm_start is not None:
                u = u + warm_start.control(t, x)
            return u

        return step

    def recording_stepper(
        self, n_points: int, batch: int
    ) -> tuple[Callable[[Tensor, Tensor], Tensor], UNetGridRecord | None]:
        """A no-grad stepper (the same numbers as stepper) that keeps a StackedUNet's activations of n_points
        successive calls, for on_grid (unet_grid.py). The record is reused by the next call: its contents are
        valid until the next recording simulation with this control. A single network records nothing."""
        if not isinstance(self.net, StackedUNet):
            return self.stepper(batch), None
        record = self._record
        if record is None or (record.n_points, record.batch) != (n_points, batch):
            record = self._record = UNetGridRecord(self.net, n_points, batch)
        record.reset()
        sigma, warm_start = self.problem.sigma, self.warm_start

        def step(t: Tensor, x: Tensor) -> Tensor:
            u = control_from_network(record.step(t, x), sigma)
            if warm_start is not None:
                u = u + warm_start.control(t, x)
            return u

        return step, record

    def on_grid(self, ts: Tensor, states: Tensor, record: UNetGridRecord | None = None) -> Tensor:
        """u_θ on the grid, (K,) and (K, B, d) -> (K, B, d), differentiable in the network's weights: __call__, or
        from the record of the simulation that drew `states` (the network is then not evaluated again)."""
        if record is None:
            return self(ts, states)
        u = control_from_network(record.output(), self.problem.sigma)
        if self.warm_start is not None:
            u = u + self.warm_start.control(ts, states)
        return u

    def graph_stepper(self) -> Callable[[Tensor, Tensor], Tensor]:
        """This control at a scalar t on x (B, d) with the network as one autograd node (unet_step.UNetStep):
        the same numbers and gradients as __call__, for simulations that keep the graph (the adjoint loss);
        __call__ itself for a single network."""
        if not isinstance(self.net, StackedUNet):
            return self
        net_step = graph_stepper(self.net)
        sigma, warm_start = self.problem.sigma, self.warm_start

        def step(t: Tensor, x: Tensor) -> Tensor:
            u = control_from_network(net_step(t, x), sigma)
            if warm_start is not None:
                u = u + warm_start.control(t, x)
            return u

        return step


def build_unet(problem: ControlProblem, train: Mapping[str, Any]) -> FullyConnectedUNet:
    """A freshly initialised ∇V network (global torch RNG); train['output_relu'] (default True, the original's)
    sets the ReLU on the network's last up-layer."""
    output_relu = bool(train.get("output_relu", True))
    return FullyConnectedUNet(problem.d, train["hdims"], train["scaling_factor_nabla_V"], output_relu).to(
        device=problem.x0.device, dtype=problem.x0.dtype
    )


def build_learned_control(problem: ControlProblem, train: Mapping[str, Any]) -> LearnedControl:
    """A freshly initialised ∇V network (build_unet) wrapped as a control."""
    return LearnedControl(build_unet(problem, train), problem)


def normalization_constant(
    problem: ControlProblem,
    control: LearnedControl,
    batch: int,
    n_batches: int,
    generator: torch.Generator | list[torch.Generator],
) -> Tensor:
    """Ẑ₀ = mean of α over n_batches·batch paths under the initial control (simulated in chunks ≤ 8192 paths):
    float64, () for one generator, (E,) for an ensemble's E generators (one per member)."""
    total, chunks = batch * n_batches, []
    with torch.no_grad():
        while total > 0:
            size = min(total, max(batch, 8192))
            chunks.append(torch.exp(simulate(problem, control, size, generator).log_weight(problem.lam).double()))
            total -= size
    return torch.cat(chunks, dim=-1).mean(-1)
