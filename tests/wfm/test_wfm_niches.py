"""Spatial niches: neighbours, scaling, MERFISH loader, semi-synthetic tissue, files, W2 label recovery
(docs/papers/wfm.md, "Data: niches", "Known answers")."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("squidpy")
ad = pytest.importorskip("anndata")
pd = pytest.importorskip("pandas")

from papersuite.wfm import niches as N  # noqa: E402


def _bruteforce_knn(coords: np.ndarray, batch: np.ndarray, k: int) -> np.ndarray:
    """Per-slice kNN by full distance matrices (numpy), self excluded, nearest first: (n, k) global indices."""
    out = np.empty((len(coords), k), dtype=np.int64)
    for b in np.unique(batch):
        rows = np.flatnonzero(batch == b)
        d2 = ((coords[rows, None] - coords[None, rows]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        out[rows] = rows[np.argsort(d2, axis=1, kind="stable")[:, :k]]
    return out


def _toy_spatial(n: int = 150, n_slices: int = 3, d: int = 5, seed: int = 0) -> ad.AnnData:
    """Cells of interleaved slices sharing one coordinate range (so only a per-slice search keeps them apart)."""
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame({"batch": [f"s{i}" for i in rng.integers(0, n_slices, n)]}, index=[f"c{i}" for i in range(n)])
    return ad.AnnData(obs=obs, obsm={"spatial": rng.uniform(0, 1, (n, 2)), "X_pca": rng.normal(size=(n, d))})


def _merfish_like(n: int = 300, genes: int = 40, seed: int = 0) -> ad.AnnData:
    """A small AnnData shaped like the authors' st_data.h5ad: counts X, obs batch / cell_type / sst_label,
    obsm spatial; Sst cells carry a subtype, the others NaN."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(2.0, 2.0, size=(1, genes)) * rng.uniform(0.5, 2.0, size=(n, 1)), size=(n, genes))
    cell_type = rng.choice(["Sst", "L2/3 IT", "Astro", "Pvalb"], size=n, p=[0.3, 0.3, 0.2, 0.2])
    sst = np.where(cell_type == "Sst", rng.choice(["Calb2", "Etv1", "Hpse"], size=n), None)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice(["mouse1_slice10", "mouse1_slice20", "mouse2_slice5"], n)),
            "cell_type": pd.Categorical(cell_type),
            "sst_label": pd.Categorical(sst),
        },
        index=[f"cell{i}" for i in range(n)],
    )
    return ad.AnnData(X=counts.astype(np.float32), obs=obs, obsm={"spatial": rng.uniform(0, 500, (n, 2))})


@pytest.fixture(scope="module")
def tissue_niches():
    """The default semi-synthetic niche set (seed 0) — built once, it is the slow part (squidpy, scanpy)."""
    return N.semisynthetic_niches({}, seed=0)


# --- neighbours and niches --------------------------------------------------------------------------------


def test_spatial_knn_matches_bruteforce_per_slice():
    """squidpy's per-library graph = brute-force kNN within each slice: self excluded, nearest first, and no
    neighbour from another slice although all slices share one coordinate range."""
    adata = _toy_spatial()
    idx = N.spatial_knn(adata, k=6, batch_key="batch")
    batch = adata.obs["batch"].to_numpy()
    np.testing.assert_array_equal(idx, _bruteforce_knn(adata.obsm["spatial"], batch, 6))
    assert not np.any(idx == np.arange(adata.n_obs)[:, None])
    assert np.all(batch[idx] == batch[:, None])
    assert "spatial_connectivities" not in adata.obsp  # the caller's AnnData is left alone
    # a search that ignored the slices would differ: some global neighbours cross slices
    assert not np.array_equal(idx, _bruteforce_knn(adata.obsm["spatial"], np.zeros(adata.n_obs), 6))


def test_extract_niches_scaling_and_centres():
    """Niche = rep rows of the neighbours / one global max|·| (max |niche| = 1); restricting the centres keeps
    the global scale and the same clouds."""
    adata = _toy_spatial()
    full = N.extract_niches(adata, k=4, batch_key="batch")
    idx = _bruteforce_knn(adata.obsm["spatial"], adata.obs["batch"].to_numpy(), 4)
    rep = adata.obsm["X_pca"].astype(np.float32)
    assert full.niches.shape == (adata.n_obs, 4, 5) and full.niches.dtype == np.float32
    assert full.scale == pytest.approx(np.abs(rep[np.unique(idx)]).max())
    assert np.abs(full.niches).max() == pytest.approx(1.0)
    np.testing.assert_allclose(full.niches, rep[idx] / full.scale, rtol=1e-6)
    mask = np.arange(adata.n_obs) % 3 == 0
    sub = N.extract_niches(adata, k=4, batch_key="batch", centre_mask=mask)
    assert sub.scale == full.scale
    np.testing.assert_array_equal(sub.centres, np.flatnonzero(mask))
    np.testing.assert_array_equal(sub.niches, full.niches[mask])


def test_neighbour_inputs_fail_early():
    adata = _toy_spatial(n=40, n_slices=2)
    with pytest.raises(KeyError, match="obs\\['slice'\\]"):
        N.spatial_knn(adata, k=3, batch_key="slice")
    with pytest.raises(ValueError, match="slice 's.' .*needs more than k = 30"):
        N.spatial_knn(adata, k=30, batch_key="batch")
    with pytest.raises(KeyError, match="X_umap"):
        N.extract_niches(adata, k=3, batch_key="batch", rep="X_umap")


# --- MERFISH loader on a MERFISH-shaped file --------------------------------------------------------------


def test_preprocess_counts_known_answer():
    """The authors' MERFISH preprocessing: normalize_total to the median library size, log1p, then PCA(16) fit
    on all cells."""
    adata = _merfish_like()
    counts = np.asarray(adata.X, dtype=np.float64)
    lib = counts.sum(1)
    info = N.preprocess_expression(adata, n_pcs=16)
    assert info == {"expression": "counts", "target_sum": pytest.approx(np.median(lib))}
    logx = np.log1p(counts * (np.median(lib) / lib)[:, None])
    np.testing.assert_allclose(adata.X, logx, rtol=1e-5, atol=1e-5)
    pcs = adata.obsm["X_pca"]
    assert pcs.shape == (adata.n_obs, 16)
    # PCA known answer: the PC variances are the top-16 eigenvalues of the covariance of log X
    eig = np.sort(np.linalg.eigvalsh(np.cov(logx.T)))[::-1][:16]
    np.testing.assert_allclose(pcs.var(0, ddof=1), eig, rtol=1e-3)
    # already-normalised log1p input is recognised and not logged twice
    again = ad.AnnData(X=logx.astype(np.float32))
    assert N.preprocess_expression(again, n_pcs=4)["expression"] == "lognorm"
    np.testing.assert_allclose(again.X, logx, rtol=1e-6)


def test_merfish_niches_on_synthetic_file(tmp_path):
    """Sst centres only, labels = sst_label, niches of k = 16 per-slice neighbours in PCA-16 space, scaled."""
    path = tmp_path / "st_data.h5ad"
    _merfish_like().write_h5ad(path)
    out = N.merfish_niches(path, {})
    raw = ad.read_h5ad(path)
    is_sst = raw.obs["cell_type"].to_numpy() == "Sst"
    assert out["niches"].shape == (is_sst.sum(), 16, 16)
    np.testing.assert_array_equal(out["centre"], raw.obs_names[is_sst])
    np.testing.assert_array_equal(out["labels"], raw.obs["sst_label"].astype(str).to_numpy()[is_sst])
    assert out["label_names"] == ["Calb2", "Etv1", "Hpse"]
    assert out["meta"]["expression"] == "counts" and len(out["meta"]["source_sha256"]) == 64
    N.preprocess_expression(raw, n_pcs=16)
    idx = _bruteforce_knn(raw.obsm["spatial"], raw.obs["batch"].to_numpy(), 16)
    pcs = raw.obsm["X_pca"]
    assert out["scale"] == pytest.approx(np.abs(pcs[np.unique(idx)]).max())
    np.testing.assert_allclose(out["niches"], pcs[idx[is_sst]] / out["scale"], rtol=1e-5, atol=1e-6)


def test_merfish_missing_keys_name_the_key(tmp_path):
    bad = _merfish_like()
    del bad.obsm["spatial"]
    bad.write_h5ad(tmp_path / "nospatial.h5ad")
    with pytest.raises(KeyError, match="nospatial.h5ad.*obsm\\['spatial'\\]"):
        N.merfish_niches(tmp_path / "nospatial.h5ad", {})
    bad = _merfish_like()
    del bad.obs["sst_label"]
    bad.write_h5ad(tmp_path / "nolabel.h5ad")
    with pytest.raises(KeyError, match="nolabel.h5ad.*obs\\['sst_label'\\]"):
        N.merfish_niches(tmp_path / "nolabel.h5ad", {})
    _merfish_like().write_h5ad(tmp_path / "ok.h5ad")
    with pytest.raises(ValueError, match="no cell has obs\\['cell_type'\\] == 'Sst5'"):
        N.merfish_niches(tmp_path / "ok.h5ad", {"centre_value": "Sst5"})


# --- semi-synthetic tissue --------------------------------------------------------------------------------


def test_semisynthetic_tissue_is_seeded_real_and_layered():
    """Reproducible from the seed; 4 balanced domains × 2 slices; rows are real pbmc68k cells (X_pca PCs
    1–8 unchanged); domains differ in bulk_labels composition; marked SEMI-SYNTHETIC with the source sha256."""
    sc = pytest.importorskip("scanpy")
    t = N.semisynthetic_tissue(seed=3)
    t2 = N.semisynthetic_tissue(seed=3)
    np.testing.assert_array_equal(t.obsm["spatial"], t2.obsm["spatial"])
    assert t.obs.equals(t2.obs)
    assert not np.array_equal(N.semisynthetic_tissue(seed=4).obs["domain"], t.obs["domain"])
    pbmc = sc.datasets.pbmc68k_reduced()
    np.testing.assert_array_equal(t.obsm["X_pca"], pbmc.obsm["X_pca"][:, :8])
    np.testing.assert_array_equal(t.obsm["X_pca"][123], pbmc.obsm["X_pca"][123, :8])
    np.testing.assert_array_equal(t.obs["bulk_labels"], pbmc.obs["bulk_labels"])
    assert list(t.obs["domain"].cat.categories) == [f"domain{d}" for d in range(4)]
    assert list(t.obs["batch"].cat.categories) == ["slice0", "slice1"]
    per = pd.crosstab(t.obs["domain"], t.obs["batch"]).to_numpy()
    assert per.sum() == 700 and per.max() - per.min() <= 1  # 87–88 cells of every domain in every slice
    comp = pd.crosstab(t.obs["domain"], t.obs["bulk_labels"], normalize="index").to_numpy()  # (4, 10)
    tv = 0.5 * np.abs(comp[:, None] - comp[None]).sum(-1)[np.triu_indices(4, 1)]
    assert tv.min() > 0.3, tv  # every pair of domains differs in composition
    # layers: a domain's cells occupy one y band per slice (synthetic positions, inside the unit square)
    y, dom = t.obsm["spatial"][:, 1], t.obs["domain"].cat.codes.to_numpy()
    assert t.obsm["spatial"].min() >= 0 and t.obsm["spatial"].max() <= 1
    s0 = t.obs["batch"].to_numpy() == "slice0"
    assert all(y[s0 & (dom == d)].max() <= y[s0 & (dom == d + 1)].min() for d in range(3))
    meta = t.uns["semisynthetic"]
    assert meta["semi_synthetic"] is True and "SEMI-SYNTHETIC" in meta["description"]
    assert len(meta["source_sha256"]) == 64


# --- files ------------------------------------------------------------------------------------------------


def test_prepare_niches_roundtrip(tmp_path, tissue_niches):
    """prepare_niches → h5ad that anndata opens; read_niches gives back the exact clouds, labels, split."""
    out = tmp_path / "niches.h5ad"
    summary = N.prepare_niches(out, {"dataset": "semisynthetic"}, seed=0)
    assert summary == {"n_niches": 700, "n_train": 560, "k": 8, "d": 8, "scale": tissue_niches["scale"], "n_labels": 4}
    r = N.read_niches(out)
    np.testing.assert_array_equal(r["niches"], tissue_niches["niches"])
    np.testing.assert_array_equal(r["labels"], tissue_niches["labels"])
    assert r["label_names"] == [f"domain{d}" for d in range(4)]
    np.testing.assert_array_equal(np.asarray(r["label_names"])[r["label_codes"]], r["labels"])
    assert r["train"].sum() == 560 and np.abs(r["niches"]).max() == pytest.approx(1.0)
    assert np.bincount(r["label_codes"][~r["train"]]).tolist() == [35, 35, 35, 35]  # stratified split
    uns = r["uns"]
    assert uns["semi_synthetic"] and uns["dataset"] == "semisynthetic" and len(uns["source_sha256"]) == 64
    assert uns["k"] == 8 and uns["d"] == 8 and uns["scale"] == pytest.approx(tissue_niches["scale"])
    raw = ad.read_h5ad(out)
    assert raw.obsm["niche"].shape == (700, 64) and set(raw.obs.columns) >= {"label", "split", "batch", "centre"}
    test = N.read_niches(out, split="test")
    np.testing.assert_array_equal(test["niches"], r["niches"][~r["train"]])
    # a different seed gives a different split and tissue
    assert not np.array_equal(N._train_mask(r["obs"]["batch"].to_numpy(), r["labels"], None, "random", 1), r["train"])
    # the h5py-only reader of the jobs (obs=False) gives the same arrays and uns as the anndata one
    for split in (None, "train", "test"):
        full, light = N.read_niches(out, split=split), N.read_niches(out, split=split, obs=False)
        assert set(light) == set(full) - {"obs"}
        for key in ("niches", "labels", "label_codes", "train"):
            assert light[key].dtype == full[key].dtype
            np.testing.assert_array_equal(light[key], full[key])
        assert light["label_names"] == full["label_names"] and light["uns"].keys() == full["uns"].keys()
        for key, value in full["uns"].items():
            np.testing.assert_array_equal(light["uns"][key], value)
            assert type(light["uns"][key]) is type(value)


def test_prepare_niches_rejects_bad_params(tmp_path):
    out = tmp_path / "x.h5ad"
    for params, key in [
        ({"dataset": "visium"}, "dataset"),
        ({"dataset": "semisynthetic", "kk": 8}, "kk"),
        ({"dataset": "semisynthetic", "k": 0}, "'k'"),
        ({"dataset": "semisynthetic", "label": "x"}, "'label'"),
        ({"dataset": "semisynthetic", "split": "slice", "n_slices": 1}, "n_slices"),
        ({"dataset": "semisynthetic", "split": "slice", "n_train": 100}, "n_train"),
        ({"dataset": "merfish"}, "'path'"),
    ]:
        with pytest.raises(ValueError, match=key):
            N.prepare_niches(out, params, seed=0)
    assert not out.exists()


# --- W2 and label recovery --------------------------------------------------------------------------------


def test_nearest_niche_is_exact():
    """Nearest niche under W2 = argmin of the full pairwise matrix (POT emd2); W2(x, x+c) = ‖c‖."""
    ot = pytest.importorskip("ot")
    from papersuite.wfm import metrics

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8))
    c = rng.normal(size=8)
    _, w = N.nearest_niche((x + c)[None], x[None])
    assert w[0] == pytest.approx(np.linalg.norm(c), rel=1e-10)
    a, b = rng.normal(size=(6, 8, 3)), rng.normal(size=(9, 8, 3))
    pot = np.sqrt([[ot.emd2([], [], ot.dist(p, q)) for q in b] for p in a])
    idx, w = N.nearest_niche(a, b)
    np.testing.assert_array_equal(idx, pot.argmin(1))
    np.testing.assert_allclose(w, pot.min(1), rtol=1e-9)
    # branch and bound stays exact where the moment bound is tight (clouds spread out by their means)
    refs = rng.normal(size=(300, 8, 4)) * 0.5 + rng.normal(size=(300, 1, 4)) * 2
    queries = refs[:40] + rng.normal(size=(40, 8, 4))
    idx, w = N.nearest_niche(queries, refs)
    W = metrics.pairwise("w2", N._uniform(queries), N._uniform(refs))
    np.testing.assert_array_equal(idx, W.argmin(1))
    np.testing.assert_allclose(w, W.min(1), rtol=1e-12)
    with pytest.raises(ValueError, match="equal k"):
        N.nearest_niche(a, rng.normal(size=(2, 7, 3)))


def test_chance_level():
    assert N.chance_level(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert N.chance_level(np.repeat(np.arange(4), 5)) == pytest.approx(0.25)


def test_label_recovery_known_answers(tissue_niches):
    """Generated = real niches → 1.0; label-shuffled references → ≈ chance; noise niches ≈ chance; and on the
    default tissue real held-out-slice niches clear the > 2× chance bar with a margin (the data can pass)."""
    x, y = tissue_niches["niches"], tissue_niches["labels"]
    assert N.label_recovery(x[:200], y[:200], x, y) == 1.0
    train = N._train_mask(tissue_niches["batch"], y, None, "slice", 0)
    refs = N.recovery_references(x[train], y[train], x[~train], y[~train], seed=0)
    assert refs["chance"] == pytest.approx(0.25, abs=0.01)
    assert abs(refs["shuffled"] - refs["chance"]) < 0.1
    assert refs["noise"] < 1.5 * refs["chance"]
    assert refs["upper"] > 2.5 * refs["chance"], refs
    with pytest.raises(ValueError, match="distance"):
        N.label_recovery(x[:2], y[:2], x, y, distance="chamfer")
