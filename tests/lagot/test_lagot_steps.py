"""The workflow side of lagot: the steps write valid records and figure data, the authors' snapshot files are read
safely, and the tables and figures are built from those outputs (docs/papers/lagot.md, "What runs")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from papersuite.core.records import load_records
from papersuite.lagot import steps

# A few iterations of each: these tests check the plumbing, the science has its own known-answer tests.
TRANSPORT = {
    "geometry": {"name": "box"},
    "data": "box",
    "cost": "amortized",
    "train": {
        "iterations": 6,
        "batch_size": 32,
        "potential_hidden": [8],
        "map_hidden": [8],
        "anneal_steps": 3,
        "ctransform": {"max_iter": 2},
        "amortizer": {
            "hidden": [8],
            "n_params": 4,
            "n_points": 8,
            "pretrain_steps": 3,
            "refit_every": 2,
            "refit_steps": 2,
            "refit_stop_before_end": 1,
        },
        "checkpoint_every": 0,
    },
}
EVALUATE = {"n_eval": 32, "eval_repeats": 2, "n_dual": 64, "n_paths": 5}
METRIC = {
    "true_metric": "circle",
    "train": {
        "iterations": 4,
        "n_pairs": 2,
        "potential_hidden": [8],
        "map_hidden": [8],
        "metric_hidden": [8],
        "metric_every": 1,
        "metric_warmup": 1,
        "ctransform": {"max_iter": 2},
        "amortizer": {
            "hidden": [8],
            "n_params": 4,
            "n_points": 8,
            "pretrain_steps": 2,
            "refit_every": 2,
            "refit_steps": 2,
        },
        "alignment_grid": 5,
        "eval_every": 2,
        "quiver_grid": 4,
        "n_chains": 3,
        "checkpoint_every": 0,
    },
}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded torch (tests/conftest.py)."""


def _run_transport(tmp_path, seed=0):
    run = tmp_path / "transport" / "box" / f"seed{seed}"  # the layout the figure reads the experiment from
    out = {
        "out_model": run / "model.pt",
        "out_curve": run / "curve.csv",
        "out_paths": run / "paths.npz",
        "out_record": run / "record.json",
    }
    steps.transport(
        experiment="box", config=TRANSPORT, evaluate=EVALUATE, seed=seed, scale="tiny", ckpt_dir=None, **out
    )
    return out


def _run_metric(tmp_path, seed=0):
    data = tmp_path / "circle.npz"
    steps.snapshots(dataset="circle", snapshots={"name": "circle", "seed": 0}, source=None, out_npz=data)
    out = {
        "out_model": tmp_path / "m.pt",
        "out_curve": tmp_path / "m.csv",
        "out_field": tmp_path / "metric" / "circle" / f"seed{seed}" / "field.npz",
        "out_record": tmp_path / "m.json",
    }
    steps.metric(dataset="circle", config=METRIC, seed=seed, scale="tiny", data_npz=data, ckpt_dir=None, **out)
    return out


def test_transport_writes_a_valid_record_and_the_figure_data(tmp_path):
    out = _run_transport(tmp_path)
    (rec,) = load_records([out["out_record"]])
    assert (rec["experiment"], rec["method"], rec["seed"]) == ("box", "nlot_amortized", 0)
    metrics = rec["metrics"]
    for name in ("w2", "w2_se", "noise_w2", "w2_ratio", "w2_ratio_se", "obstacle_point_fraction", "dual"):
        assert np.isfinite(metrics[name]), name
    assert metrics["ode_solves"] == 0 and "train_seconds" not in metrics
    with np.load(out["out_paths"]) as data:
        assert data["paths"].shape == (5, 8, 2) and data["source"].shape == (5, 2)
        assert data["potential"].shape == (steps.BACKGROUND_GRID, steps.BACKGROUND_GRID)
        assert data["potential"].min() < -1.0  # the box barrier (−3.61 inside at the end of annealing)
    header = out["out_curve"].read_text().splitlines()[0].split(",")
    assert header[0] == "iteration" and "dual" in header
    assert len(out["out_curve"].read_text().splitlines()) == 1 + TRANSPORT["train"]["iterations"]


def test_closed_form_transport_records_its_missing_amortizer_energy_as_none(tmp_path):
    """No amortizer under the closed-form cost: its pretraining energy is missing (None in the record, not NaN)."""
    config = {
        "geometry": {"name": "euclidean"},
        "data": "euclidean",
        "cost": "closed_form",
        "train": {k: v for k, v in TRANSPORT["train"].items() if k != "amortizer"},
    }
    run = tmp_path / "transport" / "gaussians" / "seed0"
    steps.transport(
        experiment="gaussians",
        config=config,
        evaluate=EVALUATE,
        seed=0,
        scale="tiny",
        ckpt_dir=None,
        out_model=run / "model.pt",
        out_curve=run / "curve.csv",
        out_paths=run / "paths.npz",
        out_record=run / "record.json",
    )
    (rec,) = load_records([run / "record.json"])
    assert rec["metrics"]["pretrain_energy_final"] is None
    assert "obstacle_point_fraction" not in rec["metrics"] and np.isfinite(rec["metrics"]["w2_ratio"])


def test_authors_snapshot_file_is_read_by_the_weights_only_loader(tmp_path):
    """The x-paths layout (streams, T, N, 2) becomes (T, streams·N, 2); anything but one tensor is refused."""
    streams = torch.arange(2 * 3 * 4 * 2, dtype=torch.float64).reshape(2, 3, 4, 2)
    torch.save(streams, tmp_path / "xpath.pt")
    steps.snapshots(
        dataset="xpath",
        snapshots={"name": "xpath", "seed": 0},
        source=tmp_path / "xpath.pt",
        out_npz=tmp_path / "xpath.npz",
    )
    with np.load(tmp_path / "xpath.npz") as data:
        snaps = data["snapshots"]
    assert snaps.shape == (3, 8, 2)
    np.testing.assert_array_equal(snaps[1, :4], streams[0, 1].numpy())
    np.testing.assert_array_equal(snaps[1, 4:], streams[1, 1].numpy())
    torch.save({"not": "a tensor"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt: expected one tensor"):
        steps.snapshots(
            dataset="x",
            snapshots={"name": "xpath", "seed": 0},
            source=tmp_path / "bad.pt",
            out_npz=tmp_path / "bad.npz",
        )


def test_metric_record_field_and_the_tables_and_figures(tmp_path):
    transport = _run_transport(tmp_path)
    metric = _run_metric(tmp_path)
    (rec,) = load_records([metric["out_record"]])
    assert rec["method"] == "metric_learning" and 0.0 <= rec["metrics"]["alignment"] <= 1.0
    with np.load(metric["out_field"]) as data:
        assert data["points"].shape == (16, 2) and data["learned_direction"].shape == (16, 2)
        assert data["snapshots"].shape == (25, 100, 2)
    names = ["transport_csv", "transport_md", "alignment_csv", "alignment_md", "obstacles_figure", "metric_figure"]
    suffix = {"csv": ".csv", "md": ".md", "figure": ".png"}
    outputs = {k: str(tmp_path / "out" / (k + suffix[k.rsplit("_", 1)[1]])) for k in names}
    steps.table(
        records=[str(transport["out_record"]), str(metric["out_record"])],
        paths=[str(transport["out_paths"])],
        fields=[str(metric["out_field"])],
        references="config/references/lagot.yaml",
        scale="tiny",
        outputs=outputs,
    )
    transport_md = (tmp_path / "out" / "transport_md.md").read_text()
    assert "| box | nlot_amortized |" in transport_md
    assert "SUBSTITUTE" in (tmp_path / "out" / "alignment_md.md").read_text()
    for key in ("obstacles_figure", "metric_figure"):
        assert (tmp_path / "out" / f"{key}.png").stat().st_size > 10_000
    assert json.loads(json.dumps(rec))["extra"]["true_metric"] == "circle"
