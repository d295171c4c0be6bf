"""Point-cloud data (digits, ShapeNet loader, noise, .npz) and metrics (docs/papers/wfm.md,
"Known answers")."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from papersuite.wfm import clouds, metrics


@pytest.fixture(scope="module")
def digits():
    return clouds.digits_clouds()


# --- data -------------------------------------------------------------------------------------------------------


def test_digits_clouds_sizes_scaling_and_orientation(digits):
    """1797 clouds of 13–32 pixels (intensity > 6), coordinates in [−1, 1] with both ends reached, weights 1/n_i,
    and pixel (row r, column c) ↦ (2c/7 − 1, 1 − 2r/7): the top image row is at y = +1 (upright digits)."""
    from sklearn.datasets import load_digits

    points, weights, labels = digits
    sizes = clouds.cloud_sizes(weights)
    assert points.shape == (1797, 32, 2) and points.dtype == np.float32 and weights.shape == (1797, 32)
    assert sizes.min() == 13 and sizes.max() == 32 and np.bincount(labels).tolist()[:2] == [178, 182]
    real = points[weights > 0]
    assert real.min() == -1.0 and real.max() == 1.0
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    assert np.all(points[weights == 0] == 0)
    img = load_digits().images[5]
    rows, cols = np.nonzero(img > 6)
    expected = np.stack([2 * cols / 7 - 1, 1 - 2 * rows / 7], 1)
    np.testing.assert_allclose(points[5, : len(rows)], expected, atol=1e-6)
    # upright: a "7" has its bar at the top, so its points sit higher than its mean at the top row
    sevens = points[labels == 7]
    top = np.mean([(c[:, 1] > 0.5).sum() for c in sevens])
    bottom = np.mean([(c[:, 1] < -0.5).sum() for c in sevens])
    assert top > bottom


def test_pad_clouds_and_bad_input():
    pts, w = clouds.pad_clouds([np.ones((2, 3)), np.zeros((4, 3))], n_max=5)
    assert pts.shape == (2, 5, 3) and w.tolist()[0] == [0.5, 0.5, 0, 0, 0] and w[1, :4].tolist() == [0.25] * 4
    with pytest.raises(ValueError, match="n_i"):
        clouds.pad_clouds([np.ones((6, 3))], n_max=5)


def test_noise_clouds(digits):
    """Tiny noise: N(0, 0.5²) at real points, exactly 0 at padding, seeded; chol_normal (the authors' default)
    inside the data range with the data masks."""
    points, weights, _ = digits
    w = torch.from_numpy(weights[:400])
    a = clouds.noise_clouds(w, 2, generator=torch.Generator().manual_seed(0))
    b = clouds.noise_clouds(w, 2, {"family": "normal", "std": 0.5}, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.equal(a[w == 0], torch.zeros(int((w == 0).sum()), 2))
    assert a[w > 0].std().item() == pytest.approx(0.5, abs=0.02) and abs(a[w > 0].mean().item()) < 0.02
    stats = clouds.noise_params("chol_normal", points=torch.from_numpy(points), weights=torch.from_numpy(weights))
    assert stats["lo"] == -1.0 and stats["hi"] == 1.0 and np.asarray(stats["chol_mean"]).shape == (2, 2)
    c = clouds.noise_clouds(w, 2, stats, torch.Generator().manual_seed(1))
    assert c.abs().max() <= 1.0 and torch.equal(c[w == 0], torch.zeros(int((w == 0).sum()), 2))
    assert c[w > 0].std() > 0.1
    with pytest.raises(ValueError, match="family"):
        clouds.noise_params("uniform")
    drawn = clouds.draw_weights(w, 50, torch.Generator().manual_seed(2))
    assert drawn.shape == (50, 32) and all(any(torch.equal(r, q) for q in w) for r in drawn[:5])


def test_npz_roundtrip_split_and_atomicity(tmp_path, digits):
    points, weights, labels = digits
    out = tmp_path / "clouds.npz"
    clouds.prepare_clouds(out, {"dataset": "digits", "n_train": 100, "n_test": 40}, seed=3)
    r = clouds.read_clouds(out)
    assert r["points"].shape == (140, 32, 2) and (r["split"] == "train").sum() == 100
    assert r["meta"]["dataset"] == "digits" and r["meta"]["d"] == 2 and r["meta"]["seed"] == 3
    # every stored cloud is one of the digits, with its label, exactly
    full = {points[i].tobytes(): labels[i] for i in range(len(points))}
    assert all(full[p.tobytes()] == lab for p, lab in zip(r["points"], r["labels"], strict=True))
    test = clouds.read_clouds(out, split="test")
    assert test["points"].shape[0] == 40 and set(test["split"]) == {"test"}
    clouds.prepare_clouds(tmp_path / "again.npz", {"dataset": "digits", "n_train": 100, "n_test": 40}, seed=3)
    assert np.array_equal(clouds.read_clouds(tmp_path / "again.npz")["points"], r["points"])
    # a failed write leaves the old file and no temporary
    before = out.read_bytes()
    with pytest.raises(ValueError, match="shapes"):
        clouds.write_clouds(out, points[:3], weights[:2], None, np.array(["train"] * 3))
    with pytest.raises(ValueError, match="unknown"):
        clouds.prepare_clouds(out, {"dataset": "digits", "n_trian": 5}, seed=0)
    with pytest.raises(ValueError, match="dataset"):
        clouds.prepare_clouds(out, {"dataset": "mnist"}, seed=0)
    assert out.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["again.npz", "clouds.npz"]
    # no labels -> -1; boolean split accepted
    clouds.write_clouds(tmp_path / "x.npz", points[:2], weights[:2], None, np.array([True, False]))
    x = clouds.read_clouds(tmp_path / "x.npz")
    assert x["labels"].tolist() == [-1, -1] and x["split"].tolist() == ["train", "test"]


def test_digits_from_the_packaged_csv(tmp_path, digits):
    """The rule hands over scikit-learn's digits.csv.gz: the same clouds as load_digits, its sha256 recorded."""
    import sklearn

    from papersuite.core.io import sha256_file

    csv = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    points, weights, labels = clouds.digits_clouds(path=csv)
    assert np.array_equal(points, digits[0]) and np.array_equal(labels, digits[2])
    out = tmp_path / "d.npz"
    summary = clouds.prepare_clouds(out, {"dataset": "digits", "n_train": 10, "n_test": 5}, seed=0, source=csv)
    assert summary == {"n_clouds": 15, "n_train": 10, "n_max": 32, "d": 2}
    assert clouds.read_clouds(out)["meta"]["source_sha256"] == sha256_file(csv)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="bad.csv"):
        clouds.prepare_clouds(out, {"dataset": "digits"}, seed=0, source=bad)


def test_prepare_shapenet_from_npy(tmp_path):
    """ShapeNet as (n, P, 3) arrays: n_points per shape drawn from that shape's points, seeded; min_max_total
    maps the training coordinates onto [−1, 1]; a missing file or bad key fails naming it."""
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(12, 50, 3)).astype(np.float32) * 3
    np.save(tmp_path / "pc_train_chair.npy", arr)
    np.save(tmp_path / "pc_test_chair.npy", arr[:4] + 1)
    out = tmp_path / "chair.npz"
    params = {"dataset": "shapenet", "path": str(tmp_path / "pc_train_chair.npy"), "n_points": 20, "scale": "none"}
    clouds.prepare_clouds(out, {**params, "n_train": 9, "n_test": 3}, seed=1)
    r = clouds.read_clouds(out)
    assert r["points"].shape == (12, 20, 3) and (r["split"] == "train").sum() == 9
    np.testing.assert_allclose(r["weights"], 1 / 20)
    for cloud in r["points"]:  # each cloud is 20 distinct points of a single source shape
        src = [j for j in range(12) if tuple(cloud[0]) in {tuple(p) for p in arr[j]}]
        assert len(src) == 1 and len({tuple(p) for p in cloud} & {tuple(p) for p in arr[src[0]]}) == 20
    clouds.prepare_clouds(
        out, {**params, "test_path": str(tmp_path / "pc_test_chair.npy"), "scale": "min_max_total"}, seed=1
    )
    r = clouds.read_clouds(out)
    train = r["points"][r["split"] == "train"]
    assert (r["split"] == "test").sum() == 4 and train.min() == -1.0 and train.max() == 1.0
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        clouds.prepare_clouds(out, {**params, "path": str(tmp_path / "nope.npy")}, seed=0)
    with pytest.raises(ValueError, match="synset"):
        clouds.prepare_clouds(out, {"dataset": "shapenet"}, seed=0)
    with pytest.raises(ValueError, match="n_points"):
        clouds.prepare_clouds(out, {**params, "n_points": 51}, seed=0)
    with pytest.raises(ValueError, match="scale"):
        clouds.prepare_clouds(out, {**params, "scale": "unit"}, seed=0)


def test_prepare_shapenet_from_pointflow_pc15k(tmp_path):
    """PointFlow's ShapeNetCore.v2.PC15k layout `{synset}/{train,val}/{model}.npy` as a zip or a directory:
    train shapes give points from their first 10k, "val" (the test set) from the rest; the default "pointflow"
    normalisation subtracts the training mean per axis and divides by the pooled training std."""
    import zipfile

    rng = np.random.default_rng(0)
    root = tmp_path / "ShapeNetCore.v2.PC15k" / "02691156"
    shapes = {}
    for split, n in (("train", 5), ("val", 3)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            shape = rng.normal(size=(10040, 3)).astype(np.float32)
            shape[10000:] += 100.0  # evaluation points are told apart by their offset
            np.save(root / split / f"m{i}.npy", shape)
            shapes[(split, i)] = shape
    (root.parent / "03001627" / "train").mkdir(parents=True)  # another synset, ignored
    np.save(root.parent / "03001627" / "train" / "c0.npy", np.zeros((10040, 3), np.float32))
    archive = tmp_path / "ShapeNetCore.v2.PC15k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "ShapeNetCore.v2.PC15k").rglob("*.npy")):
            zf.write(f, f.relative_to(tmp_path))
    params = {"dataset": "shapenet", "synset": "02691156", "n_points": 20}
    raw = {
        "train": clouds.pointflow_clouds(archive, "02691156", "train", 20, 0),
        "val": clouds.pointflow_clouds(archive, "02691156", "val", 20, 1),
    }
    assert raw["train"].shape == (5, 20, 3) and raw["val"].shape == (3, 20, 3)
    assert raw["train"].max() < 50 and raw["val"].min() > 50
    for i in range(5):
        assert {tuple(p) for p in raw["train"][i]} <= {tuple(p) for p in shapes[("train", i)][:10000]}
    assert np.array_equal(
        clouds.pointflow_clouds(tmp_path / "ShapeNetCore.v2.PC15k", "02691156", "train", 20, 0), raw["train"]
    )
    out = tmp_path / "airplane.npz"
    clouds.prepare_clouds(out, params, seed=0, source=archive)
    r = clouds.read_clouds(out)
    train = r["points"][r["split"] == "train"]
    assert (r["split"] == "test").sum() == 3 and len(train) == 5
    np.testing.assert_allclose(train.reshape(-1, 3).mean(0), 0, atol=1e-5)
    norm = r["meta"]["normalisation"]
    # PointFlow's scalar: np.std of all training coordinates pooled (about their scalar mean, not per axis)
    assert norm["std"] == pytest.approx(float(raw["train"].std()), rel=1e-6)
    np.testing.assert_allclose(train * norm["std"] + np.array(norm["mean"]), raw["train"], atol=1e-4)
    with pytest.raises(ValueError, match="02691157/train/"):
        clouds.prepare_clouds(out, {**params, "synset": "02691157"}, seed=0, source=archive)
    with pytest.raises(ValueError, match="source"):
        clouds.prepare_clouds(out, params, seed=0)


# --- metrics -----------------------------------------------------------------------------------------------------


def _cloud(pts, n_max=None):
    pts = np.asarray(pts, dtype=np.float64)
    p, w = clouds.pad_clouds([pts], n_max)
    return p[0].astype(np.float64), w[0]


def test_chamfer_known_answers_and_masks():
    x, wx = _cloud([[0.0, 0.0]], n_max=4)
    y, wy = _cloud([[1.0, 0.0], [3.0, 0.0]], n_max=4)
    y[2:] = 99.0  # garbage at padding
    # X→Y: min(1, 9) = 1; Y→X: mean(1, 9) = 5
    assert float(metrics.chamfer(x, wx, y, wy)) == pytest.approx(6.0)
    assert float(metrics.chamfer(y, wy, y, wy)) == 0.0
    assert float(metrics.chamfer(x, wx, y, wy)) == float(metrics.chamfer(y, wy, x, wx))


def test_w2_and_emd_known_answers():
    """W2 = sqrt of exact OT with squared cost; EMD = exact OT with unsquared cost (PointFlow convention)."""
    x, wx = _cloud([[0.0, 0.0], [0.0, 0.0]])
    y, wy = _cloud([[1.0, 0.0], [3.0, 0.0]])
    assert metrics.emd(x, wx, y, wy) == pytest.approx(2.0)  # mean of 1 and 3
    assert metrics.w2(x, wx, y, wy) == pytest.approx(np.sqrt(5.0))  # sqrt(mean of 1 and 9)
    # unequal sizes (POT path): one point at 0 vs {−1, +1}
    a, wa = _cloud([[0.0, 0.0]], n_max=3)
    b, wb = _cloud([[-1.0, 0.0], [1.0, 0.0]], n_max=3)
    assert metrics.w2(a, wa, b, wb) == pytest.approx(1.0) and metrics.emd(a, wa, b, wb) == pytest.approx(1.0)
    # a cloud and the same cloud with every point doubled are the same measure
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(7, 2))
    c, wc = _cloud(pts, n_max=14)
    c2, wc2 = _cloud(np.concatenate([pts, pts]))
    assert metrics.w2(c, wc, c2, wc2) == pytest.approx(0.0, abs=1e-7)
    # the equal-size assignment shortcut agrees with POT's LP
    import ot

    q = rng.normal(size=(7, 2))
    d, wd = _cloud(q)
    lp = np.sqrt(ot.emd2(np.full(7, 1 / 7), np.full(7, 1 / 7), ot.dist(pts, q)))
    assert metrics.w2(c, wc, d, wd) == pytest.approx(lp, rel=1e-6)  # pad_clouds stores float32


def test_pairwise_matches_single_pairs(digits):
    points, weights, _ = digits
    a, b = (points[:6], weights[:6]), (points[6:11], weights[6:11])
    for name, fn in metrics.METRICS.items():
        D = metrics.pairwise(name, a, b)
        assert D.shape == (6, 5)
        ref = [[float(fn(points[i], weights[i], points[6 + j], weights[6 + j])) for j in range(5)] for i in range(6)]
        np.testing.assert_allclose(D, ref, rtol=1e-6, atol=1e-9)
    Daa = metrics.pairwise("chamfer", a, a, chunk_elems=1)
    np.testing.assert_allclose(Daa, Daa.T, atol=1e-12)
    assert np.all(np.diag(Daa) == 0)
    for name in ("w2", "emd"):  # against itself: the upper triangle solved and mirrored
        self_d, full = metrics.pairwise(name, a), metrics.pairwise(name, a, a)
        assert np.array_equal(self_d, self_d.T) and np.all(np.diag(self_d) == 0)
        np.testing.assert_allclose(self_d, full, rtol=1e-12, atol=1e-12)


def test_one_nna_known_answers(digits):
    points, weights, _ = digits
    g, r = (points[:40], weights[:40]), (points[40:80], weights[40:80])
    Dgg, Drr, Dgr = (metrics.pairwise("chamfer", *p) for p in ((g, g), (r, r), (g, r)))
    assert metrics.one_nna(Dgg, Dgg, Dgg) == 0.0  # an exact copy: every cloud's nearest is its twin
    assert 0.35 < metrics.one_nna(Dgg, Drr, Dgr) < 0.65  # two disjoint sets of real digits: measured 0.525
    far = (points[:40] + 10.0, weights[:40])
    assert metrics.one_nna(Dgg, Drr, metrics.pairwise("chamfer", far, r)) == 1.0  # separable sets
    # 1-D positions g = (0, 1), r = (1.4, 10), distance |·|: g0→g1 right, g1→r0 wrong, r0→g1 wrong, r1→r0 right
    g2, r2 = np.array([0.0, 1.0]), np.array([1.4, 10.0])
    Dgg2, Drr2, Dgr2 = (np.abs(a[:, None] - b[None]) for a, b in ((g2, g2), (r2, r2), (g2, r2)))
    assert metrics.one_nna(Dgg2, Drr2, Dgr2) == 0.5
    with pytest.raises(ValueError, match="shapes"):
        metrics.one_nna(Dgg2, Drr2, Dgr2[:, :1])


def test_mmd_and_coverage_constructed():
    """Reference clouds at 0, 10, 20 (1-D positions), generated at 0.5, 1, 19, distance |g − r|: nearest
    references of the generated are {0, 0, 20} → COV 2/3; MMD = mean(0.5, 9, 1) = 3.5."""
    gen, ref = np.array([0.5, 1.0, 19.0]), np.array([0.0, 10.0, 20.0])
    D = np.abs(gen[:, None] - ref[None])
    assert metrics.coverage(D) == pytest.approx(2 / 3)
    assert metrics.mmd(D) == pytest.approx(3.5)


def test_nearest_w2_equals_brute_force(digits):
    """The pruned search gives exactly the min over all pairs, for data and for noise clouds."""
    points, weights, _ = digits
    ref = (points[100:160], weights[100:160])
    noise = clouds.noise_clouds(torch.from_numpy(weights[:25]), 2, generator=torch.Generator().manual_seed(0))
    for gen in ((points[:25], weights[:25]), (noise.numpy(), weights[:25])):
        brute = metrics.pairwise("w2", gen, ref).min(axis=1).mean()
        assert metrics.nearest_w2(gen, ref) == pytest.approx(brute, rel=1e-12)
    # asked again (the memorisation and label-recovery scores share pairs of sets): the same answer, from the
    # cache, and the caller may modify what it gets
    first = metrics.nearest_cloud((points[:25], weights[:25]), ref)
    first[0][:] = -1
    again = metrics.nearest_cloud((points[:25].astype(np.float64), weights[:25].astype(np.float64)), ref)
    assert np.all(again[0] >= 0) and np.array_equal(
        again[1], metrics.nearest_cloud((points[:25], weights[:25]), ref)[1]
    )


def test_w2_lower_bound_is_a_lower_bound(digits):
    """nearest_cloud's pruning bound (Gelbrich in 2-D, radii otherwise) never exceeds the exact W2², also for
    degenerate clouds (one point, collinear points) and in 3-D."""
    points, weights, _ = digits
    rng = np.random.default_rng(0)
    real = [metrics._real(p, w) for p, w in zip(points[:30], weights[:30])]
    real += [np.zeros((1, 2)), np.c_[np.linspace(0, 1, 5), np.zeros(5)], rng.normal(size=(7, 2)) * [3.0, 0.1]]
    bound = metrics._w2_sq_lower_bound(real, real)
    for i, x in enumerate(real):
        for j, y in enumerate(real):
            assert bound[i, j] <= metrics._exact_ot(x, y, squared=True) * (1 + 1e-9) + 1e-12
    real3 = [rng.normal(size=(n, 3)) for n in (4, 6, 9)]
    bound3 = metrics._w2_sq_lower_bound(real3, real3)
    for i, x in enumerate(real3):
        for j, y in enumerate(real3):
            assert bound3[i, j] <= metrics._exact_ot(x, y, squared=True) * (1 + 1e-9) + 1e-12
