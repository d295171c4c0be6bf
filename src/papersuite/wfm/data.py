"""Gaussian data sets for BW flow matching (docs/papers/wfm.md, "Data: Gaussians") and their .h5ad layout.

On-disk layout (one AnnData per data set, one observation per Gaussian, X empty):
  obsm["mean"] (n, d) float64, obsm["cov"] (n, d·d) float64 (row-major flattened Σ),
  obs["split"] categorical {"train", "test"}, obs["label"] where the source has one (pbmc68k bulk_labels),
  uns["wfm"] = {dataset, params (as JSON), seed, d, source_sha256 (pbmc68k)}.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from papersuite.core.io import atomic_path, sha256_file

if TYPE_CHECKING:  # torch is imported where it is used: the prepare jobs do not need it
    import torch
    from torch import Tensor

__all__ = [
    "spiral_gaussians",
    "pbmc68k_gaussians",
    "pbmc68k_path",
    "knn_gaussians",
    "split_indices",
    "sample_noise",
    "noise_stats",
    "write_gaussians",
    "read_gaussians",
    "read_gaussians_anndata",
    "prepare_gaussians",
]

log = logging.getLogger("papersuite.wfm.data")


def spiral_gaussians(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Spiral set of the authors' tutorial: t = √linspace(0,10,n+5)[5:], θ = 2πt, m = t(cos θ, sin θ),
    Σ = 0.01·(0.9 uuᵀ + 0.1 u⊥u⊥ᵀ) with u the unit vector pointing to the origin. Returns (n,2), (n,2,2)."""
    t = np.sqrt(np.linspace(0.0, 10.0, n + 5))[5:]
    theta = 2.0 * np.pi * t
    means = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)  # (n, 2)
    u = -means / np.linalg.norm(means, axis=1, keepdims=True)  # (n, 2), towards the origin
    u_perp = np.stack([-u[:, 1], u[:, 0]], axis=1)
    covs = 0.01 * (0.9 * u[:, :, None] * u[:, None, :] + 0.1 * u_perp[:, :, None] * u_perp[:, None, :])
    return means, covs


def knn_gaussians(coords: np.ndarray, k: int, dims: int, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian per row of coords (n, D): mean and covariance of its k nearest neighbours (self included,
    Euclidean in all D dims), restricted to the first `dims` coordinates, + ridge·I.

    The covariance is the population one (divide by k), as a moment of the empirical niche measure.
    Returns means (n, dims), covs (n, dims, dims)."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(coords).query(coords, k=[*range(1, k + 1)])  # (n, k) even for k = 1; first is the point itself
    nb = coords[idx][:, :, :dims]  # (n, k, dims)
    means = nb.mean(axis=1)
    centred = nb - means[:, None, :]
    covs = np.einsum("nki,nkj->nij", centred, centred) / k + ridge * np.eye(dims)
    return means, covs


def pbmc68k_path() -> Path:
    """The pbmc68k_reduced .h5ad shipped inside the scanpy wheel."""
    from papersuite.core.download import package_file

    return package_file("scanpy", "datasets/10x_pbmc68k_reduced.h5ad")


def pbmc68k_gaussians(
    k: int = 16, dims: int = 5, ridge: float = 1e-3, path: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """pbmc68k_reduced Gaussians: kNN (k) in the 50-PC X_pca space, PCs 1..dims divided by one global
    std (of the pooled PC 1..dims coordinates of all cells), + ridge·I. `path`: the .h5ad (default: scanpy's copy).

    Returns means (700, dims), covs (700, dims, dims), bulk_labels (700,) and the file's sha256."""
    import anndata as ad

    path = Path(path) if path is not None else pbmc68k_path()
    adata = ad.read_h5ad(path)
    for key in ("X_pca",):
        if key not in adata.obsm:
            raise ValueError(f"{path}: no obsm[{key!r}]; expected scanpy's pbmc68k_reduced")
    if "bulk_labels" not in adata.obs:
        raise ValueError(f"{path}: no obs['bulk_labels']; expected scanpy's pbmc68k_reduced")
    pca = np.asarray(adata.obsm["X_pca"], dtype=np.float64)  # (700, 50)
    pca = pca / pca[:, :dims].std()  # one global scale; kNN is invariant to it
    means, covs = knn_gaussians(pca, k=k, dims=dims, ridge=ridge)
    return means, covs, np.asarray(adata.obs["bulk_labels"].astype(str)), sha256_file(path)


def split_indices(n: int, n_train: int, seed: int) -> np.ndarray:
    """Boolean train mask (n,) with exactly n_train True entries, a seeded random permutation."""
    if not 0 < n_train < n:
        raise ValueError(f"n_train must be in (0, {n}), got {n_train}")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_train]] = True
    return mask


def noise_stats(means: Tensor, covs: Tensor) -> tuple[float, float]:
    """(std of all mean coordinates pooled, mean diagonal entry of the covariances) of the training data."""
    import torch

    return float(means.std()), float(torch.diagonal(covs, dim1=-2, dim2=-1).mean())


def sample_noise(
    n: int,
    d: int,
    mean_std: float,
    cov_scale: float,
    generator: torch.Generator | None = None,
    mean_scale: float = 1.0,
    df_scale: int = 5,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Source Gaussians (as the authors' code): m ~ N(0, (mean_std·mean_scale)² I), Σ = c·G Gᵀ/(df) with G ∈ R^{d×df},
    df = df_scale·d, iid N(0,1) (Wishart, mean c·I), c = cov_scale; dtype float32 unless given. Returns (n, d),
    (n, d, d)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    df = df_scale * d
    m = torch.randn(n, d, generator=generator, dtype=dtype) * (mean_std * mean_scale)
    G = torch.randn(n, d, df, generator=generator, dtype=dtype)
    return m, cov_scale * (G @ G.transpose(-1, -2)) / df


def write_gaussians(
    path: str | Path,
    means: np.ndarray,
    covs: np.ndarray,
    train: np.ndarray,
    labels: np.ndarray | None = None,
    meta: dict | None = None,
) -> None:
    """Write Gaussians as AnnData .h5ad (layout in the module docstring), atomically."""
    import anndata as ad
    import pandas as pd

    n, d = means.shape
    if covs.shape != (n, d, d) or train.shape != (n,):
        raise ValueError(f"shapes disagree: means {means.shape}, covs {covs.shape}, train {train.shape}")
    obs = pd.DataFrame(index=[f"g{i}" for i in range(n)])
    obs["split"] = pd.Categorical(np.where(train, "train", "test"), categories=["train", "test"])
    if labels is not None:
        obs["label"] = pd.Categorical(labels)
    adata = ad.AnnData(
        obs=obs, obsm={"mean": np.asarray(means, np.float64), "cov": np.asarray(covs, np.float64).reshape(n, d * d)}
    )
    adata.uns["wfm"] = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in {"d": d, **(meta or {})}.items()}
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_gaussians(path: str | Path, split: str | None = None) -> dict:
    """Read a Gaussians .h5ad: {"means" (n,d), "covs" (n,d,d), "train" bool (n,), "labels" or None, "uns"}.
    With split="train"/"test" only those rows are returned. Read with h5py alone (h5ad.py); a layout it does not
    decode is read with anndata, with the same result."""
    from .h5ad import H5adLayoutError, LightH5ad, category_values

    try:
        with LightH5ad(path) as f:
            if not (f.has("obsm/mean") and f.has("obsm/cov") and f.has("obs/split")):
                raise ValueError(f"{path}: not a wfm Gaussians file (needs obsm mean/cov and obs split)")
            splits = category_values(*f.categorical("split"))
            rows = np.ones(len(splits), bool) if split is None else splits == split
            means = np.asarray(f.obsm("mean"), dtype=np.float64)[rows]
            n, d = means.shape
            return {
                "means": means,
                "covs": np.asarray(f.obsm("cov"), dtype=np.float64)[rows].reshape(n, d, d),
                "train": np.asarray(splits[rows] == "train", dtype=bool),
                "labels": category_values(*f.categorical("label"))[rows] if f.has("obs/label") else None,
                "uns": f.uns("wfm"),
            }
    except H5adLayoutError:
        return read_gaussians_anndata(path, split)


def read_gaussians_anndata(path: str | Path, split: str | None = None) -> dict:
    """read_gaussians through anndata (any layout anndata reads)."""
    import anndata as ad

    adata = ad.read_h5ad(path)
    if "mean" not in adata.obsm or "cov" not in adata.obsm or "split" not in adata.obs:
        raise ValueError(f"{path}: not a wfm Gaussians file (needs obsm mean/cov and obs split)")
    if split is not None:
        adata = adata[adata.obs["split"] == split]
    means = np.asarray(adata.obsm["mean"], dtype=np.float64)
    n, d = means.shape
    return {
        "means": means,
        "covs": np.asarray(adata.obsm["cov"], dtype=np.float64).reshape(n, d, d),
        "train": np.asarray(adata.obs["split"] == "train"),
        "labels": np.asarray(adata.obs["label"].astype(str)) if "label" in adata.obs else None,
        "uns": dict(adata.uns.get("wfm", {})),
    }


def prepare_gaussians(out_h5ad: str | Path, params: dict, seed: int, source: str | Path | None = None) -> None:
    """Build a Gaussians data set and write it as .h5ad (rule wfm_prepare_gaussians); `source` is the raw
    pbmc68k .h5ad (default: scanpy's copy).

    params["dataset"] = "spiral": n (128), n_train (default 3/4 of n);
    params["dataset"] = "pbmc68k": k (16), dims (5), ridge (1e-3), n_train (560 of 700).
    The seed only drives the train/test split."""
    dataset = params.get("dataset")
    labels, meta = None, {"dataset": dataset, "params": dict(params), "seed": int(seed)}
    if dataset == "spiral":
        n = int(params.get("n", 128))
        means, covs = spiral_gaussians(n)
        n_train = int(params.get("n_train", (3 * n) // 4))
    elif dataset == "pbmc68k":
        means, covs, labels, sha = pbmc68k_gaussians(
            int(params.get("k", 16)), int(params.get("dims", 5)), float(params.get("ridge", 1e-3)), path=source
        )
        n_train = int(params.get("n_train", 560))
        meta["source_sha256"] = sha
    else:
        raise ValueError(f"params['dataset'] must be 'spiral' or 'pbmc68k', got {dataset!r}")
    train = split_indices(len(means), n_train, seed)
    write_gaussians(out_h5ad, means, covs, train, labels, meta)
    log.info("wrote %d %s Gaussians (d=%d, %d train) to %s", len(means), dataset, means.shape[1], n_train, out_h5ad)
