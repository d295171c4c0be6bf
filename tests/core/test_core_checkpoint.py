"""papersuite.core.checkpoint: round trip with RNG state, pruning, corrupt-file fallback."""

import logging
import random

import numpy as np
import pytest
import torch

from papersuite.core import checkpoint as ck


def _draws():
    return torch.randn(4), np.random.standard_normal(3), np.random.rand(2), random.random(), random.gauss(0, 1)


def _model_and_opt():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def test_round_trip_state_and_rng(tmp_path):
    model, opt = _model_and_opt()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    # leave cached gaussians behind: python's gauss_next and numpy's has_gauss must be restored too
    random.gauss(0, 1)
    np.random.standard_normal(1)
    path = ck.save_checkpoint(
        tmp_path / "ck",
        7,
        {"model": model.state_dict(), "opt": opt.state_dict(), "curve": [1.0, 0.5], "meta": {"name": "x"}},
    )
    assert path.name == "step_00000007.pt"
    expected = _draws()

    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    ckpt = ck.load_latest_checkpoint(tmp_path / "ck")
    assert ckpt is not None and ckpt["step"] == 7
    ck.set_rng_state(ckpt["rng"])
    got = _draws()
    assert torch.equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[2], expected[2])
    assert got[3] == expected[3] and got[4] == expected[4]

    model2, opt2 = torch.nn.Linear(3, 2), None
    model2.load_state_dict(ckpt["model"])
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(ckpt["opt"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert ckpt["curve"] == [1.0, 0.5] and ckpt["meta"] == {"name": "x"}


def test_file_loads_with_weights_only(tmp_path):
    path = ck.save_checkpoint(tmp_path, 1, {"w": torch.ones(2)})
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert torch.equal(raw["w"], torch.ones(2)) and set(raw["rng"]) >= {"python", "numpy", "torch"}


def test_keep_prunes_older(tmp_path):
    for step in (1, 2, 3, 10):
        ck.save_checkpoint(tmp_path, step, {"s": step}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000003.pt", "step_00000010.pt"]
    assert ck.load_latest_checkpoint(tmp_path)["s"] == 10


def test_corrupt_newest_falls_back(tmp_path, caplog):
    ck.save_checkpoint(tmp_path, 1, {"s": 1})
    newest = ck.save_checkpoint(tmp_path, 2, {"s": 2})
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # a job killed while copying, a bad disk block
    with caplog.at_level(logging.WARNING, logger="papersuite.checkpoint"):
        ckpt = ck.load_latest_checkpoint(tmp_path)
    assert ckpt["s"] == 1 and ckpt["step"] == 1
    assert "step_00000002.pt" in caplog.text


def test_unsafe_pickle_is_refused(tmp_path):
    # a checkpoint holding an arbitrary object cannot be loaded with weights_only=True: skipped
    torch.save({"rng": {}, "obj": _Custom()}, tmp_path / "step_00000005.pt")
    assert ck.load_latest_checkpoint(tmp_path) is None


class _Custom:
    pass


def test_missing_or_empty_dir_and_clear(tmp_path):
    assert ck.load_latest_checkpoint(tmp_path / "nope") is None
    assert ck.load_latest_checkpoint(tmp_path) is None
    ck.save_checkpoint(tmp_path / "c", 1, {})
    ck.clear_checkpoints(tmp_path / "c")
    assert not (tmp_path / "c").exists()
    ck.clear_checkpoints(tmp_path / "c")  # no error when already gone


def test_keep_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="keep"):
        ck.save_checkpoint(tmp_path, 1, {}, keep=0)


def _loop(ckpt_dir, total, stop_after=None, lr=0.1):
    """A tiny training loop checkpointed every 3 steps; optionally "killed" after stop_after steps."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    run = ck.TrainingCheckpoints(ckpt_dir, {"lr": lr, "total": total}, every=3)
    start, losses = ck.resume_training(run, model, opt)
    for step in range(start, total):
        if stop_after is not None and step == stop_after:
            break
        x = torch.randn(8, 3)  # the global RNG: restored on resume
        loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        ck.save_training(run, step + 1, total, model, opt, losses)
    return model, losses, start


def test_resume_training_continues_bit_identically(tmp_path, caplog):
    ref_model, ref_losses, _ = _loop(tmp_path / "ref", 10)
    _loop(tmp_path / "run", 10, stop_after=7)  # killed at step 7: the newest checkpoint is step 6
    assert [s for s, _ in ck.list_checkpoints(tmp_path / "run")] == [3, 6]
    with caplog.at_level(logging.INFO, logger="papersuite.checkpoint"):
        model, losses, start = _loop(tmp_path / "run", 10)
    assert "resuming from the checkpoint at step 6" in caplog.text
    assert start == 6 and losses == ref_losses
    assert torch.equal(model.weight, ref_model.weight)
    assert [s for s, _ in ck.list_checkpoints(tmp_path / "run")][-1] == 10  # the last step is always saved


def test_changed_config_restarts_instead_of_resuming(tmp_path, caplog):
    """Killed, then a hyperparameter edited: the old checkpoints are discarded and the run restarts."""
    ref_model, ref_losses, _ = _loop(tmp_path / "ref", 10, lr=0.05)
    _loop(tmp_path / "run", 10, stop_after=7, lr=0.1)
    assert ck.list_checkpoints(tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="papersuite.checkpoint"):
        model, losses, start = _loop(tmp_path / "run", 10, lr=0.05)
    assert start == 0
    assert "discarding checkpoints" in caplog.text and "resuming" not in caplog.text
    assert losses == ref_losses and torch.equal(model.weight, ref_model.weight)


def test_checkpoint_carries_the_fingerprint(tmp_path):
    run = ck.TrainingCheckpoints(tmp_path, {"a": 1}, every=1)
    run.save(1, {"x": torch.zeros(1)})
    assert ck.load_latest_checkpoint(tmp_path)["fingerprint"] == run.fingerprint
    assert ck.TrainingCheckpoints(tmp_path, {"a": 2}, every=1).fingerprint != run.fingerprint
    assert ck.TrainingCheckpoints(tmp_path, {"a": 1}, every=1).resume()["step"] == 1
    run.clear()
    assert not tmp_path.exists()


def test_resume_training_without_checkpoint_and_save_training_off(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    off = ck.TrainingCheckpoints(None, {}, every=1)
    assert ck.resume_training(off, model, opt) == (0, [])
    empty = ck.TrainingCheckpoints(tmp_path / "empty", {}, every=1)
    assert ck.resume_training(empty, model, opt) == (0, [])
    ck.save_training(ck.TrainingCheckpoints(tmp_path / "off", {}, every=0), 5, 5, model, opt, [1.0])
    ck.save_training(off, 5, 5, model, opt, [1.0])
    assert not (tmp_path / "off").exists()
    with pytest.raises(RuntimeError, match="off"):
        off.save(1, {})
