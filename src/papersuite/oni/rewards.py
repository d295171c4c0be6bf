"""ONI's reward arithmetic (docs/papers/oni.md, "Reward combination"): the extrinsic/intrinsic combination with the
episodic-count exponent, the retrieval table, and ONI-Ranking's running normalisation and quantile threshold."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .messages import count_coefficient

__all__ = ["combine_rewards", "RetrievalTable", "RunningMeanStd", "threshold_normalised", "ranking_intrinsic"]


def combine_rewards(
    r_ext: np.ndarray,
    r_int: np.ndarray,
    counts: np.ndarray,
    c_ext: float,
    c_int: float,
    beta: float = 3.0,
    reward_scale: float = 1.0,
    reward_clip: float = 10.0,
) -> np.ndarray:
    """r = c_ext * clip(s * r_env, +-clip) + c_int * r_int(m) * N_ep(m)^(-beta) (shapes: (T,) or (T, B))."""
    extrinsic = np.clip(reward_scale * np.asarray(r_ext, dtype=np.float64), -reward_clip, reward_clip)
    return c_ext * extrinsic + c_int * np.asarray(r_int, dtype=np.float64) * count_coefficient(counts, beta)


class RetrievalTable:
    """ONI-Retrieval: message -> LLM label in {0, 1}; an unlabelled message earns 0 until its label arrives."""

    def __init__(self) -> None:
        self.labels: dict[str, int] = {}

    def update(self, labels: dict[str, int]) -> None:
        """Merge a batch of labels from the annotator."""
        self.labels.update(labels)

    def rewards(self, messages: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """(rewards (N,), the distinct unlabelled messages to submit for annotation, in first-seen order)."""
        messages = list(messages)
        reward = np.array([self.labels.get(m, 0) for m in messages], dtype=np.float64)
        unseen = list(dict.fromkeys(m for m in messages if m not in self.labels))
        return reward, unseen


class RunningMeanStd:
    """Streaming mean and population variance (Chan et al.'s parallel update), as ONI-Ranking normalises r_psi.

    The released code combines an unbiased batch variance with this population-style update; we use the population
    variance throughout, so the streaming result equals np.var of the concatenated data (docs/papers/oni.md).
    """

    def __init__(self, epsilon: float = 1e-4) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, epsilon

    def update(self, x: np.ndarray) -> None:
        """Fold a batch x (N,) into the running moments."""
        x = np.asarray(x, dtype=np.float64).ravel()
        batch_mean, batch_var, n = x.mean(), x.var(), x.size
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total


def threshold_normalised(raw: np.ndarray, stats: RunningMeanStd, threshold: float = -0.5) -> np.ndarray:
    """(r - mean) / std, with every value <= threshold (in normalised units) set to 0 (Motif's quantile cut)."""
    normalised = (np.asarray(raw, dtype=np.float64) - stats.mean) / np.sqrt(stats.var + 1e-8)
    return np.where(normalised > threshold, normalised, 0.0)


def ranking_intrinsic(
    raw: np.ndarray, stats: RunningMeanStd, threshold: float = -0.5, released_code_typo: bool = False
) -> np.ndarray:
    """ONI-Ranking's intrinsic reward: the intended normalised, thresholded r_psi, or, with `released_code_typo`,
    the raw r_psi that the released learner actually returns (normalised value stored under a misspelled name)."""
    stats.update(raw)
    if released_code_typo:
        return np.asarray(raw, dtype=np.float64)
    return threshold_normalised(raw, stats, threshold)
