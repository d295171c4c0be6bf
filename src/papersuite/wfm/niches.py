"""Spatial niches for Wasserstein flow matching (spec wfm_mfm.md A2 MERFISH row, A5.3, A6, part C).

A niche is the uniform point cloud of the expression representations (PCs) of a centre cell's k nearest
spatial neighbours, self excluded, found within the centre's own slice; all niches are divided by one global
max |value| (A2). Two sources:
  - MERFISH mouse motor cortex (`st_data.h5ad` of the WFM authors; full scale only, no offline copy exists):
    normalize_total (median library size) → log1p → PCA(16) on all cells, k = 16 niches around Sst interneurons,
    label = Sst subtype;
  - a SEMI-SYNTHETIC tissue (tiny scale, A5.3): the 700 real pbmc68k_reduced cells of the scanpy wheel, real
    expression (X_pca PCs 1..n_pcs) but synthetic 2-D positions: n_domains layered spatial domains of distinct
    bulk_labels composition on 1–2 synthetic slices; k = 8 niches around every cell, label = the centre's
    domain (or its bulk_labels).

On-disk layout (`write_niches`; one AnnData per data set, one observation per niche, X empty):
  obsm["niche"] (n, k·d) float32 — the (k, d) cloud flattened row-major (neighbours ordered by distance),
  obs["label"] categorical (categories = label names in a fixed order), obs["split"] categorical {train, test},
  obs["batch"] (the centre's slice) and obs["centre"] (the centre cell's obs name),
  uns["wfm"] = {k, d, scale, label_names, dataset, semi_synthetic, source_sha256, seed, params (JSON), ...}.

Evaluation (A5.3 known answer "label recovery > 2× chance"): every generated niche is classified by the label
of its nearest real niche under exact W2 between uniform clouds. For equal-size uniform clouds the OT plan is a
permutation (Birkhoff), so W2² = min over assignments of the mean squared distance — solved exactly by
`scipy.optimize.linear_sum_assignment` (the same value as POT `ot.emd2`, ~10× faster per pair).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from papersuite.core.io import atomic_path, sha256_file

if TYPE_CHECKING:  # anndata/scanpy/squidpy are imported lazily: squidpy alone takes seconds to import
    import anndata as ad

__all__ = [
    "NicheSet",
    "preprocess_expression",
    "spatial_knn",
    "extract_niches",
    "merfish_niches",
    "semisynthetic_tissue",
    "semisynthetic_niches",
    "write_niches",
    "read_niches",
    "prepare_niches",
    "nearest_niche",
    "label_recovery",
    "chance_level",
    "noise_niches",
    "recovery_references",
]

log = logging.getLogger("papersuite.wfm.niches")

MERFISH_DEFAULTS = {
    "k": 16,
    "n_pcs": 16,
    "batch_key": "batch",
    "centre_key": "cell_type",
    "centre_value": "Sst",
    "label_key": "sst_label",
    "expression": "auto",
    "split": "random",
    "n_train": None,
}
# concentration 0.05 (measured, seeds 0–9, k = 8, slice split): real test niches → nearest train niche recover the
# domain 0.74–0.86 (mean 0.80; chance 0.25, noise niches ≈ 0.25); 0.1 gives 0.61–0.81, 0.2 gives 0.55–0.76.
SEMISYNTHETIC_DEFAULTS = {
    "k": 8,
    "n_pcs": 8,
    "n_domains": 4,
    "n_slices": 2,
    "concentration": 0.05,
    "label": "domain",
    "split": "random",
    "n_train": None,
}
TRAIN_FRACTION = 0.8  # default share of niches in the train split when n_train is not given
_MISSING_LABELS = {"", "nan", "none", "na", "n/a"}  # label strings that mean "no label" (case-insensitive)


class NicheSet(NamedTuple):
    """Niches around the centre cells (spec A2): clouds already divided by `scale`."""

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
    """Spec A2, in place: normalize_total to the median library size, log1p, PCA(n_pcs) fit on all cells →
    adata.obsm["X_pca"] (n, n_pcs). expression="auto" detects already-normalised log1p X and then only runs
    the PCA (applying log1p twice would silently change the data); "counts" / "lognorm" force a choice.
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
    first (ties by index) — spec A2 niche definition, via squidpy's per-library kNN graph.

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
        raise RuntimeError("a cell is its own neighbour: the niche must exclude the centre (spec A2)")
    return idx


def extract_niches(
    adata: ad.AnnData,
    k: int,
    batch_key: str,
    rep: str = "X_pca",
    centre_mask: np.ndarray | None = None,
    spatial_key: str = "spatial",
) -> NicheSet:
    """Niches (spec A2): rows of obsm[rep] of the k nearest spatial neighbours of each centre (self excluded,
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


# --- MERFISH (full scale) -------------------------------------------------------------------------------


def _valid_labels(values) -> np.ndarray:
    """Boolean mask of entries that carry a label (not NaN / empty / 'nan')."""
    import pandas as pd

    s = pd.Series(values)
    return np.asarray(s.notna() & ~s.astype(str).str.strip().str.lower().isin(_MISSING_LABELS))


def merfish_niches(path_h5ad: str | Path, params: dict) -> dict:
    """MERFISH niches (spec A2): load the authors' processed `st_data.h5ad` (obs batch / cell_type / sst_label,
    obsm spatial), preprocess (normalize_total median, log1p, PCA 16 on all cells), niches of k = 16 spatial
    neighbours per slice around Sst interneurons (obs[centre_key] == centre_value with a label), label = Sst
    subtype. params: the MERFISH_DEFAULTS keys. Returns {niches (n,k,d), labels (n,) str, label_names,
    scale, batch (n,) str, centre (n,) obs names, meta}."""
    import anndata as ad

    p = {**MERFISH_DEFAULTS, **params}
    path = Path(path_h5ad)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MERFISH h5ad not found (full scale downloads st_data.h5ad)")
    adata = ad.read_h5ad(path)
    for key in (p["batch_key"], p["centre_key"], p["label_key"]):
        if key not in adata.obs:
            raise KeyError(f"{path}: obs[{key!r}] is missing (obs has {list(adata.obs.columns)})")
    if "spatial" not in adata.obsm:
        raise KeyError(f"{path}: obsm['spatial'] (cell coordinates) is missing (obsm has {list(adata.obsm)})")
    centre_type = adata.obs[p["centre_key"]].astype(str).to_numpy()
    has_label = _valid_labels(adata.obs[p["label_key"]])
    is_centre = (centre_type == str(p["centre_value"])) & has_label
    if not is_centre.any():
        raise ValueError(
            f"{path}: no cell has obs[{p['centre_key']!r}] == {p['centre_value']!r} and a "
            f"{p['label_key']!r}; {p['centre_key']} values: {sorted(set(centre_type))[:20]}"
        )
    info = preprocess_expression(adata, n_pcs=int(p["n_pcs"]), expression=p["expression"])
    ns = extract_niches(adata, int(p["k"]), p["batch_key"], rep="X_pca", centre_mask=is_centre)
    labels = adata.obs[p["label_key"]].astype(str).to_numpy()[ns.centres]
    return {
        "niches": ns.niches,
        "labels": labels,
        "label_names": sorted(set(labels)),
        "scale": ns.scale,
        "batch": adata.obs[p["batch_key"]].astype(str).to_numpy()[ns.centres],
        "centre": np.asarray(adata.obs_names)[ns.centres],
        "meta": {
            "dataset": "merfish",
            "semi_synthetic": False,
            "source_sha256": sha256_file(path),
            "source_file": path.name,
            "n_cells": int(adata.n_obs),
            **info,
        },
    }


# --- semi-synthetic tissue (tiny scale) -----------------------------------------------------------------


def _pbmc68k(path: str | Path | None = None) -> tuple[ad.AnnData, str]:
    """pbmc68k_reduced (`path`, default the scanpy wheel's copy) and the file's sha256 (as data.pbmc68k_gaussians).

    Its X (700 × 765 highly variable genes) is log1p-normalised expression scaled per gene (z-scored, max 10 →
    values −2..28); raw.X holds the log1p-normalised values; obsm X_pca (50 PCs) is the PCA of X."""
    import anndata as ad

    from .data import pbmc68k_path

    path = Path(path) if path is not None else pbmc68k_path()
    adata = ad.read_h5ad(path)
    for key, where in (("X_pca", adata.obsm), ("bulk_labels", adata.obs)):
        if key not in where:
            raise ValueError(f"{path}: no {key!r}; expected scanpy's pbmc68k_reduced")
    return adata, sha256_file(path)


def _balanced_domains(
    cell_labels: np.ndarray, n_domains: int, concentration: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Domain of each cell (n,) and the label→domain preferences q (n_labels, n_domains).

    Each label l draws q_l ~ Dirichlet(concentration·1): small concentration → a label concentrates in few
    domains → domains of distinct composition. Cells then get domains by maximising Σ log q_{l(c),d} + Gumbel
    noise under equal domain sizes (Hungarian on cells × domain slots): a perturb-and-MAP draw that keeps the
    domains balanced (chance = 1/n_domains) and uses every real cell exactly once."""
    from scipy.optimize import linear_sum_assignment

    names, codes = np.unique(cell_labels, return_inverse=True)
    q = rng.dirichlet(np.full(n_domains, concentration), size=len(names))  # (L, D)
    n = len(cell_labels)
    score = np.log(q[codes] + 1e-12) + rng.gumbel(size=(n, n_domains))  # (n, D)
    slot_domain = np.arange(n) % n_domains  # (n,) domain of each slot: sizes differ by at most 1
    _, slot = linear_sum_assignment(-score[:, slot_domain])
    return slot_domain[slot], q


def _layered_positions(domain: np.ndarray, n_domains: int, rng: np.random.Generator) -> np.ndarray:
    """Positions (n, 2) in the unit square: domains are horizontal layers (cortex-like) stacked in order, each
    layer's height ∝ its cell count so the density is uniform; cells uniform within their layer."""
    counts = np.bincount(domain, minlength=n_domains)
    edges = np.concatenate([[0.0], np.cumsum(counts) / len(domain)])  # (D+1,) layer boundaries in y
    x = rng.uniform(0.0, 1.0, len(domain))
    y = edges[domain] + rng.uniform(0.0, 1.0, len(domain)) * (edges[domain + 1] - edges[domain])
    return np.stack([x, y], axis=1)


def semisynthetic_tissue(
    seed: int,
    n_domains: int = 4,
    n_slices: int = 2,
    concentration: float = 0.05,
    n_pcs: int = 8,
    path: str | Path | None = None,
) -> ad.AnnData:
    """SEMI-SYNTHETIC tissue (spec A5.3): the 700 real pbmc68k_reduced cells (real expression) placed on
    synthetic 2-D slices of n_domains layered domains with distinct bulk_labels composition.

    Returns AnnData (700 cells, pbmc68k order): X the pbmc68k scaled log-expression, obsm["X_pca"] the real
    PCs 1..n_pcs, obsm["spatial"] (n, 2) synthetic positions (every slice in the same unit square, so only the
    per-slice search keeps slices apart), obs batch ("slice<i>"), domain ("domain<j>"), bulk_labels;
    uns["semisynthetic"] records that positions are synthetic, the seed, the parameters and the source sha256.
    `path`: the pbmc68k_reduced .h5ad (default: the scanpy wheel's copy)."""
    import anndata as ad
    import pandas as pd

    if n_domains < 2 or n_slices < 1 or concentration <= 0 or n_pcs < 1:
        raise ValueError(
            f"need n_domains >= 2, n_slices >= 1, concentration > 0, n_pcs >= 1; got "
            f"{n_domains}, {n_slices}, {concentration}, {n_pcs}"
        )
    pbmc, sha = _pbmc68k(path)
    if n_pcs > pbmc.obsm["X_pca"].shape[1]:
        raise ValueError(f"n_pcs = {n_pcs} exceeds the {pbmc.obsm['X_pca'].shape[1]} PCs of pbmc68k X_pca")
    rng = np.random.default_rng(seed)
    cell_type = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    domain, q = _balanced_domains(cell_type, n_domains, concentration, rng)
    # slices: each domain's cells dealt evenly across slices in random order, so every slice has every domain
    slice_of = np.empty(len(domain), dtype=np.int64)
    for d in range(n_domains):
        members = rng.permutation(np.flatnonzero(domain == d))
        slice_of[members] = np.arange(len(members)) % n_slices
    spatial = np.empty((len(domain), 2))
    for s in range(n_slices):
        cells = np.flatnonzero(slice_of == s)
        spatial[cells] = _layered_positions(domain[cells], n_domains, rng)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical([f"slice{s}" for s in slice_of], categories=[f"slice{s}" for s in range(n_slices)]),
            "domain": pd.Categorical(
                [f"domain{d}" for d in domain], categories=[f"domain{d}" for d in range(n_domains)]
            ),
            "bulk_labels": pd.Categorical(pbmc.obs["bulk_labels"]),
        },
        index=pbmc.obs_names.copy(),
    )
    tissue = ad.AnnData(
        X=np.asarray(pbmc.X),
        obs=obs,
        var=pbmc.var[[]].copy(),
        obsm={"X_pca": np.asarray(pbmc.obsm["X_pca"][:, :n_pcs], dtype=np.float32), "spatial": spatial},
    )
    composition = pd.crosstab(obs["domain"], obs["bulk_labels"])  # (D, L) cell counts per domain
    tissue.uns["semisynthetic"] = {
        "semi_synthetic": True,
        "description": "SEMI-SYNTHETIC: real pbmc68k_reduced expression (X, X_pca PCs 1..n_pcs), synthetic "
        "positions/domains/slices drawn from the seed",
        "source": "scanpy.datasets.pbmc68k_reduced (10x_pbmc68k_reduced.h5ad in the scanpy wheel)",
        "source_sha256": sha,
        "seed": int(seed),
        "n_domains": int(n_domains),
        "n_slices": int(n_slices),
        "concentration": float(concentration),
        "n_pcs": int(n_pcs),
        "label_domain_preference": q,
        "composition": json.dumps(composition.to_dict(orient="index")),
    }
    return tissue


def semisynthetic_niches(params: dict, seed: int, source: str | Path | None = None) -> dict:
    """Niches of the semi-synthetic tissue (spec A5.3): k = 8 neighbours around every cell (same squidpy code
    path as MERFISH), scaled by the global max |·|, label = the centre's domain or bulk_labels.
    `source`: the pbmc68k_reduced .h5ad (default: the scanpy wheel's copy). Returns the same dict as
    merfish_niches."""
    p = {**SEMISYNTHETIC_DEFAULTS, **params}
    tissue = semisynthetic_tissue(
        seed, int(p["n_domains"]), int(p["n_slices"]), float(p["concentration"]), int(p["n_pcs"]), path=source
    )
    ns = extract_niches(tissue, int(p["k"]), "batch", rep="X_pca")
    label_col = tissue.obs[p["label"]]
    labels = label_col.astype(str).to_numpy()[ns.centres]
    info = tissue.uns["semisynthetic"]
    return {
        "niches": ns.niches,
        "labels": labels,
        "label_names": [str(c) for c in label_col.cat.categories if str(c) in set(labels)],
        "scale": ns.scale,
        "batch": tissue.obs["batch"].astype(str).to_numpy()[ns.centres],
        "centre": np.asarray(tissue.obs_names)[ns.centres],
        "meta": {
            "dataset": "semisynthetic",
            "semi_synthetic": True,
            "description": info["description"],
            "source_sha256": info["source_sha256"],
            "composition": info["composition"],
        },
    }


# --- files ----------------------------------------------------------------------------------------------


def write_niches(
    path: str | Path,
    niches: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    train: np.ndarray,
    meta: dict | None = None,
    obs_extra: dict | None = None,
) -> None:
    """Write niches as AnnData .h5ad (layout in the module docstring), atomically. train: bool (n,) split mask;
    obs_extra: more per-niche columns (e.g. batch, centre)."""
    import anndata as ad
    import pandas as pd

    n, k, d = niches.shape
    labels = np.asarray(labels).astype(str)
    train = np.asarray(train, dtype=bool)
    if labels.shape != (n,) or train.shape != (n,):
        raise ValueError(f"shapes disagree: niches {niches.shape}, labels {labels.shape}, train {train.shape}")
    unknown = set(labels) - set(map(str, label_names))
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not in label_names {list(label_names)}")
    obs = pd.DataFrame(index=[f"niche{i}" for i in range(n)])
    obs["label"] = pd.Categorical(labels, categories=[str(x) for x in label_names])
    obs["split"] = pd.Categorical(np.where(train, "train", "test"), categories=["train", "test"])
    for key, values in (obs_extra or {}).items():
        obs[key] = np.asarray(values).astype(str)
    adata = ad.AnnData(obs=obs, obsm={"niche": np.ascontiguousarray(niches, dtype=np.float32).reshape(n, k * d)})
    uns = {"k": int(k), "d": int(d), "label_names": [str(x) for x in label_names], **(meta or {})}
    # h5ad cannot store None or nested parameter dicts in a way every reader agrees on: JSON them, drop None
    adata.uns["wfm"] = {key: (json.dumps(v) if isinstance(v, dict) else v) for key, v in uns.items() if v is not None}
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_niches(path: str | Path, split: str | None = None) -> dict:
    """Read a niches .h5ad: {"niches" (n,k,d) float32, "labels" (n,) str, "label_codes" (n,) int (index into
    label_names), "label_names", "train" bool (n,), "obs" DataFrame, "uns"}. split="train"/"test" selects rows."""
    import anndata as ad

    adata = ad.read_h5ad(path)
    uns = dict(adata.uns.get("wfm", {}))
    for key, where in (("niche", adata.obsm), ("label", adata.obs), ("split", adata.obs), ("k", uns), ("d", uns)):
        if key not in where:
            raise ValueError(f"{path}: not a wfm niches file ({key!r} missing)")
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        adata = adata[np.asarray(adata.obs["split"] == split)]
    k, d = int(uns["k"]), int(uns["d"])
    label_names = [str(x) for x in adata.obs["label"].cat.categories]
    return {
        "niches": np.asarray(adata.obsm["niche"], dtype=np.float32).reshape(adata.n_obs, k, d),
        "labels": np.asarray(adata.obs["label"].astype(str)),
        "label_codes": np.asarray(adata.obs["label"].cat.codes, dtype=np.int64),
        "label_names": label_names,
        "train": np.asarray(adata.obs["split"] == "train"),
        "obs": adata.obs.copy(),
        "uns": uns,
    }


def _check_params(params: dict) -> dict:
    """Validate prepare_niches params (fail early naming the key); returns them merged with the defaults."""
    dataset = params.get("dataset")
    defaults = {"merfish": {**MERFISH_DEFAULTS, "path": None}, "semisynthetic": SEMISYNTHETIC_DEFAULTS}.get(dataset)
    if defaults is None:
        raise ValueError(f"params['dataset'] must be 'semisynthetic' or 'merfish', got {dataset!r}")
    unknown = sorted(set(params) - set(defaults) - {"dataset"})
    if unknown:
        raise ValueError(f"unknown niches params {unknown} for dataset {dataset!r}; allowed {sorted(defaults)}")
    p = {**defaults, **params}
    positive = ["k", "n_pcs"] + (["n_domains", "n_slices"] if dataset == "semisynthetic" else [])
    for key in positive:
        if not isinstance(p[key], (int, np.integer)) or isinstance(p[key], bool) or p[key] < 1:
            raise ValueError(f"params[{key!r}] must be a positive integer, got {p[key]!r}")
    if p["split"] not in ("random", "slice"):
        raise ValueError(f"params['split'] must be 'random' or 'slice', got {p['split']!r}")
    if p["n_train"] is not None and (not isinstance(p["n_train"], (int, np.integer)) or p["n_train"] < 1):
        raise ValueError(f"params['n_train'] must be a positive integer or null, got {p['n_train']!r}")
    if p["n_train"] is not None and p["split"] == "slice":
        raise ValueError("params['n_train'] is not used with split 'slice' (the last slice is the test set)")
    if dataset == "semisynthetic":
        if p["label"] not in ("domain", "bulk_labels"):
            raise ValueError(f"params['label'] must be 'domain' or 'bulk_labels', got {p['label']!r}")
        if p["n_domains"] < 2:
            raise ValueError(f"params['n_domains'] must be >= 2, got {p['n_domains']}")
        if not isinstance(p["concentration"], (int, float)) or p["concentration"] <= 0:
            raise ValueError(f"params['concentration'] must be > 0, got {p['concentration']!r}")
        if p["split"] == "slice" and p["n_slices"] < 2:
            raise ValueError("params['split'] = 'slice' needs params['n_slices'] >= 2")
    elif not p["path"]:
        raise ValueError("params['path'] (the MERFISH st_data.h5ad) is required for dataset 'merfish'")
    return p


def _train_mask(batch: np.ndarray, labels: np.ndarray, n_train: int | None, split: str, seed: int) -> np.ndarray:
    """Train mask (n,). 'random': seeded, stratified by label (each label keeps its share in both splits, so the
    test chance level is that of the whole set), n_train niches (default 80 %) in train. 'slice': the last slice
    (sorted name) is the test set, so no test niche shares a cell with a train niche (an honest reference)."""
    n = len(batch)
    if split == "slice":
        return np.asarray(batch != sorted(set(batch))[-1])
    n_train = int(n_train) if n_train is not None else round(TRAIN_FRACTION * n)
    if not 0 < n_train < n:
        raise ValueError(f"params['n_train'] must be in (0, {n}) niches, got {n_train}")
    names, codes = np.unique(labels, return_inverse=True)
    share = np.bincount(codes) * n_train / n  # (L,) ideal train count per label
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share)[: n_train - quota.sum()]] += 1  # largest remainders: exactly n_train
    order = np.random.default_rng(seed).permutation(n)
    order = order[np.argsort(codes[order], kind="stable")]  # grouped by label, random within a label
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.searchsorted(codes[order], codes[order])  # position within its label
    return rank < quota[codes]


def prepare_niches(out_h5ad: str | Path, params: dict, seed: int, source: str | Path | None = None) -> dict:
    """Build a niche data set and write it as .h5ad (Snakemake rule `wfm_prepare` for niches).

    params: {"dataset": "semisynthetic", "k": 8, "n_pcs": 8, "n_domains": 4, "n_slices": 2, "concentration":
    0.05, "label": "domain"|"bulk_labels", "split": "random"|"slice", "n_train": null (80 %)} or {"dataset":
    "merfish", "path": ".../st_data.h5ad", "k": 16, "n_pcs": 16, batch/centre/label keys, "expression"}.
    The seed drives the synthetic tissue and the random split. `source`: the raw file the download rule placed
    (MERFISH st_data.h5ad, or pbmc68k_reduced for the semi-synthetic tissue); it takes the place of params
    "path". Returns a summary dict (counts, scale)."""
    if source is not None and params.get("dataset") == "merfish":
        params = {**params, "path": str(source)}
    p = _check_params(params)
    if p["dataset"] == "semisynthetic":
        built = semisynthetic_niches(p, seed, source=source)
    else:
        built = merfish_niches(p["path"], p)
    train = _train_mask(built["batch"], built["labels"], p["n_train"], p["split"], seed)
    meta = {**built["meta"], "scale": built["scale"], "seed": int(seed), "params": dict(p)}
    write_niches(
        out_h5ad,
        built["niches"],
        built["labels"],
        built["label_names"],
        train,
        meta,
        obs_extra={"batch": built["batch"], "centre": built["centre"]},
    )
    n, k, d = built["niches"].shape
    log.info(
        "wrote %d %s niches (k=%d, d=%d, %d train, scale %.4g) to %s",
        n,
        p["dataset"],
        k,
        d,
        int(train.sum()),
        built["scale"],
        out_h5ad,
    )
    return {
        "n_niches": n,
        "n_train": int(train.sum()),
        "k": k,
        "d": d,
        "scale": built["scale"],
        "n_labels": len(built["label_names"]),
    }


# --- evaluation: exact W2 between uniform clouds and label recovery ------------------------------------


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


def label_recovery(
    generated: np.ndarray,
    generated_labels: np.ndarray,
    real_niches: np.ndarray,
    real_labels: np.ndarray,
    distance: str = "w2",
) -> float:
    """Spec A5.3 known answer: accuracy of labelling each generated niche (n,k,d) with the label of its nearest
    real niche (m,k,d) under exact W2. The real set is the caller's choice (test split, or train as reference)."""
    if distance != "w2":
        raise ValueError(f"distance must be 'w2' (exact W2 between uniform clouds), got {distance!r}")
    generated_labels, real_labels = np.asarray(generated_labels), np.asarray(real_labels)
    if len(generated_labels) != len(generated) or len(real_labels) != len(real_niches):
        raise ValueError(
            f"labels do not match clouds: {len(generated_labels)} vs {len(generated)} generated, "
            f"{len(real_labels)} vs {len(real_niches)} real"
        )
    idx, _ = nearest_niche(generated, real_niches)
    return float(np.mean(real_labels[idx] == generated_labels))


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
