"""The SEMI-SYNTHETIC tissue of the tiny scale (docs/papers/wfm.md, "Data: niches"): the 700 real
pbmc68k_reduced cells of the scanpy wheel, real expression (X_pca PCs 1..n_pcs) but synthetic 2-D positions:
n_domains layered spatial domains of distinct bulk_labels composition on 1–2 synthetic slices; k = 8 niches
around every cell, label = the centre's domain (or its bulk_labels).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from papersuite.core.io import sha256_file

from .spatial import extract_niches

if TYPE_CHECKING:  # anndata is imported lazily
    import anndata as ad

__all__ = ["SEMISYNTHETIC_DEFAULTS", "semisynthetic_tissue", "semisynthetic_niches"]

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
    """SEMI-SYNTHETIC tissue: the 700 real pbmc68k_reduced cells (real expression) placed on
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
    """Niches of the semi-synthetic tissue: k = 8 neighbours around every cell (same squidpy code
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
