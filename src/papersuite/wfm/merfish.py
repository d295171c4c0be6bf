"""MERFISH niches (full scale): the WFM authors' processed mouse primary motor cortex atlas `st_data.h5ad`
(docs/papers/wfm.md, "Data: niches"). No offline copy exists, so the tiny scale uses tissue.py instead.

normalize_total (median library size) → log1p → PCA(16) on all cells, k = 16 niches around Sst interneurons,
label = Sst subtype.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from papersuite.core.io import sha256_file

from .spatial import extract_niches, preprocess_expression

__all__ = ["MERFISH_DEFAULTS", "merfish_niches"]

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
_MISSING_LABELS = {"", "nan", "none", "na", "n/a"}  # label strings that mean "no label" (case-insensitive)


def _valid_labels(values) -> np.ndarray:
    """Boolean mask of entries that carry a label (not NaN / empty / 'nan')."""
    import pandas as pd

    s = pd.Series(values)
    return np.asarray(s.notna() & ~s.astype(str).str.strip().str.lower().isin(_MISSING_LABELS))


def merfish_niches(path_h5ad: str | Path, params: dict) -> dict:
    """MERFISH niches: load the authors' processed `st_data.h5ad` (obs batch / cell_type / sst_label,
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
