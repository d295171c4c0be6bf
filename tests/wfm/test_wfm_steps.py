"""The wfm rules' entry points (papersuite.wfm.steps) on Gaussians: prepare, then train (fit and score in one
call) writes a valid record, samples and a model that loads with weights_only; a killed training resumes; bad
input names the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from papersuite.core import records
from papersuite.wfm import gaussian_runs, report, steps

SMALL = {
    "steps": 40,
    "batch": 16,
    "lr": 3e-3,
    "decay": 0.97,
    "decay_every": 100,
    "embed": 16,
    "hidden": 32,
    "n_blocks": 1,
    "n_freq": 4,
    "ckpt_every": 20,
}


@pytest.fixture(scope="module")
def spiral_h5ad(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "spiral.h5ad"
    steps.prepare_gaussians(out_path=path, params={"dataset": "spiral", "n": 64, "n_train": 48, "seed": 3})
    return path


def test_prepare_gaussians_uses_the_split_seed(spiral_h5ad, tmp_path):
    import anndata as ad

    adata = ad.read_h5ad(spiral_h5ad)
    assert (adata.obs["split"] == "train").sum() == 48
    other_params = {"dataset": "spiral", "n": 64, "n_train": 48, "seed": 4}
    steps.prepare_gaussians(out_path=tmp_path / "other.h5ad", params=other_params)
    other = ad.read_h5ad(tmp_path / "other.h5ad")
    assert not np.array_equal(np.asarray(adata.obs["split"]), np.asarray(other.obs["split"]))


def test_train_writes_model_curve_record_samples(spiral_h5ad, tmp_path):
    """Rule wfm_train's one call trains, then scores the run it trained."""
    model_path, curve, ckpt = tmp_path / "model.pt", tmp_path / "curve.csv", tmp_path / "ckpt"
    rec_path, samples = tmp_path / "rec.json", tmp_path / "samples.npz"
    run = {
        "family": "gaussians",
        "data_path": spiral_h5ad,
        "experiment": "spiral",
        "method": "euclidean_fm",
        "evaluate": {"sample_steps": 10},
        "seed": 0,
        "scale": "tiny",
    }
    steps.train(
        **run,
        train=SMALL,
        out_model=model_path,
        out_curve=curve,
        out_record=rec_path,
        out_samples=samples,
        ckpt_dir=ckpt,
    )
    assert not ckpt.exists() or not any(ckpt.iterdir())  # checkpoints cleared after success
    model, state = gaussian_runs.load_gaussian_model(model_path)
    assert state["method"] == "euclidean_fm" and state["d"] == 2 and len(state["noise_stats"]) == 2
    assert len(curve.read_text().splitlines()) == SMALL["steps"] + 1
    rec = records.validate_record(json.loads(rec_path.read_text()))
    m = rec["metrics"]
    assert rec["extra"]["family"] == "gaussians" and rec["extra"]["data_kind"] == "synthetic"
    assert m["w2_ratio_to_noise"] == pytest.approx(m["w2_gen"] / m["w2_noise"])
    assert m["psd_frac"] == pytest.approx(1 - m["non_psd_frac"])
    # every metric a claim reads has its standard error (uncertainty.py); the PSD fraction's is binomial
    for name in ("psd_frac", "non_psd_frac", "w2_gen", "w2_noise", "w2_ratio_to_noise"):
        assert np.isfinite(m[f"{name}_se"]) and m[f"{name}_se"] >= 0, name
    assert m["psd_frac_se"] == pytest.approx(np.sqrt(m["non_psd_frac"] * (1 - m["non_psd_frac"]) / 16))
    assert m["w2_gen_se"] > 0
    with np.load(samples) as npz:
        assert npz["means"].shape == (16, 2) and npz["covs"].shape == (16, 2, 2)
        assert np.allclose(npz["min_eig"], np.linalg.eigvalsh(npz["covs"])[:, 0])
        assert np.mean(npz["min_eig"] < 0) == pytest.approx(m["non_psd_frac"])
    # evaluation is deterministic: scoring the saved model again writes the same metrics
    steps.score(**run, model_path=model_path, out_record=tmp_path / "rec2.json", out_samples=tmp_path / "s2.npz")
    again = json.loads((tmp_path / "rec2.json").read_text())["metrics"]
    assert {k: v for k, v in again.items() if not k.endswith("_s")} == {
        k: v for k, v in m.items() if not k.endswith("_s")
    }


def test_killed_training_resumes_to_the_same_model(spiral_h5ad, tmp_path, preempted_at):
    full, curve = tmp_path / "full.pt", tmp_path / "full.csv"
    gaussian_runs.train_gaussians(spiral_h5ad, "bw_fm", SMALL, 1, full, curve, tmp_path / "ck_full")
    # a first attempt killed at step 20 leaves its step-20 checkpoint behind
    from papersuite.wfm import train as bw_train

    with preempted_at(bw_train, 20):
        gaussian_runs.train_gaussians(
            spiral_h5ad, "bw_fm", SMALL, 1, tmp_path / "killed.pt", tmp_path / "killed.csv", tmp_path / "ck_resume"
        )
    assert not (tmp_path / "killed.pt").exists()
    resumed = tmp_path / "resumed.pt"
    gaussian_runs.train_gaussians(
        spiral_h5ad, "bw_fm", SMALL, 1, resumed, tmp_path / "resumed.csv", tmp_path / "ck_resume"
    )
    a = torch.load(full, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert b["resumed_from"] == 20 and a["resumed_from"] == 0
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    assert (tmp_path / "resumed.csv").read_text() == curve.read_text()


def test_unknown_family_and_method_are_named():
    with pytest.raises(ValueError, match="unknown wfm family 'shapes'"):
        steps.fit(
            family="shapes",
            data_path="x.h5ad",
            method="wfm",
            train={},
            seed=0,
            out_model="m.pt",
            out_curve="c.csv",
            ckpt_dir="ck",
        )
    with pytest.raises(ValueError, match="unknown Gaussian method 'bw'"):
        gaussian_runs.train_gaussians("missing.h5ad", "bw", SMALL, 0, "m.pt", "c.csv", "ck")


def test_parse_run_path():
    assert report.parse_run_path("r/tiny/wfm/metrics/gaussians/pbmc68k/bw_fm/seed3.json") == (
        "gaussians",
        "pbmc68k",
        "bw_fm",
        3,
    )
    assert report.parse_run_path("r/tiny/wfm/models/clouds/digits/wfm/seed0/curve.csv") == (
        "clouds",
        "digits",
        "wfm",
        0,
    )
    with pytest.raises(ValueError, match="expected"):
        report.parse_run_path("curve.csv")


CLOUD_SMALL = {"steps": 10, "batch": 8, "hidden": 16, "n_layers": 1, "n_heads": 2, "n_freq": 4, "ckpt_every": 0}


@pytest.mark.parametrize("family", ["clouds", "niches"])
def test_cloud_evaluation_writes_standard_errors_of_its_per_item_scores(family, tmp_path):
    """The nearest-W2 se is the standard error of the per-cloud W2 to the nearest test cloud, recomputed here by
    brute force (every pair solved); label recovery's is binomial over the generated niches."""
    from scipy import stats

    from papersuite.wfm import cloud_runs, metrics

    data_path = tmp_path / ("clouds.npz" if family == "clouds" else "niches.h5ad")
    if family == "clouds":
        steps.prepare_clouds(out_path=data_path, params={"dataset": "digits", "n_train": 120, "n_test": 30, "seed": 0})
        experiment, method = "digits", "wfm"
    else:
        steps.prepare_niches(out_path=data_path, params={"dataset": "semisynthetic", "split": "slice", "seed": 0})
        experiment, method = "semisynthetic_tissue", "wfm_conditional"
    train = {**CLOUD_SMALL, "minibatch": "none"} if family == "niches" else CLOUD_SMALL
    evaluate = {"sample_steps": 4, "max_clouds": 30, "max_train_reference": 40, "set_metrics": ["cd"]}
    steps.train(
        family=family,
        data_path=data_path,
        experiment=experiment,
        method=method,
        train=train,
        evaluate=evaluate,
        seed=0,
        scale="tiny",
        out_model=tmp_path / "model.pt",
        out_curve=tmp_path / "curve.csv",
        out_record=tmp_path / "rec.json",
        out_samples=tmp_path / "samples.npz",
        ckpt_dir=tmp_path / "ckpt",
    )
    m = records.validate_record(json.loads((tmp_path / "rec.json").read_text()))["metrics"]
    for name in ("nearest_w2", "nearest_w2_noise", "nearest_w2_ratio_to_noise", "memorisation_ratio"):
        assert np.isfinite(m[f"{name}_se"]) and m[f"{name}_se"] > 0, name
    with np.load(tmp_path / "samples.npz") as npz:
        generated = (npz["points"], npz["weights"])
    test = cloud_runs.read_cloud_set(family, data_path, "test")
    if family == "clouds":  # 30 test clouds: all of them are the reference set
        per_cloud = metrics.pairwise("w2", generated, (test["points"], test["weights"])).min(axis=1)
        assert m["nearest_w2"] == pytest.approx(per_cloud.mean(), rel=1e-9)
        assert m["nearest_w2_se"] == pytest.approx(stats.sem(per_cloud), rel=1e-9)
    else:
        p = m["label_recovery"]
        assert m["label_recovery_se"] == pytest.approx(np.sqrt(p * (1 - p) / 30), rel=1e-12)
        assert m["label_recovery_over_chance_se"] == pytest.approx(m["label_recovery_se"] / m["label_recovery_chance"])
