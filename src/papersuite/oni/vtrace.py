"""V-trace targets and policy-gradient advantages (Espeholt et al. 2018, Eq. 1 and Sec. 4.2), as the APPO learner
of ONI's sample-factory uses them with rho_bar = c_bar = 1 (docs/papers/oni.md, "APPO")."""

from __future__ import annotations

import torch

__all__ = ["vtrace_targets", "discounts_from_dones"]


def discounts_from_dones(dones: torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma * (1 - done_t) (T, B): an episode end at t cuts the bootstrap from t + 1."""
    return gamma * (1.0 - dones.float())


@torch.no_grad()
def vtrace_targets(
    log_rhos: torch.Tensor,
    discounts: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    bootstrap_value: torch.Tensor,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    pg_rho_bar: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(v_s (T, B), pg advantages (T, B)) from log pi/mu (T, B), discounts, rewards, values (T, B), V(x_T) (B,).

    v_s = V(x_s) + sum_{t>=s} (prod_{i<t} gamma_i c_i) delta_t, delta_t = rho_t (r_t + gamma_t V(x_{t+1}) - V(x_t)).
    """
    rhos = log_rhos.exp()
    clipped_rhos, cs = rhos.clamp(max=rho_bar), rhos.clamp(max=c_bar)
    next_values = torch.cat([values[1:], bootstrap_value.unsqueeze(0)])  # V(x_{t+1}) (T, B)
    deltas = clipped_rhos * (rewards + discounts * next_values - values)
    correction = torch.zeros_like(bootstrap_value)  # v_{t+1} - V(x_{t+1}), zero past the horizon
    corrections = torch.empty_like(values)
    for t in reversed(range(values.shape[0])):
        correction = deltas[t] + discounts[t] * cs[t] * correction
        corrections[t] = correction
    vs = values + corrections
    next_vs = torch.cat([vs[1:], bootstrap_value.unsqueeze(0)])
    advantages = rhos.clamp(max=pg_rho_bar) * (rewards + discounts * next_vs - values)
    return vs, advantages
