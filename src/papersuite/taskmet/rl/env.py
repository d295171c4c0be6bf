"""CartPole-v1 with D i.i.d. N(0,1) distractor coordinates (TaskMet, Bansal et al. NeurIPS 2023, §5.2 "model-based
RL with distractors"; docs/papers/taskmet.md, "RL").

The authors' ``AddDistractors`` wrapper appends ``np.random.randn(D)`` to every observation, fresh at each step (reset
included). Ours does the same from a per-wrapper numpy Generator, so a seeded episode is reproducible without the
global numpy RNG. Evaluation runs its episodes in lockstep so that one batched Q forward serves every live episode.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.spaces import Box
from torch import Tensor

__all__ = ["AddDistractors", "make_env", "episode_seed", "evaluate_policy", "N_TRUE"]

N_TRUE = 4  # CartPole's (x, ẋ, θ, θ̇)


class AddDistractors(gym.ObservationWrapper):
    """Observation (4,) -> (4 + D,): the true state followed by D fresh N(0,1) draws (the authors' wrapper)."""

    def __init__(self, env: gym.Env, n_distractors: int, seed: int = 0):
        super().__init__(env)
        if n_distractors < 0:
            raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")
        assert isinstance(env.observation_space, Box)
        self.n_distractors = int(n_distractors)
        self.noise = np.random.default_rng(seed)
        low, high = env.observation_space.low, env.observation_space.high
        inf = np.full(self.n_distractors, np.inf, dtype=np.float32)
        self.observation_space = Box(np.concatenate([low, -inf]), np.concatenate([high, inf]), dtype=np.float32)

    def reseed_noise(self, seed: int) -> None:
        """Restart the distractor stream (at an episode start, so a resumed run redraws the same numbers)."""
        self.noise = np.random.default_rng(seed)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        distractors = self.noise.standard_normal(self.n_distractors).astype(np.float32)  # (D,)
        return np.concatenate([np.asarray(observation, dtype=np.float32), distractors])  # (4 + D,)


def make_env(n_distractors: int, seed: int = 0) -> AddDistractors:
    """gymnasium CartPole-v1 (500-step time limit) wrapped with D distractors."""
    return AddDistractors(gym.make("CartPole-v1"), n_distractors, seed=seed)


def episode_seed(seed: int, stream: int, index: int) -> int:
    """A 63-bit seed for episode ``index`` of ``stream`` (0 training, 1 final evaluation, 2 + k curve point k)."""
    words = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(2, dtype=np.uint32)
    return int(words[0]) | (int(words[1] & 0x7FFFFFFF) << 32)


def reset_episode(env: AddDistractors, seed: int) -> np.ndarray:
    """Reset CartPole and the distractor stream from one seed; returns the first observation (4 + D,)."""
    env.reseed_noise(seed + 1)
    obs, _ = env.reset(seed=seed)
    return obs


@torch.no_grad()
def evaluate_policy(
    act: Callable[[Tensor, torch.Generator], Tensor],
    n_distractors: int,
    n_episodes: int,
    seed: int,
    stream: int,
) -> np.ndarray:
    """Undiscounted returns (n_episodes,) of ``act`` on fresh seeded envs, all episodes stepped in lockstep.

    ``act(obs (E, 4 + D), generator) -> actions (E,)`` is called once per time step for the E live episodes; its
    randomness comes from a generator seeded by (seed, stream), never from the global RNGs.
    """
    envs = [make_env(n_distractors) for _ in range(n_episodes)]
    obs = np.stack([reset_episode(env, episode_seed(seed, stream, k)) for k, env in enumerate(envs)])  # (E, 4 + D)
    generator = torch.Generator().manual_seed(episode_seed(seed, stream, n_episodes))
    returns = np.zeros(n_episodes)
    live = np.arange(n_episodes)
    while live.size:
        actions = act(torch.from_numpy(obs[live]), generator).numpy()  # (E_live,)
        still = []
        for k, action in zip(live, actions, strict=True):
            obs[k], reward, terminated, truncated, _ = envs[k].step(int(action))
            returns[k] += reward
            if not (terminated or truncated):
                still.append(k)
        live = np.asarray(still, dtype=int)
    for env in envs:
        env.close()
    return returns
