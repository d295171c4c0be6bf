"""The h5py-only .h5ad reader (h5ad.py) against anndata's own reader, element by element, on real files: the files
our prepare steps write (pbmc68k Gaussians and the semi-synthetic niches from scanpy's pbmc68k_reduced, the
spiral) and scanpy's pbmc68k_reduced itself (docs/papers/wfm.md, "Tiny scale: sizes and speed").

Equality is exact: the same values and dtypes, except categorical codes, which anndata keeps as int8 and the light
reader widens to int64 (equal after that conversion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from papersuite.wfm import data, niches
from papersuite.wfm.h5ad import H5adLayoutError, LightH5ad, category_values

ad = pytest.importorskip("anndata")
sc = pytest.importorskip("scanpy")

SCANPY_PBMC68K = Path(sc.__file__).parent / "datasets" / "10x_pbmc68k_reduced.h5ad"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    """The three .h5ad files the tiny prepare steps write (config/wfm.yaml's data blocks), from scanpy's file."""
    root = tmp_path_factory.mktemp("prepared")
    files = {name: root / f"{name}.h5ad" for name in ("pbmc68k", "spiral", "semisynthetic_tissue")}
    pbmc = {"dataset": "pbmc68k", "k": 16, "dims": 5, "ridge": 1e-3, "n_train": 560}
    data.prepare_gaussians(files["pbmc68k"], pbmc, seed=0, source=SCANPY_PBMC68K)
    data.prepare_gaussians(files["spiral"], {"dataset": "spiral", "n": 512, "n_train": 384}, seed=0)
    tissue = {"dataset": "semisynthetic", "k": 8, "n_pcs": 8, "n_domains": 4, "n_slices": 2}
    tissue.update(concentration=0.05, label="domain", split="slice")
    niches.prepare_niches(files["semisynthetic_tissue"], tissue, seed=0, source=SCANPY_PBMC68K)
    return files


def _assert_every_element_matches(path: Path) -> int:
    """Every obsm array, categorical obs column and uns dict the light reader decodes equals anndata's; returns
    how many elements were compared."""
    adata = ad.read_h5ad(path)
    compared = 0
    with LightH5ad(path) as light:
        for key, expected in adata.obsm.items():
            got = light.obsm(key)
            assert got.dtype == np.asarray(expected).dtype, key
            np.testing.assert_array_equal(got, np.asarray(expected), err_msg=key)
            compared += 1
        for column in adata.obs.columns:
            if adata.obs[column].dtype.name != "category":
                with pytest.raises(H5adLayoutError):
                    light.categorical(column)
                continue
            codes, categories = light.categorical(column)
            assert categories == [str(c) for c in adata.obs[column].cat.categories], column
            np.testing.assert_array_equal(codes, adata.obs[column].cat.codes.to_numpy().astype(np.int64))
            np.testing.assert_array_equal(category_values(codes, categories), adata.obs[column].astype(str))
            compared += 1
        for key, expected in adata.uns.items():
            got = light.uns(key)
            assert got.keys() == expected.keys(), key
            for name, value in expected.items():
                assert type(got[name]) is type(value), (key, name)
                np.testing.assert_array_equal(got[name], value)
            compared += 1
    return compared


@pytest.mark.parametrize(
    ("name", "n_elements"),
    [
        ("pbmc68k", 5),  # obsm mean, cov; obs split, label; uns wfm
        ("spiral", 4),  # obsm mean, cov; obs split; uns wfm
        ("semisynthetic_tissue", 5),  # obsm niche; obs label, split, batch (centre: strings, refused); uns wfm
    ],
)
def test_light_reader_equals_anndata_on_prepared_files(prepared, name, n_elements):
    assert _assert_every_element_matches(prepared[name]) == n_elements


def test_light_reader_refuses_scanpys_old_layout_and_reads_it_rewritten(tmp_path):
    """scanpy's pbmc68k_reduced is written in anndata's layout before 0.7 (obs, obsm as compound datasets): the
    light reader refuses it (H5adLayoutError: the callers fall back to anndata) rather than misread it; the same
    AnnData written by today's anndata is read element for element as anndata reads it."""
    adata = ad.read_h5ad(SCANPY_PBMC68K)
    with LightH5ad(SCANPY_PBMC68K) as light:
        with pytest.raises(H5adLayoutError, match="not a group"):
            light.obsm("X_pca")
        with pytest.raises(H5adLayoutError, match="not a group"):
            light.categorical("bulk_labels")
        with pytest.raises(H5adLayoutError):
            light.uns("pca")
    rewritten = tmp_path / "pbmc68k_rewritten.h5ad"
    ad.AnnData(obs=adata.obs[["bulk_labels", "phase", "louvain", "n_genes"]], obsm=dict(adata.obsm)).write_h5ad(
        rewritten
    )
    assert _assert_every_element_matches(rewritten) == 5  # X_pca (float32), X_umap (float64), 3 categoricals
    with LightH5ad(rewritten) as light:
        np.testing.assert_array_equal(light.obsm("X_pca"), adata.obsm["X_pca"])
        assert light.obsm("X_pca").dtype == np.float32
        codes, categories = light.categorical("bulk_labels")
        assert len(categories) == 10 and (codes >= 0).all()


def test_read_gaussians_rejects_scanpys_raw_file():
    """read_gaussians on scanpy's file: the layout check says it is not a wfm Gaussians file (no misread)."""
    with pytest.raises(ValueError, match="not a wfm Gaussians file"):
        data.read_gaussians(SCANPY_PBMC68K)
