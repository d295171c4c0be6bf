"""V-trace known answers (docs/papers/oni.md, "Known answers"): n-step returns on-policy, the reference shipped in
the nle wheel for random ratios, and episode ends cutting the bootstrap."""

from __future__ import annotations

import pytest
import torch
from nle.agent import vtrace as reference

from papersuite.oni.vtrace import discounts_from_dones, vtrace_targets

T, B, GAMMA = 7, 4, 0.9


def _rollout(seed: int):
    g = torch.Generator().manual_seed(seed)
    rewards, values = torch.randn(T, B, generator=g), torch.randn(T, B, generator=g)
    return rewards, values, torch.randn(B, generator=g), torch.randn(T, B, generator=g)


def test_on_policy_without_dones_gives_bootstrapped_n_step_returns():
    rewards, values, bootstrap, _ = _rollout(0)
    discounts = torch.full((T, B), GAMMA)
    vs, _ = vtrace_targets(torch.zeros(T, B), discounts, rewards, values, bootstrap)
    for s in range(T):
        n_step = sum(GAMMA ** (t - s) * rewards[t] for t in range(s, T)) + GAMMA ** (T - s) * bootstrap
        torch.testing.assert_close(vs[s], n_step)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ratios_and_dones_match_the_reference_in_the_nle_wheel(seed):
    rewards, values, bootstrap, log_rhos = _rollout(seed)
    dones = torch.rand(T, B, generator=torch.Generator().manual_seed(seed)) < 0.2
    discounts = discounts_from_dones(dones, GAMMA)
    vs, advantages = vtrace_targets(log_rhos, discounts, rewards, values, bootstrap)
    expected = reference.from_importance_weights(log_rhos, discounts, rewards, values, bootstrap)
    torch.testing.assert_close(vs, expected.vs)
    torch.testing.assert_close(advantages, expected.pg_advantages)


def test_an_episode_end_cuts_the_bootstrap():
    rewards, values, bootstrap, log_rhos = _rollout(4)
    dones = torch.zeros(T, B, dtype=torch.bool)
    dones[3] = True  # the episode ends at step 3 in every column
    discounts = discounts_from_dones(dones, GAMMA)
    vs, _ = vtrace_targets(log_rhos, discounts, rewards, values, bootstrap)
    vs_other, _ = vtrace_targets(
        log_rhos, discounts, rewards, values.clone().index_fill_(0, torch.tensor([5]), 9.0), bootstrap * 5
    )
    torch.testing.assert_close(vs[:4], vs_other[:4])  # nothing after the end reaches steps 0..3
    assert not torch.allclose(vs[4:], vs_other[4:])
