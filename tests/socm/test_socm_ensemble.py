"""The stacked ensemble of seeds (ensemble.py): member e of an ensemble is the single run of seed e."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import papersuite.socm.train as train_module
from papersuite.socm.ensemble import StackedSigmoidMLP, StackedUNet
from papersuite.socm.methods import METHODS
from papersuite.socm.models import FullyConnectedUNet, SigmoidMLP
from papersuite.socm.optim import Adam
from papersuite.socm.steps import prepare
from papersuite.socm.train import train_control

EASY = dict(kind="ou_quadratic", d=2, T=1.0, lam=1.0, N=10, a=0.2, p=0.2, q=0.1, x0=[0.4, 0.6], seed=0)
TRAIN = dict(
    iterations=30,
    batch=16,
    lr=1e-3,
    M_lr=1e-3,
    hdims=[16, 8, 4],
    M_hdims=[8, 8],
    norm_batches=2,
    ema=0.05,
    checkpoint_every=0,
    log_every=10,
    output_relu=False,
)
# Member e of a 3-seed ensemble against the single run (E = 1) of seed e after 30 iterations: the products are
# batched (bmm instead of mm) and the path means reduce over (K, E, B), so the float rounding of a few numbers may
# differ. Measured on the dev CPU (torch float32), all eight methods: every weight within 6.0e-8 (0 for seed 2),
# Ẑ within a relative 6.6e-9, the final-window L2 error within a relative 1.9e-7. Bounds: 1e-6 and 2e-6.
WEIGHT_ATOL = 1e-6
STAT_RTOL = 2e-6


@pytest.fixture(scope="module")
def problem_npz(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("socm_ensemble")
    prepare(setting="ou_quadratic_easy", problem=EASY, out_npz=root / "easy.npz", out_json=root / "easy.json")
    return root / "easy.npz"


def _members(problem_npz: Path, root: Path, method: str, seeds: list[int], train: dict = TRAIN) -> list[dict]:
    run = root / method / "_".join(map(str, seeds))
    train_control(problem_npz, "ou_quadratic_easy", method, train, seeds, run / "m.pt", run / "c.csv", run / "ck")
    return torch.load(run / "m.pt", weights_only=True)["members"]


def _assert_member_is_single_run(member: dict, single: dict) -> None:
    assert member["seed"] == single["seed"]
    for name, tensor in single["control"].items():
        assert torch.allclose(member["control"][name], tensor, rtol=0, atol=WEIGHT_ATOL), name
    for name in ("M", "warm_start"):
        for key, tensor in (single[name] or {}).items():
            assert torch.allclose(member[name][key], tensor, rtol=0, atol=WEIGHT_ATOL), (name, key)
    for key in ("norm_const", "final_window_control_l2_error"):
        assert member[key] == pytest.approx(single[key], rel=STAT_RTOL), key
    assert member["skipped_steps"] == single["skipped_steps"]


@pytest.mark.parametrize("method", METHODS)
def test_ensemble_member_is_the_single_run_of_its_seed(problem_npz, tmp_path, method):
    ensemble = _members(problem_npz, tmp_path, method, [0, 1, 2])
    for e, seed in enumerate([0, 1, 2]):
        (single,) = _members(problem_npz, tmp_path, method, [seed])
        _assert_member_is_single_run(ensemble[e], single)
    # the members differ: a test of the comparison itself
    assert not torch.allclose(ensemble[0]["control"]["up_0.weight"], ensemble[1]["control"]["up_0.weight"])


def test_a_non_finite_member_skips_only_its_own_step(problem_npz, tmp_path, monkeypatch):
    """Member 1's loss made NaN at one iteration: it skips that step (counted), member 0 trains on as alone."""
    method_loss, calls = train_module._method_loss, []

    def nan_for_member_1_once(*args, **kwargs):
        loss, u_theta = method_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5 and loss.shape[0] == 2:
            loss = loss * torch.tensor([1.0, float("nan")])
        return loss, u_theta

    monkeypatch.setattr(train_module, "_method_loss", nan_for_member_1_once)
    ensemble = _members(problem_npz, tmp_path, "SOCM", [0, 1])
    calls.clear()
    (single0,) = _members(problem_npz, tmp_path, "SOCM", [0])
    _assert_member_is_single_run(ensemble[0], single0)
    assert ensemble[0]["skipped_steps"] == 0 and ensemble[1]["skipped_steps"] == 1
    assert all(torch.isfinite(t).all() for t in ensemble[1]["control"].values() if t.is_floating_point())


def test_stacked_networks_are_their_members():
    """StackedUNet and StackedSigmoidMLP compute each member's network; member_state_dict reloads it exactly."""
    torch.manual_seed(0)
    nets = [FullyConnectedUNet(2, (16, 8, 4), output_relu=False) for _ in range(3)]
    Ms = [SigmoidMLP(2, (8, 8), gamma0=2.0 + i, scaling_factor=0.5) for i in range(3)]
    stacked, stacked_M = StackedUNet(nets), StackedSigmoidMLP(Ms)
    ts = torch.linspace(0.0, 1.0, 5)
    x = torch.randn(5, 3, 7, 2)
    t_pairs, s_pairs = torch.rand(11), torch.rand(11)
    with torch.no_grad():
        ours = stacked(ts, x)
        M, dM = stacked_M.with_s_derivative(t_pairs, s_pairs)
        for e in range(3):
            # measured: bit-identical here; the bound allows batched products' other rounding (1 ulp ~ 1e-7)
            assert torch.allclose(ours[:, e], nets[e](ts, x[:, e]), rtol=0, atol=1e-6)
            M_e, dM_e = Ms[e].with_s_derivative(t_pairs, s_pairs)
            assert torch.allclose(M[e], M_e, rtol=0, atol=1e-6) and torch.allclose(dM[e], dM_e, rtol=0, atol=1e-6)
            again = FullyConnectedUNet(2, (16, 8, 4))
            again.load_state_dict(stacked.member_state_dict(e))
            assert not again.output_relu
            assert all(torch.equal(a, b) for a, b in zip(again.parameters(), nets[e].parameters()))
            M_again = SigmoidMLP(2, (8, 8))
            M_again.load_state_dict(stacked_M.member_state_dict(e))
            assert all(torch.equal(a, b) for a, b in zip(M_again.parameters(), Ms[e].parameters()))


def test_adam_of_members_is_separate_adams_and_skipped_members_do_not_move():
    """Adam over stacked (E, ...) parameters with one step count per member makes the updates E separate Adams make,
    bit for bit; a member inactive at a step keeps its weights, moments and step count."""
    torch.manual_seed(0)
    members = [[torch.randn(4, 3), torch.randn(1, 4)] for _ in range(3)]
    stacked = [torch.stack([m[i] for m in members]).requires_grad_(True) for i in range(2)]
    singles = [[t.clone().requires_grad_(True) for t in m] for m in members]
    adam = Adam([{"params": stacked, "lr": 1e-2}], eps=1e-4, members=3)
    adams = [Adam([{"params": ps, "lr": 1e-2}], eps=1e-4) for ps in singles]
    for step in range(6):
        grads = [torch.randn(3, 4, 3), torch.randn(3, 1, 4)]
        active = torch.tensor([True, step != 2, step not in (2, 4)])
        for p, g in zip(stacked, grads):
            p.grad = g.clone()
        adam.step(active)
        for e, (ps, opt) in enumerate(zip(singles, adams)):
            if active[e]:
                for p, g in zip(ps, grads):
                    p.grad = g[e].clone()
                opt.step()
    for e in range(3):
        for p, single in zip(stacked, singles[e]):
            assert torch.equal(p[e], single.detach()), e
        for pi in range(2):
            assert torch.equal(adam.exp_avg_sq[0][pi][e], adams[e].exp_avg_sq[0][pi])
    assert adam.step_count[0][0] == [6, 5, 4]


def test_ensemble_evaluation_is_each_members_own_evaluation(problem_npz, tmp_path):
    """evaluate_ensemble evaluates the members together; member e's record holds what a one-seed evaluation of
    member e gives, on its own seed's paths."""
    from papersuite.core.records import load_records
    from papersuite.socm.evaluate import (
        EVAL_SEED_OFFSET,
        L2_EVAL_SEED_OFFSET,
        control_l2_error_per_path,
        control_objective,
        evaluate_ensemble,
        load_member,
    )
    from papersuite.socm.problems import load_problem
    from papersuite.socm.train import _load_problem_and_reference

    run = tmp_path / "SOCM" / "0_2"
    _members(problem_npz, tmp_path, "SOCM", [0, 2])
    evaluate_ensemble(problem_npz, run / "m.pt", run / "c.csv", "ou_quadratic_easy", "SOCM", {}, "tiny", run / "r.json")
    recs = load_records(run / "r.json")
    assert [r["seed"] for r in recs] == [0, 2]
    problem, u_star = load_problem(problem_npz), _load_problem_and_reference(problem_npz, "cpu")[1]
    model = torch.load(run / "m.pt", weights_only=True)
    for e, rec in enumerate(recs):
        control, meta = load_member(model, e, problem)
        seed = meta["seed"]
        mean, se = control_objective(problem, control, 65536, torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET))
        l2 = control_l2_error_per_path(
            problem, control, u_star, 65536, torch.Generator().manual_seed(seed + L2_EVAL_SEED_OFFSET)
        )
        # measured (SOCM, adjoint, variance; seeds 0, 2): every estimate and se within a relative 1e-14 of the
        # one-seed evaluation (float64 reductions); bound 1e-9
        m = rec["metrics"]
        assert m["control_objective"] == pytest.approx(float(mean), rel=1e-9)
        assert m["control_objective_se"] == pytest.approx(float(se), rel=1e-9)
        assert m["control_l2_error"] == pytest.approx(float(l2.mean()), rel=1e-9)
        assert m["control_l2_error_se"] == pytest.approx(float(l2.std() / 65536**0.5), rel=1e-9)
