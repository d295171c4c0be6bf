"""Known answers of the model-based RL part of TaskMet (§5.2; docs/papers/taskmet.md, "RL"): the distractor wrapper,
normal-CG, the implicit metric gradient against a closed form, and its zero under realizability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from papersuite.taskmet.rl.agents import Agent, implicit_metric_gradient, normal_cg
from papersuite.taskmet.rl.env import N_TRUE, episode_seed, make_env, reset_episode
from papersuite.taskmet.rl.loop import params
from papersuite.taskmet.rl.nets import MLPShape, diagonal_metric, init_metric, init_mlp, mlp

D64 = torch.float64


# --- environment -----------------------------------------------------------------------------------------------


def rollout_observations(n_distractors: int, n_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(observations (n_steps, 4 + D), unwrapped CartPole states (n_steps, 4)) under uniformly random actions."""
    env = make_env(n_distractors)
    rng = np.random.default_rng(seed)
    obs, episode = reset_episode(env, episode_seed(seed, 0, 0)), 0
    observations, states = [], []
    for _ in range(n_steps):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        observations.append(obs)
        states.append(np.asarray(env.unwrapped.state, dtype=np.float32))
        if terminated or truncated:
            episode += 1
            obs = reset_episode(env, episode_seed(seed, 0, episode))
    return np.stack(observations), np.stack(states)


def test_distractor_wrapper_shape_and_moments():
    """Known answer: shape 4 + D; the first 4 coordinates are CartPole's state; over 1000 steps the 16 distractors have
    mean ≈ 0 (pooled |mean| < 0.04, se 0.008) and var ≈ 1 (pooled within 0.05, se 0.011); fresh at every step
    (lag-1 correlation < 0.05, se 0.008). Measured: mean 0.002, var 0.994, worst coordinate |mean| 0.066 and |var − 1|
    0.074, lag-1 corr −0.007."""
    obs, states = rollout_observations(16, 1000, seed=0)
    assert obs.shape == (1000, 4 + 16) and obs.dtype == np.float32
    assert make_env(16).observation_space.shape == (20,)
    np.testing.assert_allclose(obs[:, :N_TRUE], states, rtol=0, atol=1e-6)
    noise = obs[:, N_TRUE:].astype(np.float64)  # (1000, 16)
    assert abs(noise.mean()) < 0.04
    assert abs(noise.var() - 1.0) < 0.05
    assert np.all(np.abs(noise.mean(0)) < 0.15)  # per coordinate, se 0.032
    assert np.all(np.abs(noise.var(0) - 1.0) < 0.2)  # per coordinate, se 0.045
    lag1 = np.mean(noise[1:] * noise[:-1]) / noise.var()
    assert abs(lag1) < 0.05


def test_reset_is_reproducible_and_zero_distractors_is_plain_cartpole():
    """A seeded episode replays exactly (resumed runs rely on it); D = 0 leaves CartPole's 4-vector."""
    a, _ = rollout_observations(3, 50, seed=7)
    b, _ = rollout_observations(3, 50, seed=7)
    np.testing.assert_array_equal(a, b)
    plain, states = rollout_observations(0, 50, seed=7)
    assert plain.shape == (50, 4)
    np.testing.assert_allclose(plain, states, rtol=0, atol=1e-6)


# --- networks ----------------------------------------------------------------------------------------------------


def test_mlp_ensemble_heads_are_independent_networks():
    """A flat ensemble of 2 heads equals each head applied alone; the init's last layer is small (scale 1e-2)."""
    g = torch.Generator().manual_seed(0)
    shape = MLPShape((5, 8, 8, 3), ensemble=2)
    flat = init_mlp(shape, g)
    assert flat.shape == (shape.n_params,)
    x = torch.randn(7, 5, generator=g)
    both = mlp(shape, flat, x)  # (2, 7, 3)
    single = MLPShape((5, 8, 8, 3))
    for k in range(2):
        head = flat[k * single.n_params : (k + 1) * single.n_params]
        torch.testing.assert_close(both[k], mlp(single, head, x)[0])
    assert both.abs().max() < 0.1


@pytest.mark.parametrize("kind", ["global", "state"])
def test_metric_is_positive_with_norm_sqrt_dim_and_identity_at_init(kind):
    """Λ's diagonal is > 0 with ‖diag‖₂ = √n (the code's normalisation); the global metric starts at exactly I."""
    g = torch.Generator().manual_seed(1)
    shape, phi = init_metric(kind, 12, 16, g)
    obs = torch.randn(9, 12, generator=g)
    diag = diagonal_metric(shape, phi + 0.3 * torch.randn(phi.shape, generator=g), obs)  # (9, 12)
    assert diag.shape == (9, 12) and bool((diag > 0).all())
    torch.testing.assert_close(diag.norm(dim=-1), torch.full((9,), 12**0.5))
    if kind == "global":
        torch.testing.assert_close(diagonal_metric(shape, phi, obs), torch.ones(9, 12))


# --- normal-CG and the implicit metric gradient ----------------------------------------------------------------


def test_normal_cg_solves_an_indefinite_system():
    """CG on (HᵀH) x = Hᵀb with H symmetric indefinite: n iterations give H⁻¹b (float64, measured error 2e-13; two
    iterations leave a residual of 1.06)."""
    g = torch.Generator().manual_seed(2)
    n = 6
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=D64))
    H = Q @ torch.diag(torch.tensor([3.0, 2.0, 1.0, -0.5, -1.5, 0.8], dtype=D64)) @ Q.T
    b = torch.randn(n, generator=g, dtype=D64)
    x = normal_cg(lambda v: H @ v, b, iters=n)
    torch.testing.assert_close(x, torch.linalg.solve(H, b), atol=1e-9, rtol=0)
    assert torch.linalg.norm(H @ normal_cg(lambda v: H @ v, b, iters=2) - b) > 1e-3  # truncated: not exact


def weighted_problem(seed: int, n: int = 40, p: int = 3, d: int = 5):
    """Shared-parameter weighted least squares: ŷ_bi = x_bᵀθ for every output i, loss mean_b Σ_i Λ_bi (x_bᵀθ − y_bi)²,
    with a state-dependent diagonal metric Λ(s_b) from the "state" metric MLP (float64)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=D64)
    Y = torch.randn(n, d, generator=g, dtype=D64) + X[:, :1]
    S = torch.randn(n, d, generator=g, dtype=D64)  # the states the metric reads
    shape, phi = init_metric("state", d, 8, g)
    phi = (phi + 0.5 * torch.randn(phi.shape, generator=g)).to(D64)
    target = torch.randn(p, generator=g, dtype=D64)

    def loss(theta, phi_):
        w = diagonal_metric(shape, phi_, S)  # (n, d)
        return (w * ((X @ theta).unsqueeze(-1) - Y) ** 2).sum(-1).mean()

    def closed_form(phi_):
        w = diagonal_metric(shape, phi_, S)  # (n, d)
        lhs = (X.T * w.sum(-1)) @ X  # Σ_b (Σ_i w_bi) x_b x_bᵀ
        rhs = X.T @ (w * Y).sum(-1)  # Σ_b x_b Σ_i w_bi y_bi
        return torch.linalg.solve(lhs, rhs)

    return loss, closed_form, phi, target


def test_implicit_metric_gradient_matches_autograd_through_the_closed_form():
    """Known answer: the IFT + normal-CG hypergradient of an outer loss ‖θ*(φ) − c‖² equals autograd through
    θ*(φ) = (Σ_b w_b x_b x_bᵀ)⁻¹ Σ_b x_b Σ_i w_bi y_bi and central finite differences. Measured: max error 7e-17
    against autograd (gradient entries up to 0.097; CG with iters = dim θ is exact for this quadratic), 2e-11
    against finite differences (ε = 1e-6)."""
    loss, closed_form, phi, target = weighted_problem(seed=3)
    phi_leaf = phi.clone().requires_grad_(True)
    theta_star = closed_form(phi_leaf)
    outer = ((theta_star - target) ** 2).sum()
    (reference,) = torch.autograd.grad(outer, phi_leaf)
    theta_star = theta_star.detach()
    implicit = implicit_metric_gradient(loss, theta_star, phi, 2 * (theta_star - target), iters=3, ridge=0.0)
    torch.testing.assert_close(implicit, reference, atol=1e-9, rtol=1e-7)
    direction = torch.randn(phi.shape, generator=torch.Generator().manual_seed(4), dtype=D64)
    eps = 1e-6

    def outer_at(ph):
        return float(((closed_form(ph) - target) ** 2).sum())

    fd = (outer_at(phi + eps * direction) - outer_at(phi - eps * direction)) / (2 * eps)
    assert abs(float(implicit @ direction) - fd) < 1e-7 * max(1.0, abs(fd))
    assert float(reference.abs().max()) > 1e-3  # a real dependence on φ, not a vacuous zero


def test_realizable_decoupled_model_gives_a_zero_metric_gradient():
    """Known answer: one linear map per output dimension on noise-free realizable data fits every output exactly for any
    Λ ≻ 0, so θ* does not depend on φ and the hypergradient is 0 (measured exactly 0.0: the residuals vanish)."""
    g = torch.Generator().manual_seed(5)
    n, p, d = 30, 3, 4
    X = torch.randn(n, p, generator=g, dtype=D64)
    W_true = torch.randn(p, d, generator=g, dtype=D64)
    Y = X @ W_true  # realizable, noise-free
    phi = torch.randn(d, generator=g, dtype=D64)  # global diagonal metric

    def loss(theta, phi_):
        w = diagonal_metric(None, phi_, X)  # (n, d)
        return (w * (X @ theta.view(p, d) - Y) ** 2).sum(-1).mean()

    theta_star = W_true.reshape(-1)
    dl_dtheta = torch.randn(p * d, generator=g, dtype=D64)  # any outer gradient
    hyper = implicit_metric_gradient(loss, theta_star, phi, dl_dtheta, iters=p * d, ridge=0.0)
    assert float(hyper.abs().max()) < 1e-12


def test_omd_model_gradient_is_the_first_order_effect_of_a_critic_step():
    """OMD's model gradient with the identity for the inverse Jacobian, u = −(∂²L_Q/∂θ∂ω)ᵀ ∇_ω L_real(ω⁺), is the
    derivative of L_real after a further gradient step of size η on the model's transitions, divided by η:
    d/dθ L_real(ω⁺ − η ∇_ω L_Q(ω⁺; T_θ)) = η u + O(η²). Central differences in float64 (η = 1e-6, ε = 1e-5) agree to a
    relative 1e-4 (measured: 8.1785e-5 vs 8.1793e-5); a sign or evaluation-point error would not."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(D64)
    try:
        g = torch.Generator().manual_seed(6)
        n, batch_size, eta, eps = 6, 32, 1e-6, 1e-5
        agent = Agent("omd", n, params({"q_lr": 1e-2}), g)
        agent.q.data.mul_(3.0)  # outputs × 27: a critic whose values depend visibly on s′
        agent.q_target = agent.q.detach().clone()
        obs, next_obs = torch.randn(batch_size, n, generator=g), torch.randn(batch_size, n, generator=g)
        batch = (
            obs,
            torch.randint(2, (batch_size,), generator=g),
            torch.ones(batch_size),
            next_obs,
            torch.ones(batch_size),
        )
        theta = agent.model.detach().clone()
        u, _ = agent._bellman_gradient(theta, batch)
        q_plus, q_target_plus = agent.q.detach().clone(), agent.q_target.clone()

        def real_loss_after_step(th: torch.Tensor) -> float:
            next_hat, reward_hat = agent.predict(th, obs, batch[1])
            q = q_plus.clone().requires_grad_(True)
            model_batch = (obs, batch[1], reward_hat, next_hat, batch[4])
            (grad_q,) = torch.autograd.grad(agent.q_loss(q, q_target_plus, model_batch), q)
            return float(agent.q_loss(q_plus - eta * grad_q, q_target_plus, batch))

        direction = torch.randn(theta.shape, generator=g)
        fd = (real_loss_after_step(theta + eps * direction) - real_loss_after_step(theta - eps * direction)) / (2 * eps)
        predicted = eta * float(u @ direction)
        assert abs(predicted) > 1e-9
        assert abs(fd - predicted) < 1e-3 * abs(predicted)
    finally:
        torch.set_default_dtype(default)
