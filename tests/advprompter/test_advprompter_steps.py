"""The prepare and train steps on a very small world: files in AdvBench's schema, models that reload, and a record
with before/after ASR and perplexity, each with its standard error (docs/papers/advprompter.md)."""

from __future__ import annotations

import pytest

from papersuite.advprompter import steps, world
from papersuite.core.records import load_records

WORLD = {"n_dialogs": 200, "n_prompter_texts": 200, "p_trigger_prompter": 0.15}
MODELS = {"target_vocab": 400, "prompter_vocab": 300,
          "train": {"arch": {"n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 96}, "lr": 3e-3, "steps": 20,
                    "batch_size": 16}}  # fmt: skip
CONFIG = {"n_train": 8, "search": {"max_new_tokens": 3, "top_k": 8}, "train": {"epochs": 1, "response_tokens": 4},
          "evaluate": {"n_instructions": 4, "lengths": [3], "trials": 2, "n_search_timing": 2}}  # fmt: skip


def test_prepare_and_train(tmp_path):
    data = tmp_path / "world"
    steps.prepare(world=WORLD, models=MODELS, seed=0, out_dir=data)
    loaded = steps.load_world(data)
    assert [len(loaded.rows[s]) for s in steps.SPLITS] == [216, 72, 72]
    assert loaded.ptok.size == 300 and loaded.ttok.size == 400 and loaded.target.config.vocab_size == 400
    assert (loaded.ptok.bos_id, loaded.ptok.eos_id, loaded.ptok.pad_id) == (0, 1, 2)
    assert loaded.spec == world.target_spec() and not any(p.requires_grad for p in loaded.target.parameters())
    assert (data / "refusal_keywords.csv").read_text().startswith("prefix\nI cannot\n")
    out = tmp_path / "record.json"
    steps.train(
        experiment="tiny_world",
        lambda_val=10.0,
        config=CONFIG,
        seed=0,
        scale="tiny",
        data_dir=data,
        out_record=out,
        threads=1,
    )
    (rec,) = load_records([out])
    m = rec["metrics"]
    for split in ("train", "test"):
        for name in ("asr_at_1", "asr_at_k", "perplexity", "seconds_per_suffix"):
            for when in ("before", "after"):
                assert m[f"{split}_{name}_{when}"] is not None and m[f"{split}_{name}_{when}_se"] is not None
        assert m[f"{split}_asr_at_1_before"] <= m[f"{split}_asr_at_k_before"] and m[f"{split}_perplexity_after"] >= 1
    assert m["test_asr_at_k_gain"] == pytest.approx(m["test_asr_at_k_after"] - m["test_asr_at_k_before"])
    assert m["search_over_generation"] == pytest.approx(m["seconds_per_search"] / m["test_seconds_per_suffix_after"])
    assert m["seconds_per_search_se"] >= 0 and rec["method"] == "lambda10" and rec["experiment"] == "tiny_world"


def test_killed_training_resumes_to_the_same_result(tmp_path, monkeypatch):
    """Two epochs straight = one epoch, a crash, and a rerun that resumes from the epoch-1 checkpoint (LoRA, Adam,
    replay buffer, every RNG)."""
    from papersuite.advprompter import train as train_module

    data = tmp_path / "world"
    steps.prepare(world=WORLD, models=MODELS, seed=0, out_dir=data)
    config = {**CONFIG, "ckpt_every": 1, "train": {**CONFIG["train"], "epochs": 2}}
    kwargs = {
        "experiment": "tiny_world",
        "lambda_val": 10.0,
        "config": config,
        "seed": 0,
        "scale": "tiny",
        "data_dir": data,
        "threads": 1,
    }
    steps.train(**kwargs, out_record=tmp_path / "straight.json", ckpt_dir=tmp_path / "ckpt_straight")
    epoch = train_module.train_epoch

    def crash_in_epoch_1(*args):
        if args[7] == 1:  # train_epoch's epoch argument
            raise RuntimeError("killed")
        return epoch(*args)

    monkeypatch.setattr(train_module, "train_epoch", crash_in_epoch_1)
    with pytest.raises(RuntimeError, match="killed"):
        steps.train(**kwargs, out_record=tmp_path / "resumed.json", ckpt_dir=tmp_path / "ckpt")
    assert list((tmp_path / "ckpt").glob("step_*.pt"))
    monkeypatch.setattr(train_module, "train_epoch", epoch)
    steps.train(**kwargs, out_record=tmp_path / "resumed.json", ckpt_dir=tmp_path / "ckpt")
    (straight,) = load_records([tmp_path / "straight.json"])
    (resumed,) = load_records([tmp_path / "resumed.json"])
    assert resumed["extra"]["history"] == straight["extra"]["history"] and len(straight["extra"]["history"]) == 2
    timing = ("seconds", "search_over")
    for name, value in straight["metrics"].items():
        if not name.startswith(timing) and "seconds" not in name:
            assert resumed["metrics"][name] == value, name
    assert not list((tmp_path / "ckpt").glob("step_*.pt"))  # cleared once the record is written


def test_prepare_refuses_a_missing_key(tmp_path):
    with pytest.raises(KeyError):
        steps.prepare(world={"n_dialogs": 10}, models=MODELS, seed=0, out_dir=tmp_path / "w")
