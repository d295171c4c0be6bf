"""Data: the letters generator, the organoid loader on a small table with the screen's schema, the SEMI-SYNTHETIC
pbmc68k screen, and the pickle converter's sha256 gate (docs/papers/mfm.md, "Data", "Known answers")."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
import torch

from papersuite.mfm import organoid
from papersuite.mfm.archive import PickleDigestError, convert_pickle
from papersuite.mfm.letters import letter_splits, render_letter, rotation_matrix
from papersuite.mfm.screen import semisynthetic_screen

LETTERS = {"n_rotations": 2, "n_points": 64, "train_letters": ["A", "B", "C"]}


def test_letter_rendering_spans_three_and_has_the_papers_size():
    """'A' at font size 100 on 200 × 200: 1773 pixels with DejaVu Sans (the paper's Arial: 1709)."""
    pts = render_letter("A")
    assert 1500 < len(pts) < 2000
    assert np.abs(pts).max() == pytest.approx(3.0)
    assert pts.max(0)[1] == pytest.approx(3.0) and pts.min(0)[1] == pytest.approx(-3.0)  # 'A' is taller than wide


def test_letter_splits_are_deterministic_per_seed_and_hold_out_x_and_y():
    a, b, c = letter_splits(LETTERS, 0, 40, 80), letter_splits(LETTERS, 0, 40, 80), letter_splits(LETTERS, 1, 40, 80)
    assert [len(a[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert all(
        torch.equal(p.source, q.source) and torch.equal(p.target, q.target) for p, q in zip(a["train"], b["train"])
    )
    assert not torch.equal(a["train"][0].target, c["train"][0].target)
    assert [p.name[0] for p in a["val"]] == ["X", "X"] and [p.name[0] for p in a["test"]] == ["Y", "Y"]
    assert [p.index for p in a["train"]] == list(range(6)) and {p.index for p in a["val"] + a["test"]} == {-1}


def test_letter_targets_stay_within_three_plus_jitter_and_sources_are_noisier():
    """Rotation keeps ‖x‖ ≤ 3√2 (corners of [−3, 3]²); jitter 0.05 adds < 0.3; source = target + N(0, 0.5²)."""
    pops = letter_splits(LETTERS, 0, 40, 80)["train"]
    target = torch.cat([p.target for p in pops])
    assert target.norm(dim=-1).max() < 3 * math.sqrt(2) + 0.3
    noise = torch.cat([p.source - p.target for p in pops])
    assert noise.std().item() == pytest.approx(0.5, rel=0.1)


def test_rotation_matrices_are_orthonormal():
    for theta in (0.0, 1.0, 4.0):
        R = rotation_matrix(theta)
        torch.testing.assert_close(R @ R.T, torch.eye(2))
        assert torch.linalg.det(R).item() == pytest.approx(1.0)


SCREEN = {
    "dims": 5,
    "n_patients": 3,
    "cultures": ["PDO", "PDOF"],
    "plates": 2,
    "replicates": ["A", "B"],
    "treatments": ["O", "C"],
    "concentrations": [1, 2],
    "n_cells": 60,
    "small_fraction": 0.2,
    "alpha": 1.0,
    "cell_noise": 0.1,
    "effect": 1.0,
    "offset": 0.3,
}
MARKERS = [f"PC{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def screen() -> pd.DataFrame:
    return semisynthetic_screen(SCREEN, seed=0)


def test_screen_has_the_organoid_schema(screen):
    assert {"Patient", "Culture", "Treatment", "Concentration", "Replicate", "Cell_type", "Plate"} <= set(screen)
    assert set(screen["Replicate"]) == {"A", "B", "AA", "BB"}
    assert set(screen["Cell_type"]) == set(organoid.CELL_TYPES)
    assert (screen.loc[screen["Culture"] == "PDO", "Cell_type"] == "PDO cell").all()


def test_max_concentration_rule(screen):
    kept = organoid.max_concentration(screen)
    treated = kept[~kept["Treatment"].isin(organoid.CONTROLS)]
    assert set(treated["Concentration"]) == {2}
    assert (kept["Treatment"] == "DMSO").sum() == (screen["Treatment"] == "DMSO").sum()


def test_small_populations_are_dropped(screen):
    """small_fraction makes some treated sides n_cells // 4 = 15 cells: min_cells 30 drops exactly those."""
    every = organoid.find_populations(screen, min_cells=1)
    big = organoid.find_populations(screen, min_cells=30)
    assert len(every) == 3 * 2 * 2 * 2 * 2
    assert 0 < len(every) - len(big) < len(every)
    assert all(len(p.treated_rows) >= 30 and len(p.control_rows) >= 30 for p in big)
    assert all(screen.loc[list(p.control_rows), "Treatment"].eq("DMSO").all() for p in big)


def test_patient_split_never_trains_on_the_test_patient(screen):
    split = organoid.patient_split(organoid.find_populations(screen, 30), "P2")
    assert split["test"] and {p.patient for p in split["test"]} == {"P2"}
    assert "P2" not in {p.patient for p in split["train"]} and not split["val"]


def test_replicate_split_holds_out_one_replicate_per_chosen_batch(screen):
    pops = organoid.find_populations(screen, 1)
    split = organoid.replicate_split(pops, n_val=1, n_test=1, seed=0)
    assert sum(len(v) for v in split.values()) == len(pops)
    for name in ("val", "test"):
        keys = {(p.culture, p.patient, p.plate, p.replicate) for p in split[name]}
        assert len(keys) == 2  # one replicate of one batch, per culture
        assert not keys & {(p.culture, p.patient, p.plate, p.replicate) for p in split["train"]}
    assert split["train"] == organoid.replicate_split(pops, 1, 1, seed=0)["train"]


def test_normalisation_uses_training_cells_only(screen):
    pops = organoid.find_populations(screen, 30)
    split = organoid.patient_split(pops, "P2")
    stats = organoid.fit_normalisation(screen, MARKERS, split["train"])
    changed = screen.copy()
    test_rows = [r for p in split["test"] for r in (*p.control_rows, *p.treated_rows)]
    changed.loc[test_rows, MARKERS] *= 50.0
    again = organoid.fit_normalisation(changed, MARKERS, split["train"])
    np.testing.assert_allclose(again["mean"], stats["mean"], rtol=1e-12, atol=1e-12)
    assert again["scale"] == pytest.approx(stats["scale"], rel=1e-12)
    train_pops = organoid.to_populations(screen, MARKERS, split["train"], stats, SCREEN["treatments"], None, 0)
    z = torch.cat([torch.cat([p.source, p.target]) for p in train_pops]).double()
    # controls are shared by the treatments of an experiment, so the pooled mean is close to, not exactly, 0
    assert z.mean(0).abs().max() < 0.1 and z.std(0).mean().item() == pytest.approx(1.0, rel=0.1)


def test_screen_markers_invert_to_pbmc68k_components(screen):
    """Markers are 5·sinh(z): the loader's arcsinh(x/5) gives back z, of PC scale (pbmc68k PC1 spans about ±10)."""
    z = np.arcsinh(screen[MARKERS].to_numpy() / 5.0)
    assert np.isfinite(z).all() and 1.0 < np.abs(z).max() < 30.0


def test_pickle_converter_refuses_a_wrong_digest(tmp_path):
    frame = pd.DataFrame({"CD44": [1.0, 2.0], "Patient": ["5", "11"]})
    path = tmp_path / "cells.pkl"
    frame.to_pickle(path)
    out = tmp_path / "cells.parquet"
    with pytest.raises(PickleDigestError, match="refusing to unpickle"):
        convert_pickle(path, "0" * 64, out)
    with pytest.raises(PickleDigestError, match="no valid sha256"):
        convert_pickle(path, None, out)
    assert not out.exists()
    convert_pickle(path, hashlib.sha256(path.read_bytes()).hexdigest(), out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


def test_archive_member_is_checked_before_unpickling(tmp_path):
    import zipfile

    from papersuite.mfm.archive import convert_archive_member

    frame = pd.DataFrame({"CD44": [1.0, 2.0, 3.0]})
    pkl = tmp_path / "cells.pkl"
    frame.to_pickle(pkl)
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(pkl, "inner/cells.pkl")
    out = tmp_path / "cells.parquet"
    with pytest.raises(PickleDigestError):
        convert_archive_member(archive, "inner/cells.pkl", "f" * 64, out)
    with pytest.raises(ValueError, match="no member"):
        convert_archive_member(archive, "missing.pkl", "f" * 64, out)
    convert_archive_member(archive, "inner/cells.pkl", hashlib.sha256(pkl.read_bytes()).hexdigest(), out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


def test_marker_columns_leave_out_metadata_and_dropped_markers(screen):
    assert organoid.marker_columns(screen, ["PC5"]) == MARKERS[:4]
