"""One Euler–Maruyama step's ∇V-network evaluation as a single autograd node, for the adjoint loss.

The adjoint (relative-entropy) loss backpropagates through every step of the simulated paths
(docs/papers/socm.md, "Methods"). Recorded op by op, each step's StackedUNet call adds about
thirty autograd nodes, and at tiny widths their bookkeeping costs more than their arithmetic. UNetStep
computes the same forward and, in backward, the gradients autograd would compute node by node, with
the same kernels on the same operands, per member of the ensemble (BaddbmmBackward0: grad·W for the input,
gradᵀ·input for the weight, the row sum for the bias; ReluBackward0: threshold_backward on the ReLU's output;
CatBackward0: a slice). Every tensor inside the network feeds at most two layers, so the order in which its
two gradient terms are added cannot change a bit; the weight gradients leave the node once per step, in the
same step order as before. The gradients are autograd's of StackedUNet.forward (see the test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .ensemble import StackedUNet

__all__ = ["UNetStep", "graph_stepper"]

_threshold_backward = torch.ops.aten.threshold_backward.default


def _linear_backward(grad: Tensor, inp: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of baddbmm(bias, inp, weightᵀ) per member, grad (E, B, out), inp (E, B, in), weight (E, out, in):
    (grad·W, (inpᵀ·grad)ᵀ, Σ_rows grad), the weight's as BaddbmmBackward0 forms it (the gradient of Wᵀ)."""
    return grad.bmm(weight), inp.transpose(1, 2).bmm(grad).transpose(1, 2), grad.sum(1, keepdim=True)


class UNetStep(torch.autograd.Function):
    """y = StackedUNet.forward(t, x) for a scalar t and x (E, B, d), differentiable in x and the weights."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, x: Tensor, output_relu: bool, *params: Tensor) -> Tensor:
        relu = torch.relu_  # in place on fresh tensors: the same values

        def lin(inp: Tensor, w: Tensor, b: Tensor) -> Tensor:
            return torch.baddbmm(b, inp, w.transpose(1, 2))

        (w_d0, b_d0, w_d1, b_d1, w_d2, b_d2, w_r0, b_r0, w_r1, b_r1, w_r2, b_r2) = params[:12]
        (w_u2, b_u2, w_u1, b_u1, w_u0, b_u0) = params[12:]
        tx = torch.cat([t.expand(x.shape[:-1]).unsqueeze(-1), x], dim=-1)  # (E, B, d+1)
        r1 = relu(lin(tx, w_d0, b_d0))
        r2 = relu(lin(r1, w_d1, b_d1))
        r3 = relu(lin(r2, w_d2, b_d2))
        s2 = relu(lin(r3, w_u2, b_u2))
        out2 = s2 + lin(r2, w_r2, b_r2)
        s1 = relu(lin(out2, w_u1, b_u1))
        out1 = s1 + lin(r1, w_r1, b_r1)
        out0 = lin(out1, w_u0, b_u0)
        if output_relu:
            out0 = relu(out0)
        # intermediates kept on ctx (never modified later); the weights are not updated before backward
        ctx.output_relu = output_relu
        ctx.activations = (tx, r1, r2, r3, s2, out2, s1, out1, out0)
        ctx.weights = params[0::2]
        return out0 + lin(tx, w_r0, b_r0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        tx, r1, r2, r3, s2, out2, s1, out1, out0 = ctx.activations
        w_d0, w_d1, w_d2, w_r0, w_r1, w_r2, w_u2, w_u1, w_u0 = ctx.weights
        lin_bw, relu_bw = _linear_backward, _threshold_backward
        g_out0 = relu_bw(grad, out0, 0) if ctx.output_relu else grad
        g_out1, gw_u0, gb_u0 = lin_bw(g_out0, out1, w_u0)
        g_tx_res, gw_r0, gb_r0 = lin_bw(grad, tx, w_r0)
        g_r1_res, gw_r1, gb_r1 = lin_bw(g_out1, r1, w_r1)
        g_out2, gw_u1, gb_u1 = lin_bw(relu_bw(g_out1, s1, 0), out2, w_u1)
        g_r2_res, gw_r2, gb_r2 = lin_bw(g_out2, r2, w_r2)
        g_r3, gw_u2, gb_u2 = lin_bw(relu_bw(g_out2, s2, 0), r3, w_u2)
        g_r2_down, gw_d2, gb_d2 = lin_bw(relu_bw(g_r3, r3, 0), r2, w_d2)
        g_r1_down, gw_d1, gb_d1 = lin_bw(relu_bw(g_r2_down + g_r2_res, r2, 0), r1, w_d1)
        g_tx_down, gw_d0, gb_d0 = lin_bw(relu_bw(g_r1_down + g_r1_res, r1, 0), tx, w_d0)
        g_x = (g_tx_down + g_tx_res)[..., 1:] if ctx.needs_input_grad[1] else None
        return (
            None,
            g_x,
            None,
            *(gw_d0, gb_d0, gw_d1, gb_d1, gw_d2, gb_d2, gw_r0, gb_r0, gw_r1, gb_r1, gw_r2, gb_r2),
            *(gw_u2, gb_u2, gw_u1, gb_u1, gw_u0, gb_u0),
        )


def graph_stepper(net: StackedUNet) -> Callable[[Tensor, Tensor], Tensor]:
    """net.forward(t, x) for a scalar t and x (E, B, d) as one UNetStep node (the weights bound once)."""
    params = net.params()
    output_relu = net.output_relu

    def step(t: Tensor, x: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return UNetStep.apply(t, x, output_relu, *params)

    return step
