"""The trivial baselines' identities and the ICNN / CellOT baseline (docs/papers/mfm.md, "Baselines")."""

from __future__ import annotations

import pytest
import torch

from papersuite.mfm.baselines import ideal_shift, identity, train_mean_shift, train_target_mean
from papersuite.mfm.icnn import ICNN, icnn_transport, train_icnn
from papersuite.mfm.metrics import w2
from papersuite.mfm.populations import Population
from papersuite.mfm.toy import recentring_populations


def test_trivial_baselines():
    train = recentring_populations(5, 40, seed=0)
    pop = recentring_populations(1, 40, seed=1)[0]
    torch.testing.assert_close(identity(pop), pop.source)
    mean = train_target_mean(train)
    torch.testing.assert_close(mean, torch.cat([p.target for p in train]).mean(0))
    shifted = train_mean_shift(pop, mean)
    torch.testing.assert_close(shifted.mean(0), mean)
    torch.testing.assert_close(shifted - shifted.mean(0), pop.source - pop.source.mean(0))  # shape unchanged
    ideal = ideal_shift(pop)
    torch.testing.assert_close(ideal.mean(0), pop.target.mean(0))
    # the re-centring toy is a pure shift: the ideal shift is exact, the identity is off by ‖mean(p0)‖
    assert w2(ideal, pop.target) == pytest.approx(0.0, abs=1e-6)
    assert w2(identity(pop), pop.target) == pytest.approx(pop.source.mean(0).norm().item(), rel=1e-5)


def test_icnn_is_convex_along_segments():
    torch.manual_seed(0)
    f = ICNN(3, [16, 16], init_high=0.1)
    x, y = torch.randn(50, 3), torch.randn(50, 3)
    for s in torch.linspace(0, 1, 7):
        assert (s * f(x) + (1 - s) * f(y) - f(s * x + (1 - s) * y) >= -1e-6).all()


def test_icnn_learns_a_gaussian_transport():
    """N(0, I) → N(c, 0.5² I), c = (1.5, −1): the OT map x ↦ 0.5x + c. Measured after 600 steps (3.3 CPU-s):
    test W2 0.180 against 1.840 for the identity (the 300-vs-300-sample noise floor is about 0.1)."""
    gen = torch.Generator().manual_seed(0)
    c = torch.tensor([1.5, -1.0])

    def pop(n: int) -> Population:
        return Population(torch.randn(n, 2, generator=gen), torch.randn(n, 2, generator=gen) * 0.5 + c)

    train = [pop(200) for _ in range(8)]
    params = {"steps": 600, "n_inner": 5, "n_points": 128, "lr": 1e-3, "hidden": [32, 32]}
    g, losses = train_icnn(train, params, seed=0)
    test = pop(300)
    assert len(losses) == 600
    assert w2(icnn_transport(g, test), test.target) < 0.3
    assert w2(icnn_transport(g, test), test.target) < 0.2 * w2(test.source, test.target)


def test_icnn_killed_run_resumes_bit_identically(tmp_path, monkeypatch):
    """A run stopped in its 6th step (checkpoints every 2) and rerun ends with the weights and losses of an
    uninterrupted run."""
    import papersuite.mfm.icnn as icnn_module

    pops = recentring_populations(4, 30, seed=0)
    params = {"hidden": [8, 8], "steps": 8, "n_inner": 2, "n_points": 16, "lr": 1e-3, "ckpt_every": 2}
    whole, whole_losses = train_icnn(pops, params, seed=1)
    real, calls = icnn_module.sample_batch, []

    def dies_at_sixth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(icnn_module, "sample_batch", dies_at_sixth)
    with pytest.raises(KeyboardInterrupt):
        train_icnn(pops, params, seed=1, ckpt_dir=tmp_path)
    monkeypatch.setattr(icnn_module, "sample_batch", real)
    resumed, resumed_losses = train_icnn(pops, params, seed=1, ckpt_dir=tmp_path)
    assert resumed_losses == whole_losses
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
