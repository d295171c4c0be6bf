"""Every method's loss is finite and differentiable; the EMA of the logged metrics follows the original."""

from __future__ import annotations

import pytest
import torch

from papersuite.socm.losses import METHOD_LABELS, METHODS
from papersuite.socm.models import SigmoidMLP
from papersuite.socm.sde import simulate
from papersuite.socm.train import TRAIN_DEFAULTS, _method_loss, build_learned_control, ema_update
from socm_helpers import DOUBLE_WELL, EASY, LINEAR, problem64


def test_method_keys_and_labels():
    assert METHODS == (
        "SOCM",
        "SOCM_const_M",
        "SOCM_adjoint",
        "adjoint",
        "cross_entropy",
        "log_variance",
        "moment",
        "variance",
    )
    assert set(METHOD_LABELS) == set(METHODS)
    assert METHOD_LABELS["SOCM_const_M"] == "SOCM (M=I)"


@pytest.mark.parametrize("cfg", [EASY, LINEAR, DOUBLE_WELL], ids=["ou_quadratic", "linear_ou", "double_well"])
@pytest.mark.parametrize("method", METHODS)
def test_every_loss_is_finite_and_has_a_gradient(cfg, method):
    n = 50 if cfg["kind"] == "double_well" else 10  # EM is unstable for the stiff double well at Δt = 0.1
    prob = problem64({**cfg, "pde": None}, n)
    torch.manual_seed(0)
    control = build_learned_control(prob, {**TRAIN_DEFAULTS, "hdims": [8, 8, 8]})
    control.net.double()
    M = SigmoidMLP(prob.d, (8, 8)).double() if method == "SOCM" else None
    y0 = torch.zeros((), dtype=torch.float64, requires_grad=True) if method == "moment" else None
    paths = simulate(prob, control, 16, torch.Generator().manual_seed(0), keep_graph=method == "adjoint")
    alpha = paths.log_weight(prob.lam).detach().exp()
    loss, u_theta = _method_loss(method, prob, paths, control, alpha / alpha.mean(), float(alpha.mean()), M, y0)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in control.net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    if M is not None:
        assert M.gamma.grad is not None and torch.isfinite(M.gamma.grad)
        assert sum(float(p.grad.abs().sum()) for p in M.layers.parameters()) > 0
    if y0 is not None:
        assert y0.grad is not None and y0.grad != 0
    if method == "adjoint":
        assert u_theta is None
    else:
        assert u_theta.shape == (n + 1, 16, prob.d)


def test_matching_loss_is_zero_at_its_target():
    """u = w = −σᵀŵ gives zero matching loss, whatever the weights."""
    from papersuite.socm.losses import matching_loss

    target = torch.randn(4, 3, 2)
    sigma = torch.tensor([[1.0, 0.3], [0.0, 2.0]])
    assert matching_loss(-target @ sigma, target, sigma, torch.rand(3)) == 0


def test_ema_update_matches_the_original():
    """Running mean for the first 1/coeff iterations, then an EMA (docs/papers/socm.md, "Training and metrics")."""
    values = [float(v) for v in range(1, 301)]
    ema = None
    for itr, v in enumerate(values):
        ema = ema_update(v, ema, 0.01, itr)
        if itr == 100:
            assert ema == pytest.approx(sum(values[:101]) / 101)
    expected = sum(values[:101]) / 101
    for v in values[101:]:
        expected = 0.01 * v + 0.99 * expected
    assert ema == pytest.approx(expected)


def test_adam_matches_torch_adam_exactly():
    """The package's Adam reproduces torch.optim.Adam (single-tensor path) bit for bit, and resumes."""
    from papersuite.socm.optim import Adam

    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    ours = Adam([{"params": [a.weight], "lr": 1e-2}, {"params": [a.bias], "lr": 3e-3}], eps=1e-4)
    ref = torch.optim.Adam(
        [{"params": [b.weight], "lr": 1e-2}, {"params": [b.bias], "lr": 3e-3}], eps=1e-4, foreach=False
    )
    x = torch.randn(20, 3)
    for i in range(30):
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            net(x * (1 + 0.1 * i)).pow(2).sum().backward()
            opt.step()
        if i == 10:  # a state round trip mid-way changes nothing
            state = ours.state_dict()
            ours = Adam([{"params": [a.weight], "lr": 0.0}, {"params": [a.bias], "lr": 0.0}], eps=1e-4)
            ours.load_state_dict(state)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_adam_matches_torch_adam_on_multi_tensor_groups():
    """Groups of several tensors (one _foreach call per group), one of them without a gradient at some steps:
    still torch.optim.Adam's single-tensor update bit for bit."""
    from papersuite.socm.optim import Adam

    def net() -> torch.nn.Sequential:
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    a, b = net(), net()
    extra_a, extra_b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    ours = Adam([{"params": list(a.parameters()), "lr": 1e-2}, {"params": [extra_a], "lr": 3e-3}], eps=1e-4)
    ref = torch.optim.Adam(
        [{"params": list(b.parameters()), "lr": 1e-2}, {"params": [extra_b], "lr": 3e-3}], eps=1e-4, foreach=False
    )
    x = torch.randn(20, 3)
    for i in range(40):
        for model, extra, opt in ((a, extra_a, ours), (b, extra_b, ref)):
            opt.zero_grad()
            out = model(x * (1 + 0.1 * i))
            if i % 3:  # the extra parameter gets no gradient every third step
                out = out + extra
            out.pow(2).sum().backward()
            if i % 5 == 0:  # nor does the last bias every fifth step
                model[2].bias.grad = None
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(extra_a, extra_b)
