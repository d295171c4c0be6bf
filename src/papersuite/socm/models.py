"""Networks of SOCM (docs/papers/socm.md, "Method"): the ∇V network and the reparameterisation matrices M_t(s).

FullyConnectedUNet applies a ReLU to the last up-layer's output (the d-dimensional branch before the input
skip is added), as the original code does; ``output_relu=False`` leaves it linear (docs/papers/socm.md,
"Differences from the original code, settled"). The flag travels in the state_dict (a bool buffer), so a
saved network reloads as trained.

Departure from the original code (docs/papers/socm.md, "Deviations"):
- SigmoidMLP: ∂_s M is obtained by forward-mode differentiation (the tangent in s pushed through
  the MLP by hand; 3x faster on CPU than torch.func.jvp, which the tests use as the check) instead
  of the original's functorch.jacrev of a summed output; the values agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["FullyConnectedUNet", "SigmoidMLP", "control_from_network", "identity_M"]


def _scale_linear_layers(module: nn.Module, scaling_factor: float) -> None:
    """Multiply every Linear weight and bias by scaling_factor (original code's init)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(scaling_factor)
                m.bias.mul_(scaling_factor)


class FullyConnectedUNet(nn.Module):
    """∇V_θ(t, x): MLP U-Net on (t, x) ∈ R^{d+1} with linear skips (the original code's architecture).

    down: (d+1) → h0 → h1 → h2 (Linear+ReLU each); up: h2 → h1 (ReLU) + Linear(h1→h1) of the h1 skip,
    h1 → h0 (ReLU) + Linear(h0→h0) of the h0 skip, h0 → d (+ ReLU if output_relu, the original's default) +
    Linear(d+1→d) of the raw input. All weights and biases multiplied by scaling_factor.
    """

    def __init__(
        self, d: int, hdims: Sequence[int] = (256, 128, 64), scaling_factor: float = 1.0, output_relu: bool = True
    ) -> None:
        super().__init__()
        if len(hdims) != 3:
            raise ValueError(f"FullyConnectedUNet needs three hidden widths, got {list(hdims)}")
        h0, h1, h2 = (int(h) for h in hdims)
        self.d = d
        self.register_buffer("output_relu_flag", torch.tensor(bool(output_relu)))  # in the state_dict
        self._output_relu = bool(output_relu)
        self.register_load_state_dict_post_hook(self._sync_output_relu)
        self.down_0 = nn.Linear(d + 1, h0)
        self.down_1 = nn.Linear(h0, h1)
        self.down_2 = nn.Linear(h1, h2)
        self.res_0 = nn.Linear(d + 1, d)
        self.res_1 = nn.Linear(h0, h0)
        self.res_2 = nn.Linear(h1, h1)
        self.up_2 = nn.Linear(h2, h1)
        self.up_1 = nn.Linear(h1, h0)
        self.up_0 = nn.Linear(h0, d)
        _scale_linear_layers(self, scaling_factor)

    @property
    def output_relu(self) -> bool:
        """Whether up_0's output goes through a ReLU; saved with the weights as the bool buffer 'output_relu_flag'
        (read once per load, so the per-step code tests a Python bool)."""
        return self._output_relu

    def _sync_output_relu(self, *_: object) -> None:
        self._output_relu = bool(self.output_relu_flag)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        """t broadcastable to x[..., 0] (scalar, (K,) with x (K, B, d), or x.shape[:-1]); x (..., d) -> (..., d)."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 1 and x.dim() == 3:
            t = t[:, None]
        tx = torch.cat([t.expand(x.shape[:-1]).unsqueeze(-1), x], dim=-1)  # (..., d+1)
        # Layers are applied functionally: at tiny widths the per-module call overhead is a
        # sizeable share of the time of the Euler–Maruyama loop.
        r1 = torch.relu(_apply(self.down_0, tx))
        r2 = torch.relu(_apply(self.down_1, r1))
        r3 = torch.relu(_apply(self.down_2, r2))
        out2 = torch.relu(_apply(self.up_2, r3)) + _apply(self.res_2, r2)
        out1 = torch.relu(_apply(self.up_1, out2)) + _apply(self.res_1, r1)
        out0 = _apply(self.up_0, out1)
        if self.output_relu:
            out0 = torch.relu(out0)
        return out0 + _apply(self.res_0, tx)

    def stepper(self, batch: int) -> Callable[[Tensor, Tensor], Tensor]:
        """forward(t, x) for a scalar t and x (batch, d), without autograd, for the Euler–Maruyama loop.

        The same operations in the same order as forward, so the same numbers bit for bit; only the
        per-call overhead is gone (the layers' tensors bound once, the (t, x) input written into one
        reused buffer, ReLU and the skip additions in place). Not for use under autograd.
        """
        lin, relu = torch.nn.functional.linear, torch.relu_
        w_d0, b_d0 = self.down_0.weight, self.down_0.bias
        w_d1, b_d1 = self.down_1.weight, self.down_1.bias
        w_d2, b_d2 = self.down_2.weight, self.down_2.bias
        w_r0, b_r0 = self.res_0.weight, self.res_0.bias
        w_r1, b_r1 = self.res_1.weight, self.res_1.bias
        w_r2, b_r2 = self.res_2.weight, self.res_2.bias
        w_u2, b_u2 = self.up_2.weight, self.up_2.bias
        w_u1, b_u1 = self.up_1.weight, self.up_1.bias
        w_u0, b_u0 = self.up_0.weight, self.up_0.bias
        output_relu = self.output_relu
        tx = w_d0.new_empty((batch, self.d + 1))

        def step(t: Tensor, x: Tensor) -> Tensor:
            tx[:, 0] = t
            tx[:, 1:] = x
            r1 = relu(lin(tx, w_d0, b_d0))
            r2 = relu(lin(r1, w_d1, b_d1))
            r3 = relu(lin(r2, w_d2, b_d2))
            out2 = relu(lin(r3, w_u2, b_u2)).add_(lin(r2, w_r2, b_r2))
            out1 = relu(lin(out2, w_u1, b_u1)).add_(lin(r1, w_r1, b_r1))
            out0 = lin(out1, w_u0, b_u0)
            if output_relu:
                out0 = relu(out0)
            return out0.add_(lin(tx, w_r0, b_r0))

        return step


def _apply(layer: nn.Linear, x: Tensor) -> Tensor:
    return torch.nn.functional.linear(x, layer.weight, layer.bias)


def control_from_network(nabla_v: Tensor, sigma: Tensor) -> Tensor:
    """u = −σᵀ ∇V, (..., d) -> (..., d)."""
    return -nabla_v @ sigma


class SigmoidMLP(nn.Module):
    """M_t(s) = e^{−γ(s−t)} I + (1 − e^{−γ(s−t)}) M̃_ω(t, s), so M_t(t) = I for any ω, γ, as the paper's
    Theorem 1 requires.

    M̃_ω: MLP (t, s) → h0 → ReLU → h1 → ReLU → d², weights scaled by scaling_factor; γ is a learned scalar.
    """

    def __init__(
        self, d: int, hdims: Sequence[int] = (128, 128), gamma0: float = 2.0, scaling_factor: float = 0.1
    ) -> None:
        super().__init__()
        h0, h1 = (int(h) for h in hdims)
        self.d = d
        self.layers = nn.Sequential(nn.Linear(2, h0), nn.ReLU(), nn.Linear(h0, h1), nn.ReLU(), nn.Linear(h1, d * d))
        _scale_linear_layers(self.layers, scaling_factor)
        self.gamma = nn.Parameter(torch.tensor(float(gamma0)))

    def forward(self, t: Tensor, s: Tensor) -> Tensor:
        """t, s (P,) -> M_t(s) (P, d, d)."""
        m_tilde = self.layers(torch.stack([t, s], dim=-1)).reshape(-1, self.d, self.d)
        decay = torch.exp(-self.gamma * (s - t))[:, None, None]
        eye = torch.eye(self.d, dtype=s.dtype, device=s.device)
        return decay * eye + (1.0 - decay) * m_tilde

    def with_s_derivative(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """(M_t(s), ∂_s M_t(s)), each (P, d, d), by forward-mode differentiation in s (tangent ds = 1).

        ∂_s M = −γ e^{−γ(s−t)} (I − M̃) + (1 − e^{−γ(s−t)}) ∂_s M̃, with ∂_s M̃ from the ReLU MLP's tangent.
        """
        lin1, lin2, lin3 = self.layers[0], self.layers[2], self.layers[4]
        z1 = lin1(torch.stack([t, s], dim=-1))  # (P, h0)
        h1 = torch.relu(z1)
        dh1 = (z1 > 0).to(z1.dtype) * lin1.weight[:, 1]  # ∂z1/∂s = W1[:, 1]
        z2 = lin2(h1)  # (P, h1)
        h2 = torch.relu(z2)
        dh2 = (z2 > 0).to(z2.dtype) * (dh1 @ lin2.weight.T)
        m_tilde = lin3(h2).reshape(-1, self.d, self.d)
        dm_tilde = (dh2 @ lin3.weight.T).reshape(-1, self.d, self.d)
        decay = torch.exp(-self.gamma * (s - t))[:, None, None]
        eye = torch.eye(self.d, dtype=s.dtype, device=s.device)
        M = decay * eye + (1.0 - decay) * m_tilde
        dM = -self.gamma * decay * (eye - m_tilde) + (1.0 - decay) * dm_tilde
        return M, dM

    def with_s_derivative_autodiff(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """The same pair via torch.func.jvp (slower; used to check with_s_derivative)."""
        return torch.func.jvp(lambda s_: self(t, s_), (s,), (torch.ones_like(s),))


def identity_M(t: Tensor, s: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """M ≡ I and ∂_s M = 0 (the SOCM_const_M ablation), each (P, d, d)."""
    eye = torch.eye(d, dtype=s.dtype, device=s.device).expand(s.shape[0], d, d)
    return eye, torch.zeros_like(eye)
