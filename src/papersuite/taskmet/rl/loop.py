"""Training loop of the model-based RL experiment: CartPole-v1 with D distractors, one agent, one seed (TaskMet §5.2,
figure "episode return vs # distractors"; docs/papers/taskmet.md, "RL").

As in the authors' ``train.py``: ``init_steps`` uniformly random actions, then softmax(Q/α) actions with ε-uniform
exploration; every ``update_every`` environment steps one agent update on a replay batch; evaluation every
``eval_every`` steps on fresh episodes with the softmax policy. Resumable through core.checkpoint: a checkpoint is
written at the first episode end after every ``ckpt_every`` steps, and episode k of the training stream is reset from
a seed derived from (seed, k), so a resumed run replays the same episodes, draws and updates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from papersuite.core.checkpoint import TrainingCheckpoints
from papersuite.core.noise import mean_se
from papersuite.core.runtime import seed_everything

from .agents import AGENTS, Agent, metric_mass
from .env import N_TRUE, episode_seed, evaluate_policy, make_env, reset_episode

__all__ = ["DEFAULTS", "run", "ReplayBuffer"]

log = logging.getLogger("papersuite.taskmet.rl")

# Tiny profile (≈ 20 s CPU for TaskMet, ≈ 5 s for MLE/OMD per run at D = 16 on one thread). The authors' configuration
# (config/default.yaml of their OMD CartPole code) is the paper profile: total_steps 200000, init_steps 1000,
# update_every 1, batch 256, q_lr 3e-4, metric_lr 1e-3, cg_iters 10, metric_warmup_steps 5000, eval_every 1000,
# eval_episodes 10. Tiny raises q_lr to 1e-3 (returns move within 5k steps) and metric_lr to 1e-2 (1.5k metric steps
# instead of 195k), and updates every 3rd step.
DEFAULTS: dict = {
    "total_steps": 5000,
    "init_steps": 500,
    "update_every": 3,
    "batch": 64,
    "hidden": 32,
    "q_lr": 1e-3,
    "model_lr": 1e-3,
    "metric_lr": 1e-2,
    "gamma": 0.99,
    "alpha": 0.01,
    "tau": 0.01,
    "eps": 0.1,
    "cg_iters": 5,
    "cg_ridge": 1e-5,
    "metric": "global",
    "metric_warmup_steps": 500,
    "eval_every": 1000,
    "eval_episodes": 5,
    "final_eval_episodes": 10,
    "mse_window": 1000,
    "ckpt_every": 0,
}

STAT_KEYS = ("model_loss", "model_mse", "model_mse_true", "q_loss", "bellman_real")
# agents.metric_mass's keys, None for the agents without a metric (MLE, OMD)
METRIC_KEYS = (
    "metric_true_mean",
    "metric_distractor_mean",
    "metric_true_over_distractor",
    "metric_true_over_distractor_se",
    "metric_true_share",
    "metric_true_share_uniform",
    "metric_diagonal",
)


def params(config: Mapping | None) -> dict:
    """DEFAULTS overridden by ``config``; unknown keys are an error."""
    unknown = set(config or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown taskmet RL parameters: {sorted(unknown)}")
    return {**DEFAULTS, **(config or {})}


class ReplayBuffer:
    """Transitions (s, a, r, s′, 1 − terminated) in preallocated tensors; uniform sampling with replacement."""

    def __init__(self, capacity: int, obs_dim: int):
        self.obs = torch.zeros(capacity, obs_dim)
        self.action = torch.zeros(capacity, dtype=torch.long)
        self.reward = torch.zeros(capacity)
        self.next_obs = torch.zeros(capacity, obs_dim)
        self.alive = torch.zeros(capacity)
        self.size = 0

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.size
        self.obs[i] = torch.from_numpy(obs)
        self.action[i] = action
        self.reward[i] = reward
        self.next_obs[i] = torch.from_numpy(next_obs)
        self.alive[i] = 0.0 if terminated else 1.0  # a time-limit truncation still bootstraps
        self.size += 1

    def sample(self, batch: int) -> tuple[torch.Tensor, ...]:
        idx = torch.randint(self.size, (batch,))
        return self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.alive[idx]

    def recent(self, n: int) -> tuple[torch.Tensor, ...]:
        lo = max(0, self.size - n)
        return tuple(t[lo : self.size] for t in (self.obs, self.action, self.reward, self.next_obs, self.alive))

    def state_dict(self) -> dict:
        return {k: getattr(self, k)[: self.size].clone() for k in ("obs", "action", "reward", "next_obs", "alive")}

    def load_state_dict(self, state: Mapping) -> None:
        self.size = int(state["obs"].shape[0])
        for k in ("obs", "action", "reward", "next_obs", "alive"):
            getattr(self, k)[: self.size] = state[k]


def _model_report(agent: Agent, buffer: ReplayBuffer, window: int) -> dict:
    """Dynamics model's next-state squared error on the last ``window`` real transitions, per true dimension and per
    distractor, and their sum over dimensions (the code's ``next_obs_nll``); the metric's mass for TaskMet."""
    obs, action, _, next_obs, _ = buffer.recent(window)
    with torch.no_grad():
        pred, _ = agent.predict(agent.model, obs, action)
    per_dim = ((pred - next_obs) ** 2).mean(0)  # (n,)
    report = {
        "model_mse_true": float(per_dim[:N_TRUE].mean()),
        "model_mse_distractor": float(per_dim[N_TRUE:].mean()) if per_dim.numel() > N_TRUE else None,
        "model_mse_sum": float(per_dim.sum()),
    }
    if agent.metric is not None:
        report.update(metric_mass(agent, obs))
    return report


def _evaluate(agent: Agent, n_distractors: int, n_episodes: int, seed: int, index: int) -> tuple[float, float]:
    returns = evaluate_policy(agent.act, n_distractors, n_episodes, seed, stream=2 + index)
    return mean_se(returns)


def _interval_entry(step: int, ret: tuple[float, float], sums: dict[str, float], count: int) -> dict:
    """One curve point: eval return ± se and the training statistics averaged over the updates since the last one."""
    entry = {"env_steps": step, "eval_return": ret[0], "eval_return_se": ret[1], "updates": count}
    entry.update({k: (sums[k] / count if count else None) for k in STAT_KEYS})  # None: no update yet
    return entry


def run(
    agent: str, n_distractors: int, config: Mapping | None, seed: int, checkpoint_dir: str | Path | None = None
) -> dict:
    """Train and evaluate one agent (``mle``, ``omd`` or ``taskmet``) on CartPole-v1 with D = ``n_distractors``.

    Config keys (DEFAULTS is the tiny profile): ``total_steps`` environment steps; ``init_steps`` random-action steps
    before the first update; ``update_every`` env steps per agent update; ``batch`` replay batch; ``hidden`` width of
    every MLP's two hidden layers (metric MLP: one layer); ``q_lr``, ``model_lr``, ``metric_lr`` Adam learning rates
    (critic, dynamics model, metric); ``gamma`` discount; ``alpha`` soft-Q temperature; ``tau`` target-network
    Polyak rate; ``eps`` ε-uniform exploration; ``cg_iters``, ``cg_ridge`` normal-CG steps and ridge of TaskMet's
    implicit model gradient; ``metric`` "global" (one diagonal vector) or "state" (diagonal MLP of s);
    ``metric_warmup_steps`` env steps before the metric is first updated; ``eval_every``, ``eval_episodes`` curve
    evaluations; ``final_eval_episodes`` the final evaluation; ``mse_window`` recent real transitions scored for the
    model's next-state error; ``ckpt_every`` env steps between checkpoints (0: none).

    Returns {"agent", "n_distractors", "seed", "obs_dim", "curve": [{"env_steps", "eval_return", "eval_return_se",
    "updates", "model_loss", "model_mse", "model_mse_true", "q_loss", "bellman_real"}], "final_return",
    "final_return_se", "final_returns", "model_mse_true", "model_mse_distractor", "model_mse_sum", "metric_true_mean",
    "metric_distractor_mean", "metric_true_over_distractor" (± "_se", agents.mass_ratio), "metric_true_share",
    "metric_true_share_uniform", "metric_diagonal", "train_episodes",
    "skipped_metric_steps", "resumed_from", "params"}; the metric keys are None for MLE and OMD.
    """
    if agent not in AGENTS:
        raise ValueError(f"agent must be one of {AGENTS}, got {agent!r}")
    p = params(config)
    obs_dim = N_TRUE + int(n_distractors)
    seed_everything(seed)
    learner = Agent(agent, obs_dim, p, torch.Generator().manual_seed(seed))
    buffer = ReplayBuffer(p["total_steps"], obs_dim)
    fingerprint = {"agent": agent, "n_distractors": int(n_distractors), "params": p, "seed": int(seed)}
    ckpts = TrainingCheckpoints(checkpoint_dir, fingerprint, p["ckpt_every"])
    state = {"step": 0, "episode": 0, "curve": [], "sums": dict.fromkeys(STAT_KEYS, 0.0), "count": 0}
    ckpt = ckpts.resume()
    if ckpt is not None:
        learner.load_state_dict(ckpt["agent"])
        buffer.load_state_dict(ckpt["buffer"])
        state = {k: ckpt["loop"][k] for k in state}
    resumed_from = state["step"]
    _train(learner, buffer, int(n_distractors), p, seed, state, ckpts)
    final = evaluate_policy(learner.act, int(n_distractors), p["final_eval_episodes"], seed, stream=1)
    result = {
        "agent": agent,
        "n_distractors": int(n_distractors),
        "seed": int(seed),
        "obs_dim": obs_dim,
        "curve": state["curve"],
        "final_return": mean_se(final)[0],
        "final_return_se": mean_se(final)[1],
        "final_returns": final.tolist(),
        "train_episodes": state["episode"],
        "skipped_metric_steps": learner.skipped_metric_steps,
        "resumed_from": resumed_from,
        "params": p,
        **dict.fromkeys(METRIC_KEYS),
    }
    result.update(_model_report(learner, buffer, p["mse_window"]))
    ckpts.clear()
    return result


def _train(learner: Agent, buffer: ReplayBuffer, n_distractors: int, p: Mapping, seed: int, state: dict, ckpts) -> None:
    """The environment/update loop from ``state`` (step, episode, curve, running sums) to ``total_steps``."""
    env = make_env(n_distractors)
    obs = reset_episode(env, episode_seed(seed, 0, state["episode"]))
    last_save = state["step"]
    while state["step"] < p["total_steps"]:
        step = state["step"]
        if step % p["eval_every"] == 0:
            ret = _evaluate(learner, n_distractors, p["eval_episodes"], seed, step // p["eval_every"])
            state["curve"].append(_interval_entry(step, ret, state["sums"], state["count"]))
            state["sums"], state["count"] = dict.fromkeys(STAT_KEYS, 0.0), 0
            log.info("%s D=%d step %d: eval return %.1f ± %.1f", learner.kind, n_distractors, step, *ret)
        explore = bool(torch.rand(()) < p["eps"]) or step < p["init_steps"]
        action = int(torch.randint(2, ())) if explore else int(learner.act(torch.from_numpy(obs)[None])[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, bool(terminated))
        obs = next_obs
        state["step"] = step = step + 1
        if step >= p["init_steps"] and (step - p["init_steps"]) % p["update_every"] == 0:
            second = buffer.sample(p["batch"]) if learner.kind == "mle" else None
            stats = learner.update(buffer.sample(p["batch"]), second, step >= p["metric_warmup_steps"])
            for k in STAT_KEYS:
                state["sums"][k] += stats[k]
            state["count"] += 1
        if terminated or truncated:
            state["episode"] += 1
            obs = reset_episode(env, episode_seed(seed, 0, state["episode"]))
            if ckpts.enabled and step - last_save >= p["ckpt_every"]:
                ckpts.save(step, {"agent": learner.state_dict(), "buffer": buffer.state_dict(), "loop": state})
                last_save = step
    if not state["curve"] or state["curve"][-1]["env_steps"] != state["step"]:
        ret = _evaluate(learner, n_distractors, p["eval_episodes"], seed, state["step"] // p["eval_every"])
        state["curve"].append(_interval_entry(state["step"], ret, state["sums"], state["count"]))
    env.close()
