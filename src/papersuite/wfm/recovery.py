"""Label recovery of generated niches (docs/papers/wfm.md, "Metrics" and "Known answers"): every generated
niche is classified by the label of its nearest real niche under exact W2 between uniform clouds.

For equal-size uniform clouds the OT plan is a permutation (Birkhoff), so W2² = min over assignments of the
mean squared distance — solved exactly by `scipy.optimize.linear_sum_assignment` (the same value as POT
`ot.emd2`, ~10× faster per pair).
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_niche", "label_hits", "label_recovery", "chance_level", "noise_niches", "recovery_references"]


def _uniform(clouds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A set of equal-size niches (n,k,d) as the (points, weights) pair of wfm.metrics."""
    clouds = np.asarray(clouds, dtype=np.float64)
    if clouds.ndim != 3:
        raise ValueError(f"niches must be (n, k, d), got shape {clouds.shape}")
    return clouds, np.full(clouds.shape[:2], 1.0 / clouds.shape[1])


def nearest_niche(queries: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index (n,) of each query niche's nearest reference niche under exact W2, and that W2 (n,)."""
    if np.shape(queries)[1:] != np.shape(refs)[1:]:
        raise ValueError(
            f"need (n,k,d) and (m,k,d) niches of equal k and d, got {np.shape(queries)} and {np.shape(refs)}"
        )
    from . import metrics  # imports torch: not needed to prepare niches

    return metrics.nearest_cloud(_uniform(queries), _uniform(refs))


def label_hits(
    generated: np.ndarray, generated_labels: np.ndarray, real_niches: np.ndarray, real_labels: np.ndarray
) -> np.ndarray:
    """(n,) bool: whether the nearest real niche (m,k,d) under exact W2 of generated niche i (n,k,d) carries the
    label it was generated for."""
    generated_labels, real_labels = np.asarray(generated_labels), np.asarray(real_labels)
    if len(generated_labels) != len(generated) or len(real_labels) != len(real_niches):
        raise ValueError(
            f"labels do not match clouds: {len(generated_labels)} vs {len(generated)} generated, "
            f"{len(real_labels)} vs {len(real_niches)} real"
        )
    idx, _ = nearest_niche(generated, real_niches)
    return real_labels[idx] == generated_labels


def label_recovery(
    generated: np.ndarray,
    generated_labels: np.ndarray,
    real_niches: np.ndarray,
    real_labels: np.ndarray,
    distance: str = "w2",
) -> float:
    """Label recovery (bar: > 2× chance): accuracy of labelling each generated niche (n,k,d) with the label of its
    nearest real niche (m,k,d) under exact W2 (the mean of label_hits). The real set is the caller's choice (test
    split, or train as reference)."""
    if distance != "w2":
        raise ValueError(f"distance must be 'w2' (exact W2 between uniform clouds), got {distance!r}")
    return float(np.mean(label_hits(generated, generated_labels, real_niches, real_labels)))


def chance_level(labels: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent of the evaluated labels (= 1/n_labels when balanced):
    the best label-blind classifier, so "> 2× chance" is measured against the stricter of the two bars."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def noise_niches(like: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n clouds (n,k,d) of iid Gaussian points with the per-coordinate mean and std of the points of `like`
    (n_like,k,d): a generator that learned nothing but the marginal scale (lower reference)."""
    pts = np.asarray(like, dtype=np.float64).reshape(-1, like.shape[-1])  # (n_like·k, d)
    rng = np.random.default_rng(seed)
    return (pts.mean(0) + pts.std(0) * rng.standard_normal((n, like.shape[1], like.shape[2]))).astype(np.float32)


def recovery_references(
    train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray, seed: int = 0
) -> dict:
    """Reference points for label recovery (classifier = nearest train niche under W2): "upper" = real test
    niches, "shuffled" = the same with train labels permuted (≈ chance), "noise" = Gaussian noise niches given
    the test labels (lower), and "chance" of the test labels."""
    rng = np.random.default_rng(seed)
    test_labels, train_labels = np.asarray(test_labels), np.asarray(train_labels)
    idx, _ = nearest_niche(test, train)
    noise = noise_niches(train, len(test), seed)
    return {
        "upper": float(np.mean(train_labels[idx] == test_labels)),
        "shuffled": float(np.mean(rng.permutation(train_labels)[idx] == test_labels)),
        "noise": label_recovery(noise, test_labels, train, train_labels),
        "chance": chance_level(test_labels),
    }
