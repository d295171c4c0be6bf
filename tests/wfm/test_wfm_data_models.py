"""Data sets, network and metric known answers of BW flow matching (docs/papers/wfm.md,
"Known answers")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from papersuite.wfm import bures as bw
from papersuite.wfm import data, models, train

D64 = torch.float64


# --- data -------------------------------------------------------------------------------------------------


def test_spiral_gaussians_known_geometry():
    """Spiral of the authors' tutorial: |m| = t = √linspace(0,10,n+5)[5:], Σ eigenvalues 0.009 (along m) and
    0.001 (across)."""
    m, S = data.spiral_gaussians(128)
    assert m.shape == (128, 2) and S.shape == (128, 2, 2)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), np.sqrt(np.linspace(0, 10, 133))[5:], atol=1e-12)
    lam, U = np.linalg.eigh(S)
    np.testing.assert_allclose(lam, np.tile([0.001, 0.009], (128, 1)), atol=1e-12)
    cos = np.abs(np.einsum("ni,ni->n", U[:, :, 1], m / np.linalg.norm(m, axis=1, keepdims=True)))
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)


def test_knn_gaussians_limits():
    """k = 1: the point itself and ridge·I; k = n: the population mean/covariance (1/n) of all points, + ridge."""
    x = np.random.default_rng(0).normal(size=(20, 4))
    m1, S1 = data.knn_gaussians(x, k=1, dims=3, ridge=1e-3)
    np.testing.assert_allclose(m1, x[:, :3], atol=1e-15)
    np.testing.assert_allclose(S1, np.broadcast_to(1e-3 * np.eye(3), (20, 3, 3)), atol=1e-15)
    mn, Sn = data.knn_gaussians(x, k=20, dims=3, ridge=1e-3)
    np.testing.assert_allclose(mn, np.broadcast_to(x[:, :3].mean(0), (20, 3)), atol=1e-12)
    full = np.cov(x[:, :3].T, ddof=0) + 1e-3 * np.eye(3)
    np.testing.assert_allclose(Sn, np.broadcast_to(full, (20, 3, 3)), atol=1e-12)


def test_noise_gaussians_wishart_moments():
    """Noise Gaussians: m ~ N(0, (std·scale)² I), Σ = c·GGᵀ/(5d) — E Σ = c·I, all SPD, seeded and reproducible."""
    g = torch.Generator().manual_seed(0)
    m, S = data.sample_noise(20000, 3, mean_std=2.0, cov_scale=0.5, generator=g, mean_scale=1.5, dtype=D64)
    torch.testing.assert_close(m.std(0), torch.full((3,), 3.0, dtype=D64), atol=0.05, rtol=0)
    torch.testing.assert_close(S.mean(0), 0.5 * torch.eye(3, dtype=D64), atol=0.01, rtol=0)
    # Var of a diagonal entry of c·W/df, W ~ Wishart(df, I): 2c²/df = 2·0.25/15
    torch.testing.assert_close(S[:, 0, 0].var(), torch.tensor(0.5 / 15, dtype=D64), atol=0.003, rtol=0)
    assert bw.min_eigenvalue(S).min() > 0
    m2, S2 = data.sample_noise(
        20000, 3, 2.0, 0.5, generator=torch.Generator().manual_seed(0), mean_scale=1.5, dtype=D64
    )
    assert torch.equal(m, m2) and torch.equal(S, S2)


def test_prepare_spiral_h5ad_roundtrip(tmp_path):
    """prepare_gaussians writes AnnData (obsm mean/cov, obs split); reading gives back the exact Gaussians."""
    out = tmp_path / "spiral.h5ad"
    data.prepare_gaussians(out, {"dataset": "spiral", "n": 64, "n_train": 48}, seed=3)
    r = data.read_gaussians(out)
    m, S = data.spiral_gaussians(64)
    np.testing.assert_array_equal(r["means"], m)
    np.testing.assert_array_equal(r["covs"], S)
    assert r["train"].sum() == 48 and r["labels"] is None and r["uns"]["dataset"] == "spiral"
    np.testing.assert_array_equal(r["train"], data.split_indices(64, 48, 3))
    test = data.read_gaussians(out, split="test")
    np.testing.assert_array_equal(test["means"], m[~r["train"]])
    assert not np.array_equal(data.split_indices(64, 48, 3), data.split_indices(64, 48, 4))
    _assert_light_reader_matches_anndata(out)
    with pytest.raises(ValueError, match="dataset"):
        data.prepare_gaussians(tmp_path / "x.h5ad", {"dataset": "nope"}, seed=0)
    assert not (tmp_path / "x.h5ad").exists()


def test_prepare_pbmc68k_gaussians(tmp_path):
    """700 cells → 700 Gaussians in PCs 1–5 (kNN k=16 in 50 PCs), 560/140 split, Σ ⪰ 1e-3·I, 10 labels;
    one cell's Gaussian re-derived by brute force from the packaged X_pca."""
    sc = pytest.importorskip("scanpy")
    out = tmp_path / "pbmc.h5ad"
    data.prepare_gaussians(out, {"dataset": "pbmc68k"}, seed=0)
    r = data.read_gaussians(out)
    assert r["means"].shape == (700, 5) and r["covs"].shape == (700, 5, 5)
    assert r["train"].sum() == 560 and len(set(r["labels"])) == 10
    assert len(r["uns"]["source_sha256"]) == 64
    _assert_light_reader_matches_anndata(out)
    assert np.linalg.eigvalsh(r["covs"]).min() >= 1e-3 - 1e-12
    pca = np.asarray(sc.datasets.pbmc68k_reduced().obsm["X_pca"], dtype=np.float64)
    pca = pca / pca[:, :5].std()
    i = 123
    nb = pca[np.argsort(((pca - pca[i]) ** 2).sum(1))[:16], :5]
    np.testing.assert_allclose(r["means"][i], nb.mean(0), atol=1e-10)
    np.testing.assert_allclose(r["covs"][i], np.cov(nb.T, ddof=0) + 1e-3 * np.eye(5), atol=1e-10)


# --- network ----------------------------------------------------------------------------------------------


def test_fourier_time_features():
    """cos/sin(k s), k = 0..n−1: at s = 0 the cosines are 1 and the sines 0."""
    f = models.fourier_time(torch.tensor([0.0, 0.5]), 4)
    assert f.shape == (2, 8)
    torch.testing.assert_close(f[0], torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0]))
    torch.testing.assert_close(f[1, 2], torch.cos(torch.tensor(1.0)))
    torch.testing.assert_close(f[1, 7], torch.sin(torch.tensor(1.5)))


def test_two_tower_shapes_symmetry_init_and_time():
    """(ṁ (B,d), S (B,d,d)) with S exactly symmetric, near-zero at init (head 1e-3), depends on s and on Σ."""
    torch.manual_seed(0)
    d, B = 3, 5
    net = models.TwoTower(d, embed=16, hidden=32, n_blocks=2, n_freq=4)
    m = torch.randn(B, d)
    S = torch.eye(d).expand(B, d, d).clone()
    s = torch.rand(B)
    m_dot, S_out = net(m, S, s)
    assert m_dot.shape == (B, d) and S_out.shape == (B, d, d)
    assert torch.equal(S_out, S_out.transpose(-1, -2))
    assert m_dot.abs().max() < 0.1 and S_out.abs().max() < 0.1
    for p in (net.mean_tower.head.weight, net.cov_tower.head.weight):
        torch.nn.init.normal_(p, std=1.0)
    a = net(m, S, s)
    assert (a[0] - net(m, S, s + 0.3)[0]).abs().max() > 1e-3  # time conditioning reaches the mean head
    assert (a[1] - net(m, 2 * S, s)[1]).abs().max() > 1e-3  # the covariance is an input


# --- targets and metrics ----------------------------------------------------------------------------------


def test_euclidean_targets_are_the_straight_line():
    """Baseline path: (m_s, Σ_s) = (1−s)(m_x,Σ_x) + s(m_y,Σ_y), target (Δm, ΔΣ); BW path ends on the data."""
    g = torch.Generator().manual_seed(0)
    m_x, S_x = data.sample_noise(4, 3, 1.0, 1.0, generator=g, dtype=D64)
    m_y, S_y = data.sample_noise(4, 3, 1.0, 1.0, generator=g, dtype=D64)
    s = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=D64)
    m_s, S_s, m_dot, S_dot = train.flow_targets(m_x, S_x, m_y, S_y, s, "euclidean")
    torch.testing.assert_close(S_s[1], 0.75 * S_x[1] + 0.25 * S_y[1])
    torch.testing.assert_close(m_s[3], m_y[3])
    torch.testing.assert_close(S_dot, S_y - S_x)
    _, S_bw, _, _ = train.flow_targets(m_x, S_x, m_y, S_y, s, "bw")
    torch.testing.assert_close(S_bw[3], S_y[3], atol=1e-10, rtol=0)
    torch.testing.assert_close(S_bw[0], S_x[0], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="method"):
        train.flow_targets(m_x, S_x, m_y, S_y, s, "riemann")


def test_set_w2_known_answers():
    """Set-level W2: 0 for the same set; translating every mean by c gives exactly ‖c‖; the unequal-size LP
    agrees with the assignment when one set is the other duplicated."""
    g = torch.Generator().manual_seed(1)
    m, S = data.sample_noise(6, 2, 1.0, 0.5, generator=g, dtype=D64)
    m2, S2 = data.sample_noise(6, 2, 1.0, 0.5, generator=g, dtype=D64)
    assert train.set_w2(m, S, m, S) < 1e-6
    c = torch.tensor([0.3, -0.4], dtype=D64)
    assert train.set_w2(m, S, m + c, S) == pytest.approx(0.5, abs=1e-6)
    ref = train.set_w2(m, S, m2, S2)
    dup = train.set_w2(m, S, torch.cat([m2, m2]), torch.cat([S2, S2]))
    assert dup == pytest.approx(ref, abs=1e-6) and ref > 0.1


def _assert_light_reader_matches_anndata(path):
    """read_gaussians (h5py alone) returns what read_gaussians_anndata returns, dtypes and uns types included."""
    for split in (None, "train", "test"):
        light, full = data.read_gaussians(path, split=split), data.read_gaussians_anndata(path, split=split)
        assert light.keys() == full.keys()
        for key in ("means", "covs", "train", "labels"):
            if full[key] is None:
                assert light[key] is None
                continue
            assert light[key].dtype == full[key].dtype
            np.testing.assert_array_equal(light[key], full[key])
        assert light["uns"].keys() == full["uns"].keys()
        for key, value in full["uns"].items():
            np.testing.assert_array_equal(light["uns"][key], value)
            assert type(light["uns"][key]) is type(value)
