"""ONI's NetHack tasks ported from nle 0.9 / gym 0.23 to nle 1.3 / gymnasium (docs/papers/oni.md, "Environments"):
Score, Oracle and StaircaseLvlN with the extended action set, and the message wrapper."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from nle import nethack
from nle.env import tasks

from .messages import EpisodeMessageCounts, message_info

__all__ = [
    "EXTENDED_ACTIONS",
    "SUCCESS_REWARD",
    "staircase_success",
    "oracle_adjacent",
    "ScoreExtended",
    "StaircaseLevel",
    "OracleExtended",
    "MessageWrapper",
    "register_tasks",
    "TASK_IDS",
]

# NLE's 23 task actions plus the five ONI adds (paper's code, tasks_nle.py): 28 actions
EXTENDED_ACTIONS = tuple(tasks.TASK_ACTIONS) + (
    nethack.Command.CAST,
    nethack.Command.QUAFF,
    nethack.Command.PRAY,
    nethack.Command.PICKUP,
    nethack.Command.PAY,
)
SUCCESS_REWARD = 50.0  # Staircase/Oracle success reward in the paper's code; clipped to 10, times c_ext = 10
DESCEND_MESSAGE = "You descend the stairs"


def staircase_success(message: str, blstats: np.ndarray, level: int) -> bool:
    """StaircaseLvlN succeeds when the agent has just taken the stairs down into dungeon depth N."""
    return DESCEND_MESSAGE in message and int(blstats[nethack.NLE_BL_DEPTH]) == level


def oracle_adjacent(glyphs: np.ndarray, blstats: np.ndarray, oracle_glyph: int) -> bool:
    """Oracle succeeds when the Oracle's glyph is in the 3x3 neighbourhood of the agent (glyphs: (21, 79))."""
    x, y = int(blstats[nethack.NLE_BL_X]), int(blstats[nethack.NLE_BL_Y])
    return bool(np.any(glyphs[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] == oracle_glyph))


class ScoreExtended(tasks.NetHackScore):
    """NetHackScore (reward: score delta, -0.01 when the game clock stands still) with the extended actions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("actions", EXTENDED_ACTIONS)
        super().__init__(*args, **kwargs)


class _SuccessTask(tasks.NetHackStaircase):
    """A sparse task: SUCCESS_REWARD on success (plus the Score time penalty), then the episode ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("actions", EXTENDED_ACTIONS)
        super().__init__(*args, **kwargs)

    def _reward_fn(self, last_observation, action, observation, end_status):
        """SUCCESS_REWARD on TASK_SUCCESSFUL, else 0, plus the frozen-clock penalty (NetHackScore)."""
        del action
        penalty = self._get_time_penalty(last_observation, observation)
        return (SUCCESS_REWARD if end_status == self.StepStatus.TASK_SUCCESSFUL else 0.0) + penalty


class StaircaseLevel(_SuccessTask):
    """StaircaseLvlN: descend the stairs down to dungeon depth N (N = 3, 4 in the paper)."""

    def __init__(self, *args: Any, level: int = 3, **kwargs: Any) -> None:
        self.level = level
        super().__init__(*args, **kwargs)

    def _is_episode_end(self, observation):
        message = bytes(observation[self._message_index]).replace(b"\0", b"").decode("latin-1")
        if staircase_success(message, observation[self._blstats_index], self.level):
            return self.StepStatus.TASK_SUCCESSFUL
        return self.StepStatus.RUNNING


class OracleExtended(_SuccessTask):
    """Oracle: stand next to the Oracle (nle's NetHackOracle condition) with the extended actions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {
            g: nethack.permonst(nethack.glyph_to_mon(g)).mname
            for g in range(nethack.GLYPH_MON_OFF, nethack.GLYPH_PET_OFF)
        }
        self.oracle_glyph = next(g for g, name in names.items() if name == "Oracle")

    def _is_episode_end(self, observation):
        glyphs, blstats = observation[self._glyph_index], observation[self._blstats_index]
        if oracle_adjacent(glyphs, blstats, self.oracle_glyph):
            return self.StepStatus.TASK_SUCCESSFUL
        return self.StepStatus.RUNNING


class MessageWrapper(gym.Wrapper):
    """Adds the step's decoded message and its episodic count N_ep(m) to `info` (the paper's MessageWrapper)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.counts = EpisodeMessageCounts()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the env and the counts; the first message counts as an appearance."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.counts.reset()
        return obs, {**info, **message_info(self.counts, obs)}

    def step(self, action):
        """Step the env; info gains `message` and `message_count`."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, **message_info(self.counts, obs)}


TASK_IDS = {
    "NetHackScoreExtendedActions-v1": (ScoreExtended, {}),
    "NetHackOracleExtendedActions-v1": (OracleExtended, {}),
    "NetHackStaircaseLvl3ExtendedActions-v1": (StaircaseLevel, {"level": 3}),
    "NetHackStaircaseLvl4ExtendedActions-v1": (StaircaseLevel, {"level": 4}),
}


def register_tasks() -> None:
    """Register the paper's four task ids with gymnasium (idempotent)."""
    for env_id, (cls, kwargs) in TASK_IDS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=cls, kwargs=kwargs)
