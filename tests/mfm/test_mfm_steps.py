"""The workflow steps end to end on small settings: prepare, train (every method kind), table (docs/papers/mfm.md)."""

from __future__ import annotations

import json

import pytest
import torch

from papersuite.mfm import steps
from papersuite.mfm.runs import load_populations

FLOW = {"hidden": 16, "n_layers": 2, "t_dim": 8, "n_fourier": 4, "gnn_hidden": 8, "gnn_layers": 2, "k": 4}
SCREEN = {
    "kind": "screen",
    "seed": 0,
    "screen": {
        "dims": 4,
        "n_patients": 3,
        "cultures": ["PDO", "PDOF"],
        "plates": 1,
        "replicates": ["A"],
        "treatments": ["O", "C"],
        "concentrations": [1, 2],
        "n_cells": 40,
        "small_fraction": 0.0,
        "alpha": 1.0,
        "cell_noise": 0.1,
        "effect": 1.0,
        "offset": 0.3,
    },
    "loader": {
        "min_cells": 20,
        "max_eval_cells": 30,
        "treatments": ["O", "C"],
        "split": {"kind": "patient", "patient": "P2"},
    },
}
METHODS = {
    "fm": {"kind": "fm", "params": {**FLOW, "steps": 6, "n_populations": 2, "n_points": 16, "coupling": "ot"}},
    "mfm": {
        "kind": "mfm",
        "params": {**FLOW, "steps": 6, "n_populations": 2, "n_points": 16, "coupling": "independent"},
    },
    "icnn": {"kind": "icnn", "params": {"hidden": [8], "steps": 3, "n_inner": 2, "n_points": 16}},
    "identity": {"kind": "identity"},
    "ideal_shift": {"kind": "ideal_shift"},
}


@pytest.fixture(scope="module")
def screen_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("mfm") / "screen.pt"
    steps.prepare(experiment="screen", data=SCREEN, seed=0, source=None, out_data=out)
    return out


def test_prepare_writes_every_split_with_the_screen_label(screen_data):
    splits, meta = load_populations(screen_data)
    assert {p.name.split("/")[1] for p in splits["test"]} == {"P2"}
    assert "P2" not in {p.name.split("/")[1] for p in splits["train"]}
    assert meta["note"].startswith("SEMI-SYNTHETIC") and meta["n_treatments"] == 2
    assert all(p.source.shape[0] <= 30 for p in splits["test"]) and splits["train"][0].source_extra.shape[1] == 2


@pytest.mark.parametrize("method", sorted(METHODS))
def test_train_writes_a_record_with_metrics_per_split(screen_data, tmp_path, method):
    record, samples = tmp_path / "rec.json", tmp_path / "samples.pt"
    steps.train(
        experiment="screen",
        method=method,
        config=METHODS[method],
        evaluate={"n_train_eval": 3, "keep": 1},
        seed=0,
        scale="tiny",
        data_path=screen_data,
        out_record=record,
        out_samples=samples,
        ckpt_dir=tmp_path / "ckpt",
        threads=1,
    )
    rec = json.loads(record.read_text())
    for key in ("train_w2", "test_w2", "test_w1", "test_mmd", "test_r", "test_w2_se", "test_w2_PDO"):
        assert rec["metrics"][key] is not None, key
    assert rec["extra"]["note"].startswith("SEMI-SYNTHETIC")
    saved = torch.load(samples, weights_only=True)
    assert len(saved["kept"]["test"]) == 1
    assert bool(saved["embeddings"]) == (method == "mfm")
    assert not (tmp_path / "ckpt").exists()  # cleared once the outputs are written


def test_table_and_figures(tmp_path):
    data = tmp_path / "letters.pt"
    letters = {"kind": "letters", "seed": 0, "font_size": 20, "canvas": 40}
    letters["letters"] = {"n_rotations": 1, "n_points": 24, "train_letters": ["A", "B"]}
    steps.prepare(experiment="letters", data=letters, seed=0, source=None, out_data=data)
    recs, samples = [], {}
    for method in ("fm", "mfm", "identity"):
        cfg = {"kind": method, "params": {**FLOW, "steps": 4, "n_populations": 2, "n_points": 12}}
        rec, smp = tmp_path / f"{method}.json", tmp_path / f"{method}.pt"
        evaluate = {"n_train_eval": 2, "keep": 2}
        steps.train(
            experiment="letters", method=method, config=cfg if method != "identity" else {"kind": "identity"},
            evaluate=evaluate, seed=0, scale="tiny", data_path=data, out_record=rec, out_samples=smp,
            ckpt_dir=None, threads=1,
        )  # fmt: skip
        recs.append(rec)
        samples[f"letters/{method}/seed0"] = smp
    out = {k: tmp_path / f"out.{k}" for k in ("csv", "md")}
    figs = tmp_path / "letters.png", tmp_path / "embedding.png"
    steps.table(records_paths=recs, samples=samples, scale="tiny", out_csv=out["csv"], out_md=out["md"],
                out_letters_figure=figs[0], out_embedding_figure=figs[1])  # fmt: skip
    md = out["md"].read_text()
    assert "mfm" in md and "test_w2" in md and "DejaVu Sans" in md
    assert all(f.stat().st_size > 1000 for f in figs)
