"""prepare → train → evaluate → report round trip on a micro config, and bit-identical resumption of an ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import papersuite.socm.train as train_module
from papersuite.core.records import load_records
from papersuite.socm.evaluate import evaluate_ensemble
from papersuite.socm.report import build_report, parse_curve_path
from papersuite.socm.steps import prepare, warm_start
from papersuite.socm.train import CURVE_COLUMNS, train_control

MICRO_PROBLEMS = {
    "ou_quadratic_easy": dict(
        kind="ou_quadratic", d=2, T=1.0, lam=1.0, N=10, a=0.2, p=0.2, q=0.1, x0=[0.4, 0.6], seed=0
    ),
    "ou_quadratic_hard_warm": dict(
        kind="ou_quadratic", d=2, T=1.0, lam=1.0, N=10, a=1.0, p=1.0, q=0.5, x0=None, seed=0
    ),
    "linear_ou": dict(kind="linear_ou", d=2, T=1.0, lam=1.0, N=10, xi_std=0.1, seed=0),
    # N=50: Euler–Maruyama needs Δt·8κ < 2 at the wells of the stiff double well
    "double_well": dict(
        kind="double_well",
        d=2,
        T=1.0,
        lam=1.0,
        N=50,
        kappa=[5.0, 1.0],
        nu=[3.0, 1.0],
        seed=0,
        pde=dict(dx=0.02, dt=0.01, xb=2.75),
    ),
}
MICRO_TRAIN = dict(
    iterations=24,
    batch=16,
    lr=1e-3,
    M_lr=1e-3,
    hdims=[8, 8, 8],
    M_hdims=[8, 8],
    gamma0=2.0,
    scaling_factor_nabla_V=1.0,
    scaling_factor_M=0.1,
    norm_batches=2,
    ema=0.01,
    checkpoint_every=6,
    log_every=5,
    warm_start=None,
)
MICRO_WARM = dict(iterations=20, batch=32, knots=5, lr=1e-2, time_points=20)


def _run_dir(root: Path, setting: str, method: str) -> Path:
    return root / "models" / setting / method


def _train(
    root: Path, setting: str, method: str, train: dict, ckpt: Path | None = None, seeds: tuple[int, ...] = (0,)
) -> Path:
    run = _run_dir(root, setting, method)
    train_control(
        root / "data" / f"{setting}.npz",
        setting,
        method,
        train,
        list(seeds),
        run / "model.pt",
        run / "curve.csv",
        ckpt or root / "ckpt" / setting / method,
    )
    return run


def _copy_data(src_root: Path, dst_root: Path, setting: str) -> None:
    (dst_root / "data").mkdir(parents=True)
    (dst_root / "data" / f"{setting}.npz").write_bytes((src_root / "data" / f"{setting}.npz").read_bytes())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("socm")
    for setting, problem in MICRO_PROBLEMS.items():
        prepare(
            setting=setting,
            problem=problem,
            out_npz=root / "data" / f"{setting}.npz",
            out_json=root / "data" / f"{setting}.json",
        )
    return root


def test_prepare_writes_npz_and_summary(prepared):
    info = json.loads((prepared / "data" / "ou_quadratic_easy.json").read_text())
    assert info["setting"] == "ou_quadratic_easy" and info["d"] == 2 and info["N"] == 10
    assert info["V0_analytic"] == pytest.approx(0.557666, abs=1e-6)
    assert info["F0"] == pytest.approx(0.292554, abs=1e-6)
    with np.load(prepared / "data" / "double_well.npz", allow_pickle=False) as data:
        assert data["ref_u_tables"].shape[0] == 51
        assert float(data["ref_V0"]) == pytest.approx(0.1367 + 0.2397, abs=3e-3)
    lin = json.loads((prepared / "data" / "linear_ou.json").read_text())
    assert lin["V0_analytic"] < 0
    hard = json.loads((prepared / "data" / "ou_quadratic_hard_warm.json").read_text())
    assert hard["x0"] != [0.0, 0.0]  # drawn 0.5·N(0, I) from the seed


def test_round_trip_train_evaluate_report(prepared, tmp_path):
    runs = [
        ("ou_quadratic_easy", "SOCM", MICRO_TRAIN),
        ("ou_quadratic_easy", "adjoint", MICRO_TRAIN),
        ("ou_quadratic_easy", "variance", MICRO_TRAIN),
        ("linear_ou", "SOCM_adjoint", MICRO_TRAIN),
        ("double_well", "cross_entropy", MICRO_TRAIN),
        (
            "ou_quadratic_hard_warm",
            "SOCM",
            {**MICRO_TRAIN, "M_lr": 1e-2, "scaling_factor_nabla_V": 0.1, "warm_start": MICRO_WARM},
        ),
    ]
    records, curves = [], []
    for setting, method, train in runs:
        seeds = (0, 1) if method == "SOCM" else (0,)  # an ensemble of two seeds and single runs
        run = _train(prepared, setting, method, train, seeds=seeds)
        curve = pd.read_csv(run / "curve.csv")
        assert list(curve.columns) == ["seed", *CURVE_COLUMNS]
        assert curve["seed"].tolist() == [s for s in seeds for _ in range(5)]
        assert curve["iteration"].tolist() == [5, 10, 15, 20, 24] * len(seeds)
        assert np.isfinite(curve.drop(columns="iteration").to_numpy()).all()
        model = torch.load(run / "model.pt", weights_only=True)
        assert model["seeds"] == list(seeds) and [m["seed"] for m in model["members"]] == list(seeds)
        for member in model["members"]:
            assert set(member) >= {"control", "M", "gamma", "warm_start"}
            assert (member["M"] is not None) == (method == "SOCM")
            assert (member["warm_start"] is not None) == (setting == "ou_quadratic_hard_warm")
        assert not (prepared / "ckpt" / setting / method).exists()  # cleared after the outputs
        rec_path = tmp_path / "metrics" / f"{setting}_{method}.json"
        evaluate_ensemble(
            prepared / "data" / f"{setting}.npz",
            run / "model.pt",
            run / "curve.csv",
            setting,
            method,
            {"n_trajectories": 512},
            "tiny",
            rec_path,
        )
        recs = load_records([rec_path])
        assert [r["seed"] for r in recs] == list(seeds)
        rec, last = recs[0], curve[curve["seed"] == 0].iloc[-1]
        m = rec["metrics"]
        assert rec["paper"] == "socm" and rec["experiment"] == setting and rec["method"] == method
        assert m["objective_gap"] == pytest.approx(m["control_objective"] - m["optimal_cost"])
        assert m["control_l2_error_ema"] == pytest.approx(last["control_l2_error"])
        assert m["control_l2_error"] > 0 and 0 < m["control_l2_error_se"] < m["control_l2_error"]
        assert m["objective_gap_se"] == m["control_objective_se"] > 0 and m["optimal_cost_se"] == 0.0
        assert m["time_per_iteration_s_se"] > 0
        assert m["iterations"] == 24 and rec["wall_s"] > 0
        assert rec["extra"]["last_window_iterations"] == 3 and m["control_l2_error_last_window"] > 0
        records.append(rec_path)
        curves.append(run / "curve.csv")
    assert parse_curve_path(curves[0]) == ("ou_quadratic_easy", "SOCM")
    build_report(records, curves, None, "tiny", tmp_path / "tables", tmp_path / "figures")
    l2 = pd.read_csv(tmp_path / "tables" / "control_l2_error.csv")
    easy = l2[l2["setting"] == "ou_quadratic_easy"]
    assert sorted(easy["rank"]) == [1, 2, 3]
    assert sorted(easy["rank_last_window"]) == [1, 2, 3] and (easy["last_window"] > 0).all()
    for name in ("control_l2_error", "time_per_iteration", "control_objective"):
        assert (tmp_path / "tables" / f"{name}.csv").exists() and (tmp_path / "tables" / f"{name}.md").exists()
    assert {"control_l2_error_se", "control_l2_error_std"} <= set(l2.columns)
    assert (l2["control_l2_error_se"] > 0).all()  # the seed spread or the evaluation paths' standard error
    assert "control_l2_error ± se" in (tmp_path / "tables" / "control_l2_error.md").read_text()
    assert "control_objective ± se" in (tmp_path / "tables" / "control_objective.md").read_text()
    timing = pd.read_csv(tmp_path / "tables" / "time_per_iteration.csv")
    assert set(timing["method"]) == {"SOCM", "adjoint", "variance"} and "paper_value" in timing.columns
    for name in ("control_l2_error.png", "normalized_iw_std.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000


class _Interrupt(RuntimeError):
    pass


def _model_tensors(path: Path) -> dict:
    model = torch.load(path, weights_only=True)
    for member in model["members"]:
        for key in ("train_wall_s", "mean_time_per_iteration_s", "time_per_iteration_se_s"):  # wall-clock
            member.pop(key)
    return model


def _assert_same(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize(
    "setting,method,extra",
    [
        ("ou_quadratic_easy", "SOCM", {}),
        ("ou_quadratic_easy", "moment", {"y0_lr_switch": 10}),
        ("ou_quadratic_easy", "adjoint", {}),
        ("ou_quadratic_hard_warm", "cross_entropy", {"warm_start": MICRO_WARM}),
    ],
)
def test_resume_is_bit_identical(prepared, tmp_path, monkeypatch, setting, method, extra):
    """Interrupt an ensemble of two seeds after iteration 15 (checkpoints at 6 and 12), rerun: same model and
    curves as one run."""
    train = {**MICRO_TRAIN, **extra}
    ref_root, cut_root = tmp_path / "ref", tmp_path / "cut"
    for root in (ref_root, cut_root):
        _copy_data(prepared, root, setting)
    ref = _train(ref_root, setting, method, train, seeds=(0, 1))

    def interrupt(iteration: int) -> None:
        if iteration == 15:
            raise _Interrupt

    monkeypatch.setattr(train_module, "_after_iteration", interrupt)
    with pytest.raises(_Interrupt):
        _train(cut_root, setting, method, train, seeds=(0, 1))
    ckpt_dir = cut_root / "ckpt" / setting / method
    assert sorted(p.name for p in ckpt_dir.glob("step_*.pt")) == ["step_00000006.pt", "step_00000012.pt"]
    assert not (_run_dir(cut_root, setting, method) / "model.pt").exists()
    monkeypatch.setattr(train_module, "_after_iteration", lambda iteration: None)
    resumed = _train(cut_root, setting, method, train, seeds=(0, 1))
    _assert_same(_model_tensors(ref / "model.pt"), _model_tensors(resumed / "model.pt"))
    a = pd.read_csv(ref / "curve.csv").drop(columns="time_per_iteration_s")
    b = pd.read_csv(resumed / "curve.csv").drop(columns="time_per_iteration_s")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not ckpt_dir.exists()


def test_checkpoint_of_another_config_is_not_resumed(prepared, tmp_path, monkeypatch):
    """A stale checkpoint (other lr) is discarded: the result equals a fresh run with the new config."""
    setting, method = "ou_quadratic_easy", "SOCM_const_M"
    root = tmp_path / "stale"
    _copy_data(prepared, root, setting)

    def interrupt(iteration: int) -> None:
        if iteration == 13:
            raise _Interrupt

    monkeypatch.setattr(train_module, "_after_iteration", interrupt)
    with pytest.raises(_Interrupt):
        _train(root, setting, method, {**MICRO_TRAIN, "lr": 5e-2})
    monkeypatch.setattr(train_module, "_after_iteration", lambda iteration: None)
    resumed = _train(root, setting, method, MICRO_TRAIN)
    _copy_data(prepared, tmp_path / "fresh", setting)
    fresh = _train(tmp_path / "fresh", setting, method, MICRO_TRAIN)
    _assert_same(_model_tensors(resumed / "model.pt"), _model_tensors(fresh / "model.pt"))


def test_bad_method_and_config_fail_clearly(prepared, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        _train(prepared, "ou_quadratic_easy", "SOCM_exp", MICRO_TRAIN)
    with pytest.raises(ValueError, match="iterations"):
        _train(prepared, "ou_quadratic_easy", "SOCM", {"batch": 8})


def test_warm_start_fitted_once_equals_warm_start_fitted_inline(prepared, tmp_path):
    """The workflow fits the warm start in its own job; training from that file matches an inline fit."""
    setting, method = "ou_quadratic_hard_warm", "cross_entropy"
    train = {**MICRO_TRAIN, "warm_start": MICRO_WARM}
    _copy_data(prepared, tmp_path / "inline", setting)
    inline = _train(tmp_path / "inline", setting, method, train)
    warm_file = tmp_path / "warm_start.pt"
    warm_start(problem_npz=prepared / "data" / f"{setting}.npz", warm_start=MICRO_WARM, seed=0, out_path=warm_file)
    run = _run_dir(tmp_path / "from_file", setting, method)
    train_control(
        prepared / "data" / f"{setting}.npz",
        setting,
        method,
        train,
        [0],
        run / "model.pt",
        run / "curve.csv",
        tmp_path / "ckpt_from_file",
        warm_start_paths=[warm_file],
    )
    (ours,) = torch.load(run / "model.pt", weights_only=True)["members"]
    (theirs,) = torch.load(inline / "model.pt", weights_only=True)["members"]
    for name, tensor in theirs["control"].items():
        assert torch.equal(ours["control"][name], tensor), name
    for name, tensor in theirs["warm_start"].items():
        assert torch.equal(ours["warm_start"][name], tensor), name
