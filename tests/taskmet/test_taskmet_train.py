"""The training loop (paper §4, Alg. 1): resumable to the same result, config checking, early stopping,
and the data files (docs/papers/taskmet.md, "Method")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import papersuite.taskmet.train as train_module
from papersuite.taskmet import cubic
from papersuite.taskmet.data import load_splits, save_splits
from papersuite.taskmet.tasks import TASKS, get_task
from papersuite.taskmet.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = {"n_train": 40, "n_val": 20, "n_test": 20, "n_items": 20}
TASK = {"budget": 1, "sinkhorn_eps": 0.01, "sinkhorn_iters": 50}
CONFIG = {
    "metric_hidden": [8],
    "metric_lr": 1e-2,
    "inner_iters_init": 40,
    "inner_iters": 10,
    "outer_iters": 6,
    "dfl_iters": 6,
    "mse_iters": 6,
    "batchsize": 10,
    "valfreq": 2,
    "checkpoint_every": 2,
}


class _Killed(Exception):
    pass


def _dies_at(stop: int):
    """A stand-in for core.progress whose loop dies on reaching iteration ``stop``, as a killed job."""

    def loop(iterable, **kwargs):
        for step in iterable:
            if step == stop:
                raise _Killed
            yield step

    return loop


@pytest.mark.parametrize("method", ["taskmet", "dfl", "lodl", "mse"])
def test_killed_run_resumes_to_the_same_result(method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after iteration 3 (checkpoint at 2) and restarted: predictor, metric, curve and best iteration
    equal an uninterrupted run's exactly (RNG state restored; minibatches replay)."""
    task, splits = cubic.make_task(TASK), cubic.make_data(DATA, seed=0)
    straight = train(task, splits, method, CONFIG, seed=1)
    ckpt_dir = tmp_path / "ckpt"
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "progress", _dies_at(3))
        with pytest.raises(_Killed):
            train(task, splits, method, CONFIG, seed=1, checkpoint_dir=str(ckpt_dir))
    assert [p.name for p in ckpt_dir.iterdir()] == ["step_00000002.pt"]
    torch.manual_seed(12345)  # the resumed run must not depend on the RNG state it starts in
    resumed = train(task, splits, method, CONFIG, seed=1, checkpoint_dir=str(ckpt_dir))
    assert not ckpt_dir.exists()  # cleared once the result is in hand
    assert resumed.curve == straight.curve
    assert resumed.best_iteration == straight.best_iteration
    for key, value in straight.predictor_state.items():
        assert torch.equal(resumed.predictor_state[key], value)
    if method == "taskmet":
        for key, value in straight.metric_state.items():
            assert torch.equal(resumed.metric_state[key], value)
        assert straight.curve[-1]["hypergrad_norm"] > 0.0


def test_config_and_method_are_checked() -> None:
    """An unknown config key or method is an error naming it."""
    task, splits = cubic.make_task(TASK), cubic.make_data(DATA, seed=0)
    with pytest.raises(ValueError, match="inner_iter"):
        train(task, splits, "taskmet", {"inner_iter": 3}, seed=0)
    with pytest.raises(ValueError, match="spo"):
        train(task, splits, "spo", {}, seed=0)


def test_patience_stops_early_and_keeps_the_best() -> None:
    """patience = 2 with validation every iteration: the run stops 3 iterations after its best one."""
    task, splits = cubic.make_task(TASK), cubic.make_data(DATA, seed=0)
    config = {**CONFIG, "mse_iters": 30, "valfreq": 1, "patience": 2, "checkpoint_every": 0}
    result = train(task, splits, "mse", config, seed=0)
    last = int(result.curve[-1]["iteration"])
    assert last < 29
    assert last == result.best_iteration + 2
    assert min(row["val_mse"] for row in result.curve) == result.curve[result.best_iteration]["val_mse"]


def test_splits_round_trip_through_npz(tmp_path: Path) -> None:
    """save_splits / load_splits keep every array bit for bit, aux included."""
    splits = cubic.make_data(DATA, seed=2)
    splits["train"] = type(splits["train"])(splits["train"].x, splits["train"].y, {"chol": torch.randn(40, 3, 3)})
    loaded = load_splits(save_splits(tmp_path / "cubic.npz", splits))
    assert set(loaded) == {"train", "val", "test"}
    for name, split in splits.items():
        assert torch.equal(loaded[name].x, split.x) and torch.equal(loaded[name].y, split.y)
        assert set(loaded[name].aux) == set(split.aux)
        for key, value in split.aux.items():
            assert torch.equal(loaded[name].aux[key], value)


def test_registry_has_cubic() -> None:
    """The registry maps a task name to (make_task, make_data); an unknown name is an error naming the known."""
    make_task, make_data = get_task("cubic")
    assert make_task is TASKS["cubic"][0] and make_data(DATA, 0)["train"].n_instances == 40
    with pytest.raises(KeyError, match="cubic"):
        get_task("nonexistent")
