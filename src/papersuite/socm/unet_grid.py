"""The ∇V network on the whole simulation grid, computed once: during the no-grad simulation, with its backward.

Every loss but the adjoint one regresses u_θ(t_k, X_k) on all N+1 grid points of the simulated paths
(docs/papers/socm.md, "Methods"), and the simulation has just evaluated the same network at the same points
(t_k, X_k), k < N, to draw the paths. UNetGridRecord keeps the activations of those evaluations, written by
the stepper into one buffer per layer (E, N+1, B, width) for the E members of a stacked ensemble (ensemble.py)
instead of freed, and adds the terminal point; UNetGrid then returns the recorded outputs as a differentiable
tensor whose backward is the one autograd computes for StackedUNet.forward on the grid: per member, the folded
(K·B)-row BaddbmmBackward0 (grad·W, (inputᵀ·grad)ᵀ, row sums; the member-major buffers make its (E, K·B, width)
operands views, not copies), ReluBackward0 (threshold_backward on the ReLU's output) and the two-term sums of the
skip connections. So the grid forward pass, a third of a SOCM iteration's arithmetic at tiny widths, is not
run a second time.

The per-step products are those of the grid's (K·B)-row product row by row on the BLAS used here, up to float
rounding (see the test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .ensemble import StackedUNet

__all__ = ["UNetGrid", "UNetGridRecord"]

_threshold_backward = torch.ops.aten.threshold_backward.default


class UNetGridRecord:
    """Buffers (E, K, B, ·) of every activation of a StackedUNet at K grid points, filled one point per step.

    One record serves every iteration of a training run (reset() before each simulation): its buffers and
    their per-point views are made once, so a step costs what the plain stepper costs."""

    def __init__(self, net: StackedUNet, n_points: int, batch: int) -> None:
        h0, h1, h2 = net.hdims
        e = net.members
        new = net.down_0_weight.new_empty
        self.net, self.n_points, self.batch, self.filled = net, n_points, batch, 0
        # member-major (E, K, B, width): the backward's per-member (K·B)-row operands are views of these buffers
        # (a (K, E, B, width) layout cost a copy of every activation per iteration, 4 ms of a 25 ms iteration
        # of quadratic OU easy, E = 3); a step writes its (E, B, width) slot b[:, k]
        self.tx = new((e, n_points, batch, net.d + 1))
        self.r1, self.s1, self.out1 = (new((e, n_points, batch, h0)) for _ in range(3))
        self.r2, self.s2, self.out2 = (new((e, n_points, batch, h1)) for _ in range(3))
        self.r3 = new((e, n_points, batch, h2))
        self.out0, self.y = new((e, n_points, batch, net.d)), new((e, n_points, batch, net.d))
        self.params = net.params()
        buffers = (self.tx, self.r1, self.r2, self.r3, self.s2, self.out2, self.s1, self.out1, self.out0, self.y)
        self._slots = [tuple(b[:, k] for b in buffers) for k in range(n_points)]
        # F.linear(x, w, b) is baddbmm(b, x, wᵀ) per member: the transposed weights (views, updated with the weights)
        self._wt = tuple(w.transpose(1, 2) for w in self.params[0::2])

    def reset(self) -> UNetGridRecord:
        self.filled = 0
        return self

    def step(self, t: Tensor, x: Tensor) -> Tensor:
        """net.forward(t, x) for a scalar t and x (E, B, d), without autograd, its activations kept in the next slot."""
        k = self.filled
        if k >= self.n_points:
            raise RuntimeError(f"the grid record holds {self.n_points} points")
        tx, r1, r2, r3, s2, out2, s1, out1, out0, y = self._slots[k]
        wt_d0, wt_d1, wt_d2, wt_r0, wt_r1, wt_r2, wt_u2, wt_u1, wt_u0 = self._wt
        b_d0, b_d1, b_d2, b_r0, b_r1, b_r2, b_u2, b_u1, b_u0 = self.params[1::2]
        baddbmm, add = torch.baddbmm, torch.add
        tx[..., 0] = t
        tx[..., 1:] = x
        baddbmm(b_d0, tx, wt_d0, out=r1).relu_()
        baddbmm(b_d1, r1, wt_d1, out=r2).relu_()
        baddbmm(b_d2, r2, wt_d2, out=r3).relu_()
        baddbmm(b_u2, r3, wt_u2, out=s2).relu_()
        add(s2, baddbmm(b_r2, r2, wt_r2), out=out2)
        baddbmm(b_u1, out2, wt_u1, out=s1).relu_()
        add(s1, baddbmm(b_r1, r1, wt_r1), out=out1)
        baddbmm(b_u0, out1, wt_u0, out=out0)
        if self.net.output_relu:
            out0.relu_()
        self.filled = k + 1
        return add(out0, baddbmm(b_r0, tx, wt_r0), out=y)

    def output(self) -> Tensor:
        """The network on all K recorded points, (K, E, B, d), differentiable in its weights (UNetGrid)."""
        if self.filled != self.n_points:
            raise RuntimeError(f"the grid record holds {self.filled} of {self.n_points} points")
        return UNetGrid.apply(self, *self.params)


class UNetGrid(torch.autograd.Function):
    """The recorded outputs of UNetGridRecord as a function of the network's weights (the inputs, t and X_k,
    are data: the grid's states carry no gradient in these losses)."""

    @staticmethod
    def forward(ctx: Any, record: UNetGridRecord, *params: Tensor) -> Tensor:
        ctx.record = record
        # (K, E, B, d), a contiguous copy: the buffer is refilled by the next simulation
        return record.y.transpose(0, 1).clone(memory_format=torch.contiguous_format)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        rec = ctx.record
        w_d0, w_d1, w_d2, w_r0, w_r1, w_r2, w_u2, w_u1, w_u0 = rec.params[0::2]
        n_members = grad.shape[1]

        def flat(t: Tensor) -> Tensor:  # a buffer (E, K, B, w) -> (E, K·B, w), a view
            return t.reshape(n_members, -1, t.shape[-1])

        def linear_bw(g: Tensor, inp: Tensor, weight: Tensor, need_input: bool = True) -> tuple:
            # per member: the folded (K·B)-row product's backward (grad·W, (inputᵀ·grad)ᵀ, the bias's row sum)
            grad_weight = inp.transpose(1, 2).bmm(g).transpose(1, 2)
            return (g.bmm(weight) if need_input else None), grad_weight, g.sum(1, keepdim=True)

        g = grad.transpose(0, 1).reshape(n_members, -1, grad.shape[-1])  # (K, E, B, d) -> (E, K·B, d)
        tx, r1, r2, r3, s2, out2, s1, out1, out0 = (
            flat(t) for t in (rec.tx, rec.r1, rec.r2, rec.r3, rec.s2, rec.out2, rec.s1, rec.out1, rec.out0)
        )
        g_out0 = _threshold_backward(g, out0, 0) if rec.net.output_relu else g
        g_out1, gw_u0, gb_u0 = linear_bw(g_out0, out1, w_u0)
        _, gw_r0, gb_r0 = linear_bw(g, tx, w_r0, need_input=False)
        g_r1_res, gw_r1, gb_r1 = linear_bw(g_out1, r1, w_r1)
        g_out2, gw_u1, gb_u1 = linear_bw(_threshold_backward(g_out1, s1, 0), out2, w_u1)
        g_r2_res, gw_r2, gb_r2 = linear_bw(g_out2, r2, w_r2)
        g_r3, gw_u2, gb_u2 = linear_bw(_threshold_backward(g_out2, s2, 0), r3, w_u2)
        g_r2_down, gw_d2, gb_d2 = linear_bw(_threshold_backward(g_r3, r3, 0), r2, w_d2)
        g_a1 = _threshold_backward(g_r2_down + g_r2_res, r2, 0)
        g_r1_down, gw_d1, gb_d1 = linear_bw(g_a1, r1, w_d1)
        g_a0 = _threshold_backward(g_r1_down + g_r1_res, r1, 0)
        _, gw_d0, gb_d0 = linear_bw(g_a0, tx, w_d0, need_input=False)
        return (
            None,
            *(gw_d0, gb_d0, gw_d1, gb_d1, gw_d2, gb_d2, gw_r0, gb_r0, gw_r1, gb_r1, gw_r2, gb_r2),
            *(gw_u2, gb_u2, gw_u1, gb_u1, gw_u0, gb_u0),
        )
