"""Marginal W2 of a pushforward against fresh target samples, and the target's own sampling-noise W2 (Pooladian et
al., UAI 2024, the marginal W2 the authors log; docs/papers/lagot.md, "Evaluation").

We use POT's exact network-simplex OT (`ot.emd2`) between equal-weight clouds with the cost |x − y|², and report the
distance W2 = sqrt(cost). Exact OT on a few hundred 2-D points takes milliseconds, has no entropic bias and no
blur/ε to choose, so our W2 and the noise floor are the same functional. (The authors log ott's non-debiased
entropic cost with ε = 1e-3, and geomloss's debiased Sinkhorn with blur 5e-3 for the GMM; both approximate the
same squared distance at these sizes.) Every repeat draws new source, target and second-target samples: the
noise floor W2(target, target') is what two independent samples of the SAME distribution give at that size,
so a perfect map scores about the noise floor, not 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from papersuite.core import ot as core_ot
from papersuite.core.noise import mean_se, ratio_se

__all__ = ["w2", "marginal_w2"]


def w2(x: Tensor, y: Tensor) -> float:
    """Exact W2 distance between the uniform empirical measures on x (n, D) and y (m, D) (POT emd2, cost |x−y|²)."""
    return core_ot.w2(x.detach().cpu().double().numpy(), y.detach().cpu().double().numpy(), num_iter_max=1_000_000)


def marginal_w2(
    pushforward: Callable[[Tensor], Tensor],
    source: Callable[[int, torch.Generator], Tensor],
    target: Callable[[int, torch.Generator], Tensor],
    n: int,
    repeats: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """W2(T#source_n, target_n) and the noise floor W2(target_n, target'_n), mean ± se over `repeats` fresh draws,
    with their ratio (mean W2 / mean noise W2) and its delta-method se (treating the two as independent:
    they share the target draw, so the se is conservative)."""
    push_w2, noise_w2 = [], []
    for _ in range(repeats):
        x = source(n, generator)
        y, y_other = target(n, generator), target(n, generator)
        push_w2.append(w2(pushforward(x), y))
        noise_w2.append(w2(y_other, y))
    m_push, se_push = mean_se(push_w2)
    m_noise, se_noise = mean_se(noise_w2)
    ratio, ratio_err = ratio_se(m_push, se_push, m_noise, se_noise)  # se conservative: the pairs share y
    return {
        "w2": m_push,
        "w2_se": se_push,
        "noise_w2": m_noise,
        "noise_w2_se": se_noise,
        "w2_ratio": ratio,
        "w2_ratio_se": ratio_err,
        "n_eval": int(n),
        "eval_repeats": int(repeats),
    }
