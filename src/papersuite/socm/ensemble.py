"""Several seeds of one (setting, method) as one stacked ensemble (docs/papers/socm.md, "Jobs and ensembles").

Member e of each network here is the single network of seed e (models.py), its weights stacked along a leading
member dimension E, so that one batched product (bmm/baddbmm) replaces E products of the same size: at tiny
widths a training step is bound by per-call overhead, not arithmetic. Ensemble states are (..., E, B, d): the
member dimension sits just before the paths' batch dimension, so the problems' (..., d) functions, the SDE and
the losses treat it as one more batch dimension, and every reduction over paths stays per member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .models import FullyConnectedUNet, SigmoidMLP
from .warm_start import GaussianPathWarmStart

__all__ = ["UNET_LAYERS", "StackedUNet", "StackedSigmoidMLP", "MemberWarmStarts", "members_first", "members_back"]

UNET_LAYERS = ("down_0", "down_1", "down_2", "res_0", "res_1", "res_2", "up_2", "up_1", "up_0")
_M_LAYERS = ("layers.0", "layers.2", "layers.4")


def members_first(x: Tensor) -> Tensor:
    """(..., E, B, w) -> (E, (...)·B, w): the member dimension first, the rest of the batch folded."""
    e, w = x.shape[-3], x.shape[-1]
    return x.movedim(-3, 0).reshape(e, -1, w)


def members_back(y: Tensor, like: Tensor) -> Tensor:
    """The inverse of members_first: (E, (...)·B, w) -> (..., E, B, w) with the leading shape of `like`."""
    lead = like.shape[:-3]
    return y.reshape(y.shape[0], *lead, like.shape[-2], y.shape[-1]).movedim(0, -3)


def _stacked(tensors: Sequence[Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone())


class StackedUNet(nn.Module):
    """E FullyConnectedUNets (the ∇V networks of E seeds): weights (E, out, in), biases (E, 1, out)."""

    def __init__(self, members: Sequence[FullyConnectedUNet]) -> None:
        super().__init__()
        if not members or len({m.output_relu for m in members}) != 1:
            raise ValueError("a StackedUNet needs at least one member and one output_relu for all")
        self.d, self.members, self.output_relu = members[0].d, len(members), members[0].output_relu
        self.hdims = [members[0].down_0.out_features, members[0].down_1.out_features, members[0].down_2.out_features]
        for name in UNET_LAYERS:
            self.register_parameter(f"{name}_weight", _stacked([getattr(m, name).weight for m in members]))
            self.register_parameter(f"{name}_bias", _stacked([getattr(m, name).bias[None] for m in members]))

    def params(self) -> tuple[Tensor, ...]:
        """(weight, bias) of every layer in UNET_LAYERS order: 18 tensors."""
        return tuple(getattr(self, f"{name}_{kind}") for name in UNET_LAYERS for kind in ("weight", "bias"))

    def member_state_dict(self, e: int) -> dict[str, Tensor]:
        """Member e as a FullyConnectedUNet state_dict (what evaluate loads)."""
        state = {"output_relu_flag": torch.tensor(bool(self.output_relu))}
        for name in UNET_LAYERS:
            state[f"{name}.weight"] = getattr(self, f"{name}_weight")[e].detach().clone()
            state[f"{name}.bias"] = getattr(self, f"{name}_bias")[e, 0].detach().clone()
        return state

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        """∇V of every member: t scalar or (K,) with x (K, E, B, d); x (..., E, B, d) -> (..., E, B, d)."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 1 and x.dim() == 4:
            t = t[:, None, None]
        tx = members_first(torch.cat([t.expand(x.shape[:-1]).unsqueeze(-1), x], dim=-1))  # (E, R, d+1)
        (w_d0, b_d0, w_d1, b_d1, w_d2, b_d2, w_r0, b_r0, w_r1, b_r1, w_r2, b_r2, w_u2, b_u2, w_u1, b_u1, w_u0, b_u0) = (
            self.params()
        )

        def lin(inp: Tensor, w: Tensor, b: Tensor) -> Tensor:
            return torch.baddbmm(b, inp, w.transpose(1, 2))

        r1 = torch.relu(lin(tx, w_d0, b_d0))
        r2 = torch.relu(lin(r1, w_d1, b_d1))
        r3 = torch.relu(lin(r2, w_d2, b_d2))
        out2 = torch.relu(lin(r3, w_u2, b_u2)) + lin(r2, w_r2, b_r2)
        out1 = torch.relu(lin(out2, w_u1, b_u1)) + lin(r1, w_r1, b_r1)
        out0 = lin(out1, w_u0, b_u0)
        if self.output_relu:
            out0 = torch.relu(out0)
        return members_back(out0 + lin(tx, w_r0, b_r0), x)

    def stepper(self, batch: int) -> Callable[[Tensor, Tensor], Tensor]:
        """forward(t, x) for a scalar t and x (E, batch, d), without autograd: the record's step (unet_grid) on
        one reused set of buffers, so the same numbers as a recording simulation."""
        from .unet_grid import UNetGridRecord

        record = UNetGridRecord(self, 1, batch)

        def step(t: Tensor, x: Tensor) -> Tensor:
            return record.reset().step(t, x)

        return step


class StackedSigmoidMLP(nn.Module):
    """E SigmoidMLPs (M_t(s) of E seeds, paper Sec. 3): weights (E, out, in), biases (E, 1, out), γ (E,)."""

    def __init__(self, members: Sequence[SigmoidMLP]) -> None:
        super().__init__()
        self.d, self.members = members[0].d, len(members)
        self.weights = nn.ParameterList([_stacked([m.layers[i].weight for m in members]) for i in (0, 2, 4)])
        self.biases = nn.ParameterList([_stacked([m.layers[i].bias[None] for m in members]) for i in (0, 2, 4)])
        self.gamma = _stacked([m.gamma for m in members])  # (E,)

    def member_state_dict(self, e: int) -> dict[str, Tensor]:
        """Member e as a SigmoidMLP state_dict."""
        state = {"gamma": self.gamma[e].detach().clone()}
        for name, w, b in zip(_M_LAYERS, self.weights, self.biases):
            state[f"{name}.weight"] = w[e].detach().clone()
            state[f"{name}.bias"] = b[e, 0].detach().clone()
        return state

    def with_s_derivative(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """(M_t(s), ∂_s M_t(s)) of every member, t, s (P,) -> each (E, P, d, d); SigmoidMLP.with_s_derivative."""
        (w1, w2, w3), (b1, b2, b3) = self.weights, self.biases
        e, d = self.members, self.d
        z1 = torch.baddbmm(b1, torch.stack([t, s], dim=-1).expand(e, -1, 2), w1.transpose(1, 2))  # (E, P, h0)
        h1 = torch.relu(z1)
        dh1 = (z1 > 0).to(z1.dtype) * w1[:, None, :, 1]  # ∂z1/∂s = W1[:, 1]
        z2 = torch.baddbmm(b2, h1, w2.transpose(1, 2))  # (E, P, h1)
        h2 = torch.relu(z2)
        dh2 = (z2 > 0).to(z2.dtype) * torch.bmm(dh1, w2.transpose(1, 2))
        m_tilde = torch.baddbmm(b3, h2, w3.transpose(1, 2)).reshape(e, -1, d, d)
        dm_tilde = torch.bmm(dh2, w3.transpose(1, 2)).reshape(e, -1, d, d)
        decay = torch.exp(-self.gamma[:, None] * (s - t)[None])[..., None, None]  # (E, P, 1, 1)
        gamma = self.gamma[:, None, None, None]
        eye = torch.eye(d, dtype=s.dtype, device=s.device)
        M = decay * eye + (1.0 - decay) * m_tilde
        dM = -gamma * decay * (eye - m_tilde) + (1.0 - decay) * dm_tilde
        return M, dM


class MemberWarmStarts:
    """One fitted Gaussian-path warm start per member, applied to its member's slice of (..., E, B, d)."""

    def __init__(self, members: Sequence[GaussianPathWarmStart]) -> None:
        self.members = list(members)

    def tabulate(self, ts: Tensor) -> None:
        for ws in self.members:
            ws.tabulate(ts)

    def control(self, t: Tensor, x: Tensor) -> Tensor:
        """u_ws of every member, x (E, B, d) or (K, E, B, d) -> same shape (GaussianPathWarmStart.control)."""
        return torch.stack([ws.control(t, x.select(-3, e)) for e, ws in enumerate(self.members)], dim=-3)

    def state_dicts(self) -> list[dict[str, Any]]:
        return [ws.state_dict() for ws in self.members]
