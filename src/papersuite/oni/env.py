"""The agent's view of a task (docs/papers/oni.md, "Training system"): a glyph crop around the agent, blstats, the
message bytes and its episodic count, plus the episode's running statistics for the tables.

The paper's policy reads a rendered RGB crop of the tty; at tiny scale a 9x9 glyph crop replaces it (a deviation).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from nle import nethack

from .messages import MESSAGE_LEN
from .tasks import MessageWrapper, OracleExtended, ScoreExtended, StaircaseLevel

__all__ = ["CROP", "N_BLSTATS", "glyph_crop", "OniObservation", "make_task", "TASKS"]

CROP = 9  # side of the glyph crop centred on the agent
N_BLSTATS = nethack.NLE_BLSTATS_SIZE  # 27
OBSERVATION_KEYS = ("glyphs", "blstats", "message")
TASKS = {
    "Score": (ScoreExtended, {}),
    "Oracle": (OracleExtended, {}),
    "StaircaseLvl2": (StaircaseLevel, {"level": 2}),
    "StaircaseLvl3": (StaircaseLevel, {"level": 3}),
    "StaircaseLvl4": (StaircaseLevel, {"level": 4}),
}


def glyph_crop(glyphs: np.ndarray, x: int, y: int, size: int = CROP) -> np.ndarray:
    """The (size, size) window of glyphs (21, 79) centred on (x, y), padded with the blank glyph off the map."""
    half = size // 2
    padded = np.pad(glyphs, half, constant_values=nethack.GLYPH_CMAP_OFF)  # (21 + 2h, 79 + 2h)
    return padded[y : y + size, x : x + size]


class OniObservation(gym.Wrapper):
    """A MessageWrapper'd task whose observation is a flat dict of arrays (torchrl's GymWrapper reads it):
    crop (9, 9) int64, blstats (27,) float32, message (256,) uint8, message_count (1,) int64, and the episode so
    far: episode_return (extrinsic, 1), episode_distinct (distinct non-empty messages, 1), success (1)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(MessageWrapper(env))
        big = np.finfo(np.float32).max
        self.observation_space = gym.spaces.Dict(
            {
                "crop": gym.spaces.Box(0, nethack.MAX_GLYPH, (CROP, CROP), np.int64),
                "blstats": gym.spaces.Box(-big, big, (N_BLSTATS,), np.float32),
                "message": gym.spaces.Box(0, 255, (MESSAGE_LEN,), np.uint8),
                "message_count": gym.spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64),
                "episode_return": gym.spaces.Box(-big, big, (1,), np.float32),
                "episode_distinct": gym.spaces.Box(0, big, (1,), np.float32),
                "success": gym.spaces.Box(0, 1, (1,), np.float32),
            }
        )
        self._return, self._seen = 0.0, set()

    def _observe(self, obs: dict[str, Any], info: dict[str, Any], success: bool) -> dict[str, np.ndarray]:
        """Flatten one step's observation and update the episode's running statistics."""
        if info["message"]:
            self._seen.add(info["message"])
        blstats = obs["blstats"]
        x, y = int(blstats[nethack.NLE_BL_X]), int(blstats[nethack.NLE_BL_Y])
        return {
            "crop": glyph_crop(obs["glyphs"], x, y).astype(np.int64),
            "blstats": blstats.astype(np.float32),
            "message": obs["message"].astype(np.uint8),
            "message_count": np.array([info["message_count"]], dtype=np.int64),
            "episode_return": np.array([self._return], dtype=np.float32),
            "episode_distinct": np.array([len(self._seen)], dtype=np.float32),
            "success": np.array([float(success)], dtype=np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the task, the counts and the episode statistics."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._return, self._seen = 0.0, set()
        return self._observe(obs, info, False), {}

    def step(self, action):
        """Step the task; the message travels in the observation (torchrl drops `info`)."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        success = bool(terminated and info.get("end_status") == StaircaseLevel.StepStatus.TASK_SUCCESSFUL)
        return self._observe(obs, info, success), reward, terminated, truncated, {}


def make_task(task: str, max_episode_steps: int) -> OniObservation:
    """One of TASKS (the paper's four, and StaircaseLvl2 for tiny) with the extended actions, wrapped."""
    cls, kwargs = TASKS[task]
    env = cls(observation_keys=OBSERVATION_KEYS, max_episode_steps=max_episode_steps, **kwargs)
    return OniObservation(env)
