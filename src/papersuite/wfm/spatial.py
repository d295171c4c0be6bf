"""Niches of a spatial AnnData: expression preprocessing, per-slice spatial kNN, the scaled niche clouds.

A niche is the uniform point cloud of the expression representations (PCs) of a centre cell's k nearest
spatial neighbours, self excluded, found within the centre's own slice; all niches are divided by one global
max |value| (the WFM authors' MERFISH preprocessing; docs/papers/wfm.md, "Data: niches"). The same code path
builds the MERFISH niches (merfish.py) and those of the semi-synthetic tissue (tissue.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # anndata/scanpy/squidpy are imported lazily: squidpy alone takes seconds to import
    import anndata as ad

__all__ = ["NicheSet", "preprocess_expression", "spatial_knn", "extract_niches"]


class NicheSet(NamedTuple):
    """Niches around the centre cells: clouds already divided by `scale`."""

    niches: np.ndarray  # (n_centres, k, d) float32
    scale: float  # the global max |value| over the niches of *every* cell, before the division
    centres: np.ndarray  # (n_centres,) int row indices of the centre cells in the AnnData
    neighbours: np.ndarray  # (n_centres, k) int row indices of the niche members, nearest first


# --- expression and neighbours --------------------------------------------------------------------------


def _expression_kind(X) -> str:
    """'counts' if X is non-negative integer-valued, 'lognorm' if expm1(X) has a constant row sum (already
    normalize_total + log1p, as in the authors' later processed atlas); anything else is an error."""
    import scipy.sparse as sp

    probe = X[: min(5000, X.shape[0])]
    probe = np.asarray(probe.todense() if sp.issparse(probe) else probe, dtype=np.float64)
    if probe.min() < 0:
        raise ValueError("X has negative values: neither raw counts nor log1p-normalised expression")
    if np.allclose(probe, np.rint(probe), atol=1e-6):
        return "counts"
    sums = np.expm1(probe).sum(axis=1)
    if sums.min() > 0 and sums.std() / sums.mean() < 1e-3:
        return "lognorm"
    raise ValueError("X is neither integer counts nor library-normalised log1p data (expm1 row sums vary)")


def preprocess_expression(adata: ad.AnnData, n_pcs: int = 16, expression: str = "auto", seed: int = 0) -> dict:
    """The authors' MERFISH preprocessing, in place: normalize_total to the median library size, log1p, PCA(n_pcs)
    fit on all cells → adata.obsm["X_pca"] (n, n_pcs). expression="auto" detects already-normalised log1p X and
    then only runs the PCA (applying log1p twice would silently change the data); "counts" / "lognorm" force a
    choice.
    Returns {"expression": kind, "target_sum": median library size or None}."""
    import scanpy as sc

    if expression not in ("auto", "counts", "lognorm"):
        raise ValueError(f"expression must be 'auto', 'counts' or 'lognorm', got {expression!r}")
    if np.issubdtype(adata.X.dtype, np.integer):  # normalize_total divides in place: needs floats
        adata.X = adata.X.astype(np.float32)
    kind = _expression_kind(adata.X) if expression == "auto" else expression
    target_sum = None
    if kind == "counts":
        lib = np.asarray(adata.X.sum(axis=1)).ravel()
        target_sum = float(np.median(lib[lib > 0]))  # what normalize_total(target_sum=None) uses
        sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
    if not 0 < n_pcs < min(adata.shape):
        raise ValueError(f"n_pcs must be in (0, {min(adata.shape)}) for X of shape {adata.shape}, got {n_pcs}")
    sc.pp.pca(adata, n_comps=n_pcs, random_state=seed)
    return {"expression": kind, "target_sum": target_sum}


def _check_spatial_inputs(adata: ad.AnnData, k: int, batch_key: str, spatial_key: str) -> None:
    """Fail early, naming the key, when the neighbour search cannot run."""
    if spatial_key not in adata.obsm:
        raise KeyError(f"obsm[{spatial_key!r}] (spatial coordinates) is missing")
    if batch_key not in adata.obs:
        raise KeyError(f"obs[{batch_key!r}] (slice of each cell) is missing")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sizes = adata.obs[batch_key].astype(str).value_counts()
    if sizes.min() <= k:
        raise ValueError(
            f"slice {sizes.idxmin()!r} of obs[{batch_key!r}] has {sizes.min()} cells, "
            f"needs more than k = {k} for k neighbours other than the centre"
        )


def spatial_knn(adata: ad.AnnData, k: int, batch_key: str, spatial_key: str = "spatial") -> np.ndarray:
    """Indices (n, k) of each cell's k nearest spatial neighbours within its own slice, self excluded, nearest
    first (ties by index) — the niche definition, via squidpy's per-library kNN graph.

    squidpy (KNNBuilder) fits sklearn NearestNeighbors per library (slice) and queries kneighbors() without X,
    which excludes each point itself; the per-library graphs are block-diagonal, so no edge crosses slices.
    We read the neighbours from the connectivities and order them by the stored distances."""
    import anndata as ad
    import pandas as pd
    import squidpy as sq

    _check_spatial_inputs(adata, k, batch_key, spatial_key)
    n = adata.n_obs
    # a light AnnData (no X) so squidpy neither copies the expression nor edits the caller's obs/obsp
    light = ad.AnnData(
        obs=pd.DataFrame(
            {"slice": pd.Categorical(adata.obs[batch_key].astype(str))}, index=pd.RangeIndex(n).astype(str)
        ),
        obsm={"spatial": np.asarray(adata.obsm[spatial_key], dtype=np.float64)},
    )
    knn = getattr(sq.gr, "spatial_neighbors_knn", None)  # squidpy >= 1.8; older: spatial_neighbors(generic)
    if knn is not None:
        graph = knn(light, library_key="slice", n_neighs=k, copy=True)
    else:
        graph = sq.gr.spatial_neighbors(light, coord_type="generic", n_neighs=k, library_key="slice", copy=True)
    conn, dist = (graph.connectivities, graph.distances) if hasattr(graph, "connectivities") else graph
    conn = conn.tocsr().copy()
    conn.eliminate_zeros()  # squidpy may store an explicit 0 diagonal (set_diag=False)
    counts = np.diff(conn.indptr)
    if np.any(counts != k):
        raise RuntimeError(f"squidpy returned {counts.min()}..{counts.max()} neighbours per cell, expected k = {k}")
    rows = np.repeat(np.arange(n), k)
    cols = conn.indices.astype(np.int64)
    d = np.asarray(dist.tocsr()[rows, cols]).ravel()  # (n·k,) spatial distances of the graph's edges
    order = np.lexsort((cols, d, rows))  # by row, then distance, then index (deterministic ties)
    idx = cols[order].reshape(n, k)
    if np.any(idx == np.arange(n)[:, None]):
        raise RuntimeError("a cell is its own neighbour: the niche must exclude the centre")
    return idx


def extract_niches(
    adata: ad.AnnData,
    k: int,
    batch_key: str,
    rep: str = "X_pca",
    centre_mask: np.ndarray | None = None,
    spatial_key: str = "spatial",
) -> NicheSet:
    """Niches: rows of obsm[rep] of the k nearest spatial neighbours of each centre (self excluded,
    per slice), divided by the global max |value| over the niches of every cell (computed before restricting
    to the centres, as the authors scale all niches and then subset)."""
    if rep not in adata.obsm:
        raise KeyError(f"obsm[{rep!r}] (expression representation of the niches) is missing")
    feats = np.asarray(adata.obsm[rep], dtype=np.float32)  # (n, d)
    idx = spatial_knn(adata, k, batch_key, spatial_key)  # (n, k)
    scale = float(np.abs(feats[np.unique(idx)]).max())  # max |·| over every cell's niche
    if not scale > 0:
        raise ValueError(f"obsm[{rep!r}] is zero on every niche member: cannot scale by max |value|")
    if centre_mask is None:
        centres = np.arange(adata.n_obs)
    else:
        centre_mask = np.asarray(centre_mask, dtype=bool)
        if centre_mask.shape != (adata.n_obs,):
            raise ValueError(f"centre_mask must have shape ({adata.n_obs},), got {centre_mask.shape}")
        centres = np.flatnonzero(centre_mask)
    niches = feats[idx[centres]] / np.float32(scale)  # (n_centres, k, d)
    return NicheSet(niches.astype(np.float32), scale, centres, idx[centres])
