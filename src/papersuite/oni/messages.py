"""NetHack messages: the 256-byte codec and the per-episode counts of ONI's intrinsic reward (docs/papers/oni.md,
"Reward combination")."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

__all__ = ["MESSAGE_LEN", "decode_message", "encode_message", "count_coefficient", "EpisodeMessageCounts"]

MESSAGE_LEN = 256  # NLE's `message` observation is 256 bytes, zero padded


def decode_message(message: np.ndarray) -> str:
    """NLE message bytes (256,) -> text: zero bytes dropped, latin-1 decoded."""
    raw = bytes(np.asarray(message, dtype=np.uint8))
    return raw.replace(b"\0", b"").decode("latin-1")


def encode_message(text: str) -> np.ndarray:
    """Text -> (256,) int64 latin-1 codes, zero padded (the reward models' input)."""
    raw = text.encode("latin-1")
    if len(raw) > MESSAGE_LEN:
        raise ValueError(f"message of {len(raw)} bytes exceeds {MESSAGE_LEN}")
    out = np.zeros(MESSAGE_LEN, dtype=np.int64)
    out[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return out


def count_coefficient(count: int | np.ndarray, beta: float) -> float | np.ndarray:
    """N_ep(m)^(-beta): the episodic-count scaling of the intrinsic reward (beta = 3 in the paper's code)."""
    return np.power(np.asarray(count, dtype=np.float64), -beta)


class EpisodeMessageCounts:
    """N_ep(m): how often each exact message has appeared in the current episode, the current step included."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def reset(self) -> None:
        """Start a new episode: every count back to zero."""
        self._counts.clear()

    def observe(self, message: str) -> int:
        """Count one more appearance of `message` and return its count, this one included."""
        self._counts[message] += 1
        return self._counts[message]


def message_info(counts: EpisodeMessageCounts, obs: dict[str, Any]) -> dict[str, Any]:
    """The message wrapper's per-step info: the decoded message and its episodic count."""
    text = decode_message(obs["message"])
    return {"message": text, "message_count": counts.observe(text)}
