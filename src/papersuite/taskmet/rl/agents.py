"""MLE, OMD and TaskMet model-based agents on real (s, a) with model-predicted (s′, r) (TaskMet §5.2, Bansal et al.
NeurIPS 2023; OMD: Nikishin et al. AAAI 2022; docs/papers/taskmet.md, "RL").

Shared parts, as in the authors' JAX code:
- dynamics model T_θ(s, a) -> (ŝ′, r̂): two MLPs (next observation, reward) on [s, onehot(a)], deterministic,
  predicting the next observation itself (not a delta);
- critic: two soft-Q heads, L_Q(ω; s, a, r, s′) = ½ Σ_k mean (Q_k(s, a) − y)², y = r + γ·(1 − terminated)·V̄(s′),
  V̄(s′) = α logsumexp(min(Q̄₁, Q̄₂)(s′)/α), target heads ω̄ ← τω + (1 − τ)ω̄ after every critic step;
- the critic is only ever trained on model transitions (real s, a; ŝ′ = T_θ(s, a), r̂).

Agents (one update per call):
- ``mle``: one Adam step of θ on Σ_i (ŝ′ − s′)_i² + (r̂ − r)², then one critic step on a second batch;
- ``omd``: one critic step on the model batch, then θ follows the real-data Bellman error L_Q(ω⁺; real) of the
  updated critic through dω⁺/dθ ≈ −∂²L_Q/∂θ∂ω (OMD's implicit gradient with the inverse Jacobian replaced by the
  identity, the code's ``with_inv_jac=False``);
- ``taskmet``: one Adam step of θ on the metric-weighted loss Σ_i Λ_φ(s)_ii (ŝ′ − s′)_i² + (r̂ − r)², made implicit in
  φ (optimality condition ∇_θ L_Λ(θ, φ) = 0, normal-CG on the Hessian), one critic step on the new model's batch,
  and φ follows the real-data Bellman error through both implicit maps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from papersuite.core.noise import mean_se, ratio_se

from .env import N_TRUE
from .nets import MLPShape, diagonal_metric, init_metric, init_mlp, mlp

__all__ = ["AGENTS", "Agent", "Batch", "normal_cg", "implicit_metric_gradient", "metric_mass", "mass_ratio"]

AGENTS = ("mle", "omd", "taskmet")
N_ACTIONS = 2

Batch = tuple[
    Tensor, Tensor, Tensor, Tensor, Tensor
]  # obs (B,n), action (B,) long, reward (B,), next (B,n), alive (B,)


def normal_cg(matvec: Callable[[Tensor], Tensor], rhs: Tensor, iters: int, ridge: float = 0.0) -> Tensor:
    """x ≈ H⁻¹ rhs by CG on the normal equations (HᵀH + ρI) x = Hᵀ rhs with H symmetric (jaxopt's solve_normal_cg);
    works where H is indefinite, as an MLP's Hessian away from a strict minimum."""
    b = matvec(rhs)  # Hᵀ rhs, H = Hᵀ

    def normal(v: Tensor) -> Tensor:
        return matvec(matvec(v)) + ridge * v

    x = torch.zeros_like(rhs)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    for _ in range(iters):
        if rs <= 1e-30:
            break
        Ap = normal(p)
        step = rs / (p @ Ap)
        x = x + step * p
        r = r - step * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def implicit_metric_gradient(
    model_loss: Callable[[Tensor, Tensor], Tensor],
    theta: Tensor,
    phi: Tensor,
    dl_dtheta: Tensor,
    iters: int,
    ridge: float,
) -> Tensor:
    """dL/dφ = −(∂²L_Λ/∂φ∂θ)ᵀ H⁻¹ dL/dθ at θ ≈ θ*(φ) (implicit function theorem on ∇_θ L_Λ(θ, φ) = 0;
    TaskMet eq. for the hypergradient), H⁻¹ by ``iters`` normal-CG steps with ridge ρ."""
    theta = theta.detach().requires_grad_(True)
    phi = phi.detach().requires_grad_(True)
    grad_theta = torch.autograd.grad(model_loss(theta, phi), theta, create_graph=True)[0]  # (P,)

    def hvp(v: Tensor) -> Tensor:
        return torch.autograd.grad(grad_theta, theta, v, retain_graph=True)[0]

    v = normal_cg(hvp, dl_dtheta, iters, ridge)  # (P,) ≈ H⁻¹ dL/dθ
    (mixed,) = torch.autograd.grad(grad_theta, phi, v)  # (∂²L_Λ/∂φ∂θ)ᵀ v
    return -mixed


class Agent:
    """The parameters, optimizers and update rule of one agent (``kind`` in AGENTS) for observations of size n."""

    def __init__(self, kind: str, obs_dim: int, p: Mapping, generator: torch.Generator):
        if kind not in AGENTS:
            raise ValueError(f"agent must be one of {AGENTS}, got {kind!r}")
        self.kind, self.p, self.obs_dim = kind, p, obs_dim
        h = p["hidden"]
        self.q_shape = MLPShape((obs_dim, h, h, N_ACTIONS), ensemble=2)
        self.next_shape = MLPShape((obs_dim + N_ACTIONS, h, h, obs_dim))
        self.reward_shape = MLPShape((obs_dim + N_ACTIONS, h, h, 1))
        self.q = init_mlp(self.q_shape, generator).requires_grad_(True)
        self.q_target = self.q.detach().clone()
        model = torch.cat([init_mlp(self.next_shape, generator), init_mlp(self.reward_shape, generator)])
        self.model = model.requires_grad_(True)
        self.opt_q = torch.optim.Adam([self.q], lr=p["q_lr"])
        self.opt_model = torch.optim.Adam([self.model], lr=p["model_lr"])
        self.metric_shape, self.metric, self.opt_metric = None, None, None
        if kind == "taskmet":
            self.metric_shape, metric = init_metric(p["metric"], obs_dim, h, generator)
            self.metric = metric.requires_grad_(True)
            self.opt_metric = torch.optim.Adam([self.metric], lr=p["metric_lr"])
        self.skipped_metric_steps = 0
        self._last_q_loss = float("nan")  # the critic's model-data loss at its latest step

    # --- forward maps ------------------------------------------------------------------------------------------

    def predict(self, theta: Tensor, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """Model prediction: next observation (B, n) and reward (B,) from θ = [next-obs MLP | reward MLP]."""
        x = torch.cat([obs, F.one_hot(action, N_ACTIONS).to(obs.dtype)], dim=-1)  # (B, n + 2)
        split = self.next_shape.n_params
        next_obs = mlp(self.next_shape, theta[:split], x)[0]  # (B, n)
        reward = mlp(self.reward_shape, theta[split:], x)[0, :, 0]  # (B,)
        return next_obs, reward

    def metric_diagonal(self, obs: Tensor, phi: Tensor | None = None) -> Tensor:
        """Λ_φ(s) diagonal (B, n); the identity for agents without a metric."""
        phi = self.metric if phi is None else phi
        if phi is None:
            return torch.ones_like(obs)
        return diagonal_metric(self.metric_shape, phi, obs)

    def model_loss(self, theta: Tensor, phi: Tensor | None, batch: Batch) -> tuple[Tensor, Tensor]:
        """(metric-weighted loss mean_b Σ_i Λ_ii (ŝ′ − s′)_i² + mean (r̂ − r)², per-dim squared error mean_b (n,))."""
        obs, action, reward, next_obs, _ = batch
        pred, reward_hat = self.predict(theta, obs, action)
        sq = (pred - next_obs) ** 2  # (B, n)
        weighted = sq if phi is None else diagonal_metric(self.metric_shape, phi, obs) * sq
        reward_mse = ((reward_hat - reward) ** 2).mean()
        return weighted.sum(-1).mean() + reward_mse, sq.mean(0)

    def q_loss(self, q: Tensor, q_target: Tensor, batch: Batch) -> Tensor:
        """Soft double-Q Bellman error ½ Σ_k mean_b (Q_k(s, a) − y)², gradients through s′ and r but not ω̄."""
        obs, action, reward, next_obs, alive = batch
        target_q = mlp(self.q_shape, q_target, next_obs)  # (2, B, A)
        alpha = self.p["alpha"]
        value = alpha * torch.logsumexp(torch.minimum(target_q[0], target_q[1]) / alpha, dim=-1)  # (B,)
        target = reward + self.p["gamma"] * alive * value  # (B,)
        q_all = mlp(self.q_shape, q, obs)  # (2, B, A)
        q_taken = q_all.gather(-1, action.view(1, -1, 1).expand(2, -1, 1)).squeeze(-1)  # (2, B)
        return ((q_taken - target) ** 2).mean()

    @torch.no_grad()
    def act(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Sample a ~ softmax(½(Q₁ + Q₂)(s)/α) for obs (E, n); returns (E,) long."""
        q_all = mlp(self.q_shape, self.q, obs)  # (2, E, A)
        probs = torch.softmax(0.5 * (q_all[0] + q_all[1]) / self.p["alpha"], dim=-1)  # (E, A)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    # --- updates ----------------------------------------------------------------------------------------------

    def _step(self, opt: torch.optim.Optimizer, param: Tensor, grad: Tensor) -> None:
        param.grad = grad.detach()
        opt.step()
        param.grad = None

    def _critic_step(self, model_batch: Batch) -> None:
        """One Adam step of ω on L_Q(model batch), then the target update ω̄ ← τω + (1 − τ)ω̄."""
        q = self.q.detach().clone().requires_grad_(True)
        loss_q = self.q_loss(q, self.q_target, model_batch)
        self._step(self.opt_q, self.q, torch.autograd.grad(loss_q, q)[0])
        self.q_target = torch.lerp(self.q_target, self.q.detach(), self.p["tau"])
        self._last_q_loss = float(loss_q.detach())

    def _bellman_gradient(self, theta: Tensor, batch: Batch) -> tuple[Tensor, float]:
        """Critic step on T_θ's batch, then dL_real/dθ = −(∂²L_Q/∂θ∂ω)ᵀ ∇_ω L_real(ω⁺) (OMD with the identity for
        the inverse Jacobian), the mixed derivative taken at the updated critic (ω⁺, ω̄⁺) as the code's root_solve."""
        theta = theta.detach().requires_grad_(True)
        obs, action, _, _, alive = batch
        next_hat, reward_hat = self.predict(theta, obs, action)  # (B, n), (B,): functions of θ
        self._critic_step((obs, action, reward_hat.detach(), next_hat.detach(), alive))
        q_new = self.q.detach().clone().requires_grad_(True)
        outer = self.q_loss(q_new, self.q_target, batch)  # real-data Bellman error of the updated critic
        (grad_outer,) = torch.autograd.grad(outer, q_new)
        model_batch = (obs, action, reward_hat, next_hat, alive)
        (grad_q,) = torch.autograd.grad(self.q_loss(q_new, self.q_target, model_batch), q_new, create_graph=True)
        (dl_dtheta,) = torch.autograd.grad(grad_q, theta, -grad_outer)
        return dl_dtheta, float(outer.detach())

    def update(self, batch: Batch, second_batch: Batch, update_metric: bool = True) -> dict[str, float]:
        """One update of this agent; ``second_batch`` feeds MLE's critic step (the code samples it anew)."""
        stats: dict[str, float] = {}
        if self.kind == "mle":
            loss, mse = self.model_loss(self.model, None, batch)
            self._step(self.opt_model, self.model, torch.autograd.grad(loss, self.model)[0])
            obs, action, _, _, alive = second_batch
            with torch.no_grad():
                next_hat, reward_hat = self.predict(self.model, obs, action)
            self._critic_step((obs, action, reward_hat, next_hat, alive))
            with torch.no_grad():
                stats["bellman_real"] = float(self.q_loss(self.q, self.q_target, second_batch))
        elif self.kind == "omd":
            with torch.no_grad():
                loss, mse = self.model_loss(self.model, None, batch)
            dl_dtheta, stats["bellman_real"] = self._bellman_gradient(self.model, batch)
            self._step(self.opt_model, self.model, dl_dtheta)
        else:
            loss, mse = self.model_loss(self.model, self.metric, batch)
            self._step(self.opt_model, self.model, torch.autograd.grad(loss, self.model)[0])
            dl_dtheta, stats["bellman_real"] = self._bellman_gradient(self.model, batch)
            if update_metric:
                self._metric_step(dl_dtheta, batch)
        mse = mse.detach()  # (n,)
        stats.update(model_loss=float(loss.detach()), model_mse=float(mse.sum()), q_loss=self._last_q_loss)
        stats["model_mse_true"] = float(mse[:N_TRUE].sum())
        return stats

    def _metric_step(self, dl_dtheta: Tensor, batch: Batch) -> None:
        """Adam step of φ on the implicit hypergradient; a non-finite one is skipped and counted (as the code)."""

        split = self.next_shape.n_params
        reward_part = self.model[split:].detach()

        def weighted(theta_next: Tensor, phi: Tensor) -> Tensor:
            return self.model_loss(torch.cat([theta_next, reward_part]), phi, batch)[0]

        # L_Λ's Hessian is block diagonal (next-obs MLP, reward MLP) and φ only enters the next-obs block, so the
        # reward block of H⁻¹ dL/dθ never reaches dL/dφ: solve on the next-obs block alone.
        hyper = implicit_metric_gradient(
            weighted, self.model[:split], self.metric, dl_dtheta[:split], self.p["cg_iters"], self.p["cg_ridge"]
        )
        if not bool(torch.isfinite(hyper).all()):
            self.skipped_metric_steps += 1
            return
        self._step(self.opt_metric, self.metric, hyper)

    # --- state ------------------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Tensors and optimizer states, weights_only-loadable."""
        state = {
            "q": self.q.detach().clone(),
            "q_target": self.q_target.clone(),
            "model": self.model.detach().clone(),
            "opt_q": self.opt_q.state_dict(),
            "opt_model": self.opt_model.state_dict(),
            "skipped_metric_steps": self.skipped_metric_steps,
        }
        if self.metric is not None:
            state.update(metric=self.metric.detach().clone(), opt_metric=self.opt_metric.state_dict())
        return state

    def load_state_dict(self, state: Mapping) -> None:
        with torch.no_grad():
            self.q.copy_(state["q"])
            self.q_target.copy_(state["q_target"])
            self.model.copy_(state["model"])
            if self.metric is not None:
                self.metric.copy_(state["metric"])
        self.opt_q.load_state_dict(state["opt_q"])
        self.opt_model.load_state_dict(state["opt_model"])
        if self.metric is not None:
            self.opt_metric.load_state_dict(state["opt_metric"])
        self.skipped_metric_steps = int(state["skipped_metric_steps"])


def metric_mass(agent: Agent, obs: Tensor) -> dict[str, float | list[float] | None]:
    """Mean metric weight per true dimension and per distractor, their ratio ± se (mass_ratio), the share of Λ's
    trace on the 4 true dims, and the diagonal itself (averaged over ``obs``)."""
    with torch.no_grad():
        diag = agent.metric_diagonal(obs).mean(0)  # (n,)
    n_true = N_TRUE
    ratio, ratio_se = mass_ratio(diag.tolist())
    return {
        "metric_true_mean": float(diag[:n_true].mean()),
        "metric_distractor_mean": float(diag[n_true:].mean()) if diag.numel() > n_true else None,
        "metric_true_over_distractor": ratio,
        "metric_true_over_distractor_se": ratio_se,
        "metric_true_share": float(diag[:n_true].sum() / diag.sum()),
        "metric_true_share_uniform": n_true / diag.numel(),
        "metric_diagonal": diag.tolist(),
    }


def mass_ratio(diagonal: list[float]) -> tuple[float | None, float | None]:
    """Mean weight of the 4 true dimensions over the mean of the D distractors, and its delta-method se over
    dimensions (how far apart the two groups are given their spread within this metric); (None, None) without two
    distractors to spread over."""
    if len(diagonal) < N_TRUE + 2:
        return None, None
    true_mass, distractor_mass = mean_se(diagonal[:N_TRUE]), mean_se(diagonal[N_TRUE:])
    return ratio_se(*true_mass, *distractor_mass)
