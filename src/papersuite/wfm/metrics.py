"""Point-cloud metrics (docs/papers/wfm.md, "Metrics"), on padded clouds: only points of positive weight count,
and every cloud is the uniform measure on its real points (whatever its stored weights say).

Conventions pinned here:
  chamfer — CD(X,Y) = mean_x min_y ‖x−y‖² + mean_y min_x ‖x−y‖² (squared distances, two-way, means);
  w2      — sqrt of the exact OT cost with squared-Euclidean ground cost (POT `emd2`);
  emd     — the exact OT cost with *unsquared* Euclidean ground cost (POT `emd2`), i.e. for equal sizes the
            min over bijections of mean ‖x − σ(x)‖: the PointFlow/PVD convention (not the authors' later
            entropic approximation);
  1-NNA   — leave-one-out 1-nearest-neighbour accuracy of telling generated from reference clouds (ideal 0.5);
  MMD     — minimum matching distance: mean over reference clouds of the distance to the nearest generated one;
  COV     — fraction of reference clouds that are the nearest reference of at least one generated cloud.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["chamfer", "w2", "emd", "pairwise", "one_nna", "mmd", "coverage", "nearest_cloud", "nearest_w2", "METRICS"]

CloudSet = tuple[np.ndarray | Tensor, np.ndarray | Tensor]  # points (n, N, d), weights (n, N)


def chamfer(x: Tensor, wx: Tensor, y: Tensor, wy: Tensor) -> Tensor:
    """Squared two-way Chamfer distance of x (..., N, d) and y (..., M, d) with weights/masks (..., N),
    (..., M); batched over the leading dims (broadcasting). Returns (...)."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    mx, my = torch.as_tensor(wx) > 0, torch.as_tensor(wy) > 0
    D = ((x.unsqueeze(-2) - y.unsqueeze(-3)) ** 2).sum(-1)  # (..., N, M)
    D = D.masked_fill(~(mx.unsqueeze(-1) & my.unsqueeze(-2)), torch.inf)
    to_y = D.amin(-1).masked_fill(~mx, 0.0).sum(-1) / mx.sum(-1)  # mean over real x of the nearest y
    to_x = D.amin(-2).masked_fill(~my, 0.0).sum(-1) / my.sum(-1)
    return to_y + to_x


def _real(points: np.ndarray | Tensor, weights: np.ndarray | Tensor) -> np.ndarray:
    points, weights = np.asarray(points, dtype=np.float64), np.asarray(weights)
    return points[weights > 0]


def _exact_ot(x: np.ndarray, y: np.ndarray, squared: bool) -> float:
    """Exact OT cost between the uniform measures on x (n, d) and y (m, d): an assignment for n = m (exact for
    uniform weights, 20× faster), POT's network simplex otherwise."""
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)  # (n, m)
    if not squared:
        M = np.sqrt(M)
    if len(x) == len(y):
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(M)
        return float(M[rows, cols].mean())
    import ot

    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    # uniform weights sum to 1 by construction; skipping the marginal check and dual centring halves the time
    return float(ot.emd2(a, b, M, center_dual=False, check_marginals=False))


def w2(x: np.ndarray | Tensor, wx: np.ndarray | Tensor, y: np.ndarray | Tensor, wy: np.ndarray | Tensor) -> float:
    """W2 between the uniform measures on the real points of two clouds: sqrt of exact OT, ‖·‖² cost."""
    return float(np.sqrt(max(_exact_ot(_real(x, wx), _real(y, wy), squared=True), 0.0)))


def emd(x: np.ndarray | Tensor, wx: np.ndarray | Tensor, y: np.ndarray | Tensor, wy: np.ndarray | Tensor) -> float:
    """EMD (PointFlow convention): exact OT cost between the uniform measures on the real points, with the
    unsquared Euclidean ground cost (= W1). Not square-rooted, not entropic."""
    return _exact_ot(_real(x, wx), _real(y, wy), squared=False)


METRICS: dict[str, Callable] = {"chamfer": chamfer, "w2": w2, "emd": emd}


def pairwise(metric: str, set_a: CloudSet, set_b: CloudSet | None = None, chunk_elems: int = 1 << 24) -> np.ndarray:
    """D (n_a, n_b) of `metric` ("chamfer", "w2", "emd") between every cloud of set_a and of set_b, each a
    (points (n, N, d), weights (n, N)) pair; set_b None means set_a against itself. Chamfer is batched in torch
    (chunks of ≤ chunk_elems distances); the OT metrics solve one exact LP per pair (POT, ≈ 30 µs for two 32-point
    clouds), and against itself only for i < j: the OT cost is symmetric (to rounding) and vanishes on the
    diagonal."""
    if set_b is None:
        if metric != "chamfer":
            return _pairwise_ot_self(metric, set_a)
        set_b = set_a
    pa, wa = set_a
    pb, wb = set_b
    if metric == "chamfer":
        pa, wa, pb, wb = (torch.as_tensor(np.asarray(t)) for t in (pa, wa, pb, wb))
        na, N = wa.shape
        nb, M = wb.shape
        step = max(1, chunk_elems // max(1, nb * N * M))
        rows = [chamfer(pa[i : i + step, None], wa[i : i + step, None], pb[None], wb[None]) for i in range(0, na, step)]
        return torch.cat(rows).numpy()
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    squared = metric == "w2"
    real_a = [_real(p, w) for p, w in zip(pa, wa, strict=True)]
    real_b = [_real(p, w) for p, w in zip(pb, wb, strict=True)]
    D = np.array([[_exact_ot(x, y, squared) for y in real_b] for x in real_a]).reshape(len(real_a), len(real_b))
    return np.sqrt(np.maximum(D, 0.0)) if squared else D


def _pairwise_ot_self(metric: str, clouds: CloudSet) -> np.ndarray:
    """pairwise(metric, clouds, clouds) for an OT metric: the upper triangle solved, mirrored, zero diagonal."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    squared = metric == "w2"
    real = [_real(p, w) for p, w in zip(*clouds, strict=True)]
    D = np.zeros((len(real), len(real)))
    for i, x in enumerate(real):
        for j in range(i + 1, len(real)):
            D[i, j] = D[j, i] = _exact_ot(x, real[j], squared)
    return np.sqrt(np.maximum(D, 0.0)) if squared else D


def one_nna(D_gg: np.ndarray, D_rr: np.ndarray, D_gr: np.ndarray) -> float:
    """1-NNA: pool generated (n_g) and reference (n_r) clouds, label each by the set of its nearest *other*
    cloud, return the accuracy. 0.5 is ideal; 1.0 = perfectly separable sets; below 0.5 = generated clouds
    sit on top of reference clouds (memorisation; 0.0 for an exact copy). Ties go to the lower pooled index
    (generated first), as numpy's argmin."""
    D_gg, D_rr, D_gr = (np.asarray(D, dtype=np.float64) for D in (D_gg, D_rr, D_gr))
    n_g, n_r = D_gr.shape
    if D_gg.shape != (n_g, n_g) or D_rr.shape != (n_r, n_r):
        raise ValueError(f"shapes disagree: D_gg {D_gg.shape}, D_rr {D_rr.shape}, D_gr {D_gr.shape}")
    pooled = np.block([[D_gg, D_gr], [D_gr.T, D_rr]])  # (n_g + n_r, n_g + n_r)
    np.fill_diagonal(pooled, np.inf)  # leave-one-out
    is_gen = np.r_[np.ones(n_g, bool), np.zeros(n_r, bool)]
    return float((is_gen[pooled.argmin(axis=1)] == is_gen).mean())


def mmd(D_gr: np.ndarray) -> float:
    """Minimum matching distance: mean over reference clouds (columns) of the nearest generated distance."""
    return float(np.asarray(D_gr).min(axis=0).mean())


def coverage(D_gr: np.ndarray) -> float:
    """COV: fraction of reference clouds (columns) that are the nearest reference of ≥ 1 generated cloud."""
    D_gr = np.asarray(D_gr)
    return float(len(np.unique(D_gr.argmin(axis=1))) / D_gr.shape[1])


def _w2_sq_lower_bound(real_a: list[np.ndarray], real_b: list[np.ndarray]) -> np.ndarray:
    """(n_a, n_b) lower bounds of W2²: W2² = ‖m_x − m_y‖² + W2²(centred) and, by the triangle inequality through
    δ_0, W2(centred) ≥ |r_x − r_y| with r = sqrt(E‖x − m‖²). In 2-D the tighter Gelbrich bound instead: W2 between
    any two measures ≥ W2 between the Gaussians of their means and covariances A, B, whose covariance part
    Tr A + Tr B − 2 Tr (A^½BA^½)^½ has the closed form Tr (A^½BA^½)^½ = sqrt(Tr AB + 2 sqrt(det A det B)) for 2×2
    matrices (fewer exact OT problems in nearest_cloud's search; the same result)."""

    def moments(real: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        means = np.stack([x.mean(0) for x in real])
        radii = np.array([np.sqrt(((x - x.mean(0)) ** 2).sum(-1).mean()) for x in real])
        return means, radii

    (ma, ra), (mb, rb) = moments(real_a), moments(real_b)
    mean_part = ((ma[:, None] - mb[None]) ** 2).sum(-1)
    if ma.shape[1] != 2:
        return mean_part + (ra[:, None] - rb[None]) ** 2
    ca, cb = _covariances(real_a), _covariances(real_b)  # (n, 2, 2), population
    det_a, det_b = np.linalg.det(ca).clip(0.0), np.linalg.det(cb).clip(0.0)
    tr_ab = np.einsum("aij,bji->ab", ca, cb)
    cross = np.sqrt((tr_ab + 2.0 * np.sqrt(det_a[:, None] * det_b[None])).clip(0.0))
    cov_part = np.trace(ca, axis1=1, axis2=2)[:, None] + np.trace(cb, axis1=1, axis2=2)[None] - 2.0 * cross
    return mean_part + np.maximum(cov_part, (ra[:, None] - rb[None]) ** 2)


def _covariances(real: list[np.ndarray]) -> np.ndarray:
    """Population covariance (n, d, d) of each cloud's real points."""
    return np.stack([np.cov(x.T, bias=True).reshape(x.shape[1], x.shape[1]) for x in real])


def nearest_cloud(generated: CloudSet, reference: CloudSet) -> tuple[np.ndarray, np.ndarray]:
    """Index (n,) of each generated cloud's nearest reference cloud under exact W2, and that W2 (n,).

    Exact branch and bound: reference clouds are visited in increasing order of a W2² lower bound and the search
    stops once the bound exceeds the best W2² found (≈ 10× fewer LPs). Ties go to the lowest reference index,
    as np.argmin over pairwise("w2", ...) would."""
    real_g = [_real(p, w) for p, w in zip(*generated, strict=True)]
    real_r = [_real(p, w) for p, w in zip(*reference, strict=True)]
    key = (_digest(real_g), _digest(real_r))
    if key not in _NEAREST_CACHE:  # an evaluation asks some pairs of sets twice (memorisation and label recovery)
        if len(_NEAREST_CACHE) >= 8:
            _NEAREST_CACHE.pop(next(iter(_NEAREST_CACHE)))
        _NEAREST_CACHE[key] = _nearest_search(real_g, real_r)
    best_idx, best_w2 = _NEAREST_CACHE[key]
    return best_idx.copy(), best_w2.copy()


_NEAREST_CACHE: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}


def _digest(real: list[np.ndarray]) -> str:
    """A digest of a list of point arrays (shapes and float64 values)."""
    import hashlib

    h = hashlib.sha1()
    for x in real:
        h.update(str(x.shape).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def _nearest_search(real_g: list[np.ndarray], real_r: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """nearest_cloud's branch and bound on lists of real points."""
    bound = _w2_sq_lower_bound(real_g, real_r)  # (n_g, n_r)
    best_idx = np.empty(len(real_g), dtype=np.int64)
    best_sq = np.empty(len(real_g))
    for i, x in enumerate(real_g):
        best, arg = np.inf, -1
        for j in np.lexsort((np.arange(len(real_r)), bound[i])):
            if bound[i, j] > best * (1 + 1e-9) + 1e-12:  # slack: the bound and W2² round differently
                break
            w = max(_exact_ot(x, real_r[j], squared=True), 0.0)
            if w < best or (w == best and j < arg):
                best, arg = w, j
        best_idx[i], best_sq[i] = arg, best
    return best_idx, np.sqrt(best_sq)


def nearest_w2(generated: CloudSet, reference: CloudSet) -> float:
    """Mean over generated clouds of the W2 to the nearest reference cloud (the tiny digits score; the bar is
    generated < 0.85 × the same score of the noise clouds)."""
    return float(nearest_cloud(generated, reference)[1].mean())
