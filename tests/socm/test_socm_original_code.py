"""Known answers for the four points where socm now follows the original code (issue #20; docs/papers/socm.md,
"Differences from the original code, settled"): where f is evaluated, the ∇V UNet's output activation, Ẑ's
schedule, and x0 / ξ from torch.manual_seed(0) at full scale; plus the per-iteration timing's interface."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from papersuite.socm.iteration_timing import main as timing_main
from papersuite.socm.learned_control import build_learned_control
from papersuite.socm.losses import log_rn_derivative, relative_entropy_loss
from papersuite.socm.metrics import StepResult, initial_state, update_metrics, update_norm_const
from papersuite.socm.models import FullyConnectedUNet
from papersuite.socm.problems import ControlProblem, make_problem, problem_from_arrays
from papersuite.socm.reference import build_reference
from papersuite.socm.sde import running_cost_sum, simulate
from papersuite.socm.train import TRAIN_DEFAULTS
from socm_helpers import EASY, problem64

CONFIG = Path(__file__).resolve().parents[2] / "config" / "socm.yaml"


def _full_problem(setting: str) -> dict:
    return yaml.safe_load(CONFIG.read_text())["full"]["settings"][setting]["problem"]


def _scalar_ou(point: str, lam: float) -> ControlProblem:
    """d = 1, b = x, f = x², g = 0, x0 = 1, T = 1, N = 2: without noise X = 1, 1.5, 2.25."""
    one = torch.ones(1, 1, dtype=torch.float64)
    return ControlProblem(
        kind="ou_quadratic", d=1, T=1.0, lam=lam, N=2, x0=torch.ones(1, dtype=torch.float64), sigma=one,
        A=one, P=one, Q=0 * one, running_cost_point=point,
    )  # fmt: skip


# ---------------------------------------------------------------- 1. where f is evaluated
def test_running_cost_point_on_a_hand_made_path():
    """States 0, 1, 2 with Δt = ½: Σ f(X_{k+1})Δt = (1 + 4)/2 = 2.5 (original), Σ f(X_k)Δt = (0 + 1)/2 = 0.5."""
    states = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64).reshape(3, 1, 1)  # (N+1, B, d)
    assert float(running_cost_sum(_scalar_ou("right", 1.0), states, 0.5)[0]) == 2.5
    assert float(running_cost_sum(_scalar_ou("left", 1.0), states, 0.5)[0]) == 0.5


@pytest.mark.parametrize("point, expected", [("right", (1.5**2 + 2.25**2) / 2), ("left", (1.0 + 1.5**2) / 2)])
def test_simulated_running_cost_and_adjoint_cost_use_the_configured_point(point, expected):
    """λ = 1e-12 leaves X = 1, 1.5, 2.25 up to √(λΔt) ≈ 7e-7 per step; v = 0 and g = 0, so the adjoint loss
    is the running cost alone: 3.65625 at the right point (the original code), 1.625 at the left point."""
    paths = simulate(_scalar_ou(point, 1e-12), None, 4, torch.Generator().manual_seed(0))
    assert torch.allclose(paths.states[:, :, 0].mean(1), torch.tensor([1.0, 1.5, 2.25], dtype=torch.float64))
    assert torch.allclose(paths.running_cost, torch.full((4,), expected, dtype=torch.float64), atol=1e-5)
    assert abs(float(relative_entropy_loss(paths)) - expected) < 1e-5


def test_log_weight_moves_by_the_telescoped_endpoint_difference():
    """Same noises: log α_right − log α_left = −λ⁻¹Δt Σ_k [f(X_{k+1}) − f(X_k)] = λ⁻¹Δt (f(x0) − f(X_N)) per path;
    log_rn_derivative (log-variance, variance, moment) keeps f(X_k) as the original's losses do."""
    right = problem64({**EASY, "running_cost_point": "right"}, 10)
    left = problem64({**EASY, "running_cost_point": "left"}, 10)
    p_right = simulate(right, None, 64, torch.Generator().manual_seed(3))
    p_left = simulate(left, None, 64, torch.Generator().manual_seed(3))
    assert torch.equal(p_right.states, p_left.states)
    dt, lam = right.dt, right.lam
    endpoint = (right.running_cost(right.x0) - right.running_cost(p_right.states[-1])) * dt / lam  # (B,)
    diff = p_right.log_weight(lam) - p_left.log_weight(lam)
    assert torch.allclose(diff, endpoint, atol=1e-12)
    u_zero = torch.zeros_like(p_right.states)
    assert torch.allclose(log_rn_derivative(right, p_right, u_zero), p_left.log_weight(lam), atol=1e-12)


# ---------------------------------------------------------------- 2. the ∇V UNet's output activation
def _unet_with_negative_branch(output_relu: bool) -> FullyConnectedUNet:
    """All weights 0; up_0's bias −1 (the branch the ReLU clips), the input skip res_0's bias 0.5."""
    net = FullyConnectedUNet(2, (4, 3, 2), output_relu=output_relu)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.up_0.bias.fill_(-1.0)
        net.res_0.bias.fill_(0.5)
    return net


@pytest.mark.parametrize("output_relu, expected", [(True, 0.5), (False, -0.5)])
def test_unet_output_activation(output_relu, expected):
    """relu(−1) + 0.5 = 0.5 with the original's ReLU on up_0, −1 + 0.5 = −0.5 without; every evaluation path."""
    net = _unet_with_negative_branch(output_relu)
    x = torch.randn(5, 2)
    t = torch.tensor(0.3)
    assert torch.equal(net(t, x), torch.full((5, 2), expected))
    assert torch.equal(net.stepper(5)(t, x), torch.full((5, 2), expected))


def test_unet_relu_is_the_default_and_travels_with_the_weights():
    """The original's ReLU by default (constructor and train config); a linear net reloads as linear."""
    assert FullyConnectedUNet(2, (4, 3, 2)).output_relu
    assert TRAIN_DEFAULTS["output_relu"] is True
    problem = problem64(EASY, 4)
    assert build_learned_control(problem, {**TRAIN_DEFAULTS, "hdims": [4, 3, 2]}).net.output_relu
    off = {**TRAIN_DEFAULTS, "hdims": [4, 3, 2], "output_relu": False}
    assert not build_learned_control(problem, off).net.output_relu
    reloaded = FullyConnectedUNet(2, (4, 3, 2))  # as evaluate.load_control builds it
    reloaded.load_state_dict(_unet_with_negative_branch(False).state_dict())
    assert not reloaded.output_relu
    assert torch.equal(reloaded(torch.tensor(0.0), torch.zeros(1, 2)), torch.full((1, 2), -0.5))


# ---------------------------------------------------------------- 3. Ẑ's schedule
def _z_after(schedule: str, batch_means: list[float], z0: float) -> list[float]:
    """Ẑ after each iteration through update_metrics, batches of constant α = the given means."""
    cfg = {"ema": 0.01, "norm_ema": 0.002, "norm_schedule": schedule}
    state, out = initial_state(z0, 0.0), []
    for itr, m in enumerate(batch_means):
        update_metrics(state, StepResult(torch.full((4,), m), 0.0, 0.0, 0.0, 0.0), cfg, itr, 10**9)
        out.append(state["norm_const"])
    return out


def test_norm_const_schedule_of_the_original_over_the_first_iterations():
    """Batch means 1, 2, 3, …: Ẑ₀ = 100 is replaced by 1 after iteration 0, then Ẑ = (k+2)/2, the running mean,
    up to iteration 500 = 1/0.002 (Ẑ = 251); iteration 501 is the first EMA step: 0.002·502 + 0.998·251."""
    z = _z_after("original", [float(k + 1) for k in range(502)], 100.0)
    assert z[0] == 1.0 and z[1] == 1.5 and z[2] == 2.0
    assert all(abs(z[k] - (k + 2) / 2) < 1e-9 for k in range(501))
    assert abs(z[501] - (0.002 * 502 + 0.998 * 251)) < 1e-9


def test_norm_const_schedule_ema_option():
    """'ema' keeps Ẑ₀ and moves 0.2% toward each batch mean: 0.998·100 + 0.002·1 = 99.802, then 0.998·that + 0.004."""
    z = _z_after("ema", [1.0, 2.0], 100.0)
    assert abs(z[0] - 99.802) < 1e-12 and abs(z[1] - (0.998 * 99.802 + 0.004)) < 1e-12
    with pytest.raises(ValueError):
        update_norm_const(1.0, 1.0, 0.002, 0, "plain")


# ---------------------------------------------------------------- 4. x0 and ξ from torch.manual_seed(0)
def test_full_scale_x0_and_xi_are_the_original_torch_draws():
    """The original: torch.manual_seed(0), then x0 = 0.5·torch.randn(20) (quadratic OU) or ξ = 0.1·torch.randn(10, 10)
    (linear OU) on CPU in float32. A different generator (numpy) gives another x0."""
    easy = make_problem(_full_problem("ou_quadratic_easy"))
    torch.manual_seed(0)
    x0_original = 0.5 * torch.randn(20)
    assert torch.equal(torch.as_tensor(easy["x0"]), x0_original.double())
    linear = make_problem(_full_problem("linear_ou"))
    torch.manual_seed(0)
    xi_original = 0.1 * torch.randn(10, 10)
    assert torch.equal(torch.as_tensor(linear["sigma"]) - torch.eye(10, dtype=torch.float64), xi_original.double())
    numpy_x0 = make_problem({**_full_problem("ou_quadratic_easy"), "draws": "numpy"})["x0"]
    assert not torch.allclose(torch.as_tensor(numpy_x0), x0_original.double())


def test_full_scale_V0_is_the_riccati_value_of_the_original_x0():
    """Quadratic OU easy, d = 20: V(0, x0) = F(0)|x0|² + λd∫F with the S1 numbers F(0) = 0.292554, ∫F = 0.202769
    (6 digits: tolerance 20·5e-7 + 7·5e-7); the original code's x0 gives 5.818 (issue #20, three decimals)."""
    problem = problem_from_arrays(make_problem(_full_problem("ou_quadratic_easy")), dtype=torch.float64)
    ref, _ = build_reference(problem)
    v0 = float(ref["ref_V0"])
    riccati = 0.292554 * float((problem.x0**2).sum()) + problem.lam * problem.d * 0.202769
    assert abs(v0 - riccati) < 2e-5
    assert abs(v0 - 5.818) < 5e-4


# ---------------------------------------------------------------- the per-iteration timing
def test_iteration_timing_cli_prints_one_json_object(capsys):
    """A tiny setting: one number per method and round, the median of them, and the setting it ran."""
    result = timing_main(
        ["--rounds", "2", "--d", "2", "--N", "4", "--batch", "8", "--hdims", "8,6,4", "--M-hdims", "4,4"]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result))
    assert (printed["d"], printed["N"], printed["batch"], printed["rounds"]) == (2, 4, 8, 2)
    assert set(printed["methods"]) == {"SOCM", "adjoint"}
    for timing in printed["methods"].values():
        assert len(timing["seconds"]) == 2 and all(math.isfinite(s) and s > 0 for s in timing["seconds"])
        assert min(timing["seconds"]) <= timing["seconds_per_iteration"] <= max(timing["seconds"])
