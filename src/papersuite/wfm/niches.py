"""Niche data sets for conditional Wasserstein flow matching: build one, write it, read it
(docs/papers/wfm.md, "Data: niches").

A niche is the uniform point cloud of the expression representations (PCs) of a centre cell's k nearest
spatial neighbours, self excluded, within the centre's own slice, divided by one global max |value|
(spatial.py). Two sources:
  - MERFISH mouse motor cortex (merfish.py; the WFM authors' `st_data.h5ad`, full scale only, no offline copy
    exists): k = 16 niches around Sst interneurons, label = Sst subtype;
  - a SEMI-SYNTHETIC tissue (tissue.py, tiny scale): the 700 real pbmc68k_reduced cells on a synthetic layout
    of spatial domains; k = 8 niches around every cell, label = the centre's domain (or its bulk_labels).
Generated niches are scored by label recovery (recovery.py). This module re-exports the names of those four.

On-disk layout (`write_niches`; one AnnData per data set, one observation per niche, X empty):
  obsm["niche"] (n, k·d) float32 — the (k, d) cloud flattened row-major (neighbours ordered by distance),
  obs["label"] categorical (categories = label names in a fixed order), obs["split"] categorical {train, test},
  obs["batch"] (the centre's slice) and obs["centre"] (the centre cell's obs name),
  uns["wfm"] = {k, d, scale, label_names, dataset, semi_synthetic, source_sha256, seed, params (JSON), ...}.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from papersuite.core.io import atomic_path

from .merfish import MERFISH_DEFAULTS, merfish_niches
from .recovery import (
    _uniform,  # noqa: F401  (kept importable here for tests/wfm/test_wfm_niches.py)
    chance_level,
    label_recovery,
    nearest_niche,
    noise_niches,
    recovery_references,
)
from .spatial import NicheSet, extract_niches, preprocess_expression, spatial_knn
from .tissue import SEMISYNTHETIC_DEFAULTS, semisynthetic_niches, semisynthetic_tissue

__all__ = [
    "MERFISH_DEFAULTS",
    "SEMISYNTHETIC_DEFAULTS",
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

TRAIN_FRACTION = 0.8  # default share of niches in the train split when n_train is not given


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


def read_niches(path: str | Path, split: str | None = None, obs: bool = True) -> dict:
    """Read a niches .h5ad: {"niches" (n,k,d) float32, "labels" (n,) str, "label_codes" (n,) int (index into
    label_names), "label_names", "train" bool (n,), "obs" DataFrame, "uns"}. split="train"/"test" selects rows.
    With obs=False there is no "obs" entry and the file is read with h5py alone (h5ad.py), without anndata."""
    if split is not None and split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    if not obs:
        from .h5ad import H5adLayoutError

        try:
            return _read_niches_light(path, split)
        except H5adLayoutError:
            pass
    import anndata as ad

    adata = ad.read_h5ad(path)
    uns = dict(adata.uns.get("wfm", {}))
    _check_niches_file(path, set(adata.obsm), set(adata.obs.columns), uns)
    if split is not None:
        adata = adata[np.asarray(adata.obs["split"] == split)]
    k, d = int(uns["k"]), int(uns["d"])
    label_names = [str(x) for x in adata.obs["label"].cat.categories]
    out = {
        "niches": np.asarray(adata.obsm["niche"], dtype=np.float32).reshape(adata.n_obs, k, d),
        "labels": np.asarray(adata.obs["label"].astype(str)),
        "label_codes": np.asarray(adata.obs["label"].cat.codes, dtype=np.int64),
        "label_names": label_names,
        "train": np.asarray(adata.obs["split"] == "train"),
        "obs": adata.obs.copy(),
        "uns": uns,
    }
    if not obs:
        del out["obs"]
    return out


def _check_niches_file(path: str | Path, obsm: set, obs_columns: set, uns: dict) -> None:
    for key, where in (("niche", obsm), ("label", obs_columns), ("split", obs_columns), ("k", uns), ("d", uns)):
        if key not in where:
            raise ValueError(f"{path}: not a wfm niches file ({key!r} missing)")


def _read_niches_light(path: str | Path, split: str | None) -> dict:
    """read_niches(obs=False) through h5ad.LightH5ad: the same arrays, without anndata."""
    from .h5ad import LightH5ad, category_values

    with LightH5ad(path) as f:
        uns = f.uns("wfm")
        obsm = {"niche"} if f.has("obsm/niche") else set()
        _check_niches_file(path, obsm, {c for c in ("label", "split") if f.has(f"obs/{c}")}, uns)
        splits = category_values(*f.categorical("split"))
        rows = np.ones(len(splits), bool) if split is None else splits == split
        codes, names = f.categorical("label")
        niches = np.asarray(f.obsm("niche"), dtype=np.float32)[rows]
    k, d = int(uns["k"]), int(uns["d"])
    return {
        "niches": niches.reshape(len(niches), k, d),
        "labels": category_values(codes, names)[rows],
        "label_codes": codes[rows],
        "label_names": names,
        "train": np.asarray(splits[rows] == "train", dtype=bool),
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
    """Build a niche data set and write it as .h5ad (Snakemake rule `wfm_prepare_niches`).

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
