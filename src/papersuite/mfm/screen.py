"""A SEMI-SYNTHETIC drug screen with the organoid table's schema, built from scanpy's bundled pbmc68k_reduced
(docs/papers/mfm.md, "Data at tiny scale"). Real expression, synthetic patients and treatments:

- marker values: the first `dims` principal components z of pbmc68k cells, stored as 5·sinh(z) so that the
  loader's arcsinh(x/5) recovers z; each sampled cell gets N(0, cell_noise²) on z so repeats differ;
- a patient is a Dirichlet(alpha) composition over the 10 bulk_labels cell types; culture PDOF mixes in 30% of the
  "fibroblast" types (Cell_type "fibroblast"), PDO has only its own;
- a treatment j moves each cell by a_j · f · (c_mono − x̄) + b_j, f the population's fraction of CD14+ monocytes,
  x̄ its mean, c_mono the monocyte centroid: the effect depends on the population's composition, as the paper's
  drug responses depend on the patient. Lower concentrations get half the effect (the max-concentration rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["pbmc68k_path", "load_pbmc68k", "semisynthetic_screen", "FIBROBLAST_TYPES", "RESPONDER_TYPE"]

FIBROBLAST_TYPES = ("CD34+", "Dendritic")  # the pbmc68k types labelled "fibroblast" (a stand-in)
RESPONDER_TYPE = "CD14+ Monocyte"


def pbmc68k_path() -> Path:
    """The pbmc68k_reduced .h5ad inside the scanpy wheel."""
    from papersuite.core.download import package_file

    return package_file("scanpy", "datasets/10x_pbmc68k_reduced.h5ad")


def load_pbmc68k(path: str | Path | None, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """PCs 1..dims (n, dims) and bulk_labels (n,) of pbmc68k_reduced."""
    import anndata as ad

    path = Path(path) if path is not None else pbmc68k_path()
    adata = ad.read_h5ad(path)
    if "X_pca" not in adata.obsm or "bulk_labels" not in adata.obs:
        raise ValueError(f"{path}: no obsm['X_pca'] or obs['bulk_labels']; expected scanpy's pbmc68k_reduced")
    return np.asarray(adata.obsm["X_pca"][:, :dims], dtype=np.float64), adata.obs["bulk_labels"].astype(str).to_numpy()


def _cells(z, labels, types, weights, n, noise, rng) -> tuple[np.ndarray, np.ndarray]:
    """n cells drawn by composition `weights` over `types`, with N(0, noise²) on z: (n, dims), their labels (n,)."""
    kind = rng.choice(len(types), size=n, p=weights)
    rows = np.array([rng.choice(np.flatnonzero(labels == types[k])) for k in kind])
    return z[rows] + noise * rng.standard_normal((n, z.shape[1])), labels[rows]


def _population_rows(x, labels, meta: dict) -> pd.DataFrame:
    """Cell rows of one population: markers 5·sinh(x) and the metadata columns."""
    df = pd.DataFrame(5.0 * np.sinh(x), columns=[f"PC{i + 1}" for i in range(x.shape[1])])
    df["Cell_type"] = np.where(np.isin(labels, FIBROBLAST_TYPES), "fibroblast", "PDO cell")
    for key, value in meta.items():
        df[key] = value
    return df


def semisynthetic_screen(params: dict, seed: int, path: str | Path | None = None) -> pd.DataFrame:
    """The screen's cell table. params: dims, n_patients, cultures, plates, replicates, treatments, concentrations,
    n_cells, small_fraction (populations given n_cells // 4 treated cells, for the min_cells filter), alpha,
    cell_noise, effect (scale of a_j), offset (scale of b_j)."""
    z, labels = load_pbmc68k(path, params["dims"])
    rng = np.random.default_rng(seed)
    types = sorted(set(labels))
    mono = z[labels == RESPONDER_TYPE].mean(0)
    n_treat = len(params["treatments"])
    gains = params["effect"] * rng.uniform(0.5, 1.5, n_treat)
    offsets = params["offset"] * rng.standard_normal((n_treat, z.shape[1]))
    fib = np.isin(types, FIBROBLAST_TYPES).astype(float)
    frames = []
    for pi in range(params["n_patients"]):
        own = rng.dirichlet(np.full(len(types), params["alpha"])) * (1 - fib)
        for culture in params["cultures"]:
            w = own / own.sum() if culture == "PDO" else 0.7 * own / own.sum() + 0.3 * fib / fib.sum()
            for plate in range(params["plates"]):
                for rep in params["replicates"]:
                    meta = {"Patient": f"P{pi + 1}", "Culture": culture, "Plate": f"plate{plate + 1}"}
                    x, lab = _cells(z, labels, types, w, params["n_cells"], params["cell_noise"], rng)
                    frames.append(
                        _population_rows(
                            x, lab, {**meta, "Treatment": "DMSO", "Concentration": 0, "Replicate": rep * 2}
                        )
                    )
                    for j, treatment in enumerate(params["treatments"]):
                        small = rng.random() < params["small_fraction"]
                        n = params["n_cells"] // 4 if small else params["n_cells"]
                        x, lab = _cells(z, labels, types, w, n, params["cell_noise"], rng)
                        shift = np.mean(lab == RESPONDER_TYPE) * (mono - x.mean(0))
                        for level, conc in enumerate(params["concentrations"], 1):
                            strength = 1.0 if level == len(params["concentrations"]) else 0.5
                            moved = x + strength * (gains[j] * shift + offsets[j])
                            frames.append(
                                _population_rows(
                                    moved,
                                    lab,
                                    {**meta, "Treatment": treatment, "Concentration": conc, "Replicate": rep},
                                )
                            )
    return pd.concat(frames, ignore_index=True)
