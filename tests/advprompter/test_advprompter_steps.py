"""The prepare and train steps on a very small world: files in AdvBench's schema, models that reload, and a record
with before/after ASR and perplexity, each with its standard error (docs/papers/advprompter.md)."""

from __future__ import annotations

import pytest

from papersuite.advprompter import steps
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
    rows, ptok, _, ttok, target = steps.load_world(data)
    assert [len(rows[s]) for s in steps.SPLITS] == [216, 72, 72]
    assert ptok.get_vocab_size() == 300 and ttok.get_vocab_size() == 400 and target.config.vocab_size == 400
    assert (data / "refusal_keywords.csv").read_text().startswith("prefix\nI cannot\n")
    out = tmp_path / "record.json"
    steps.train(lambda_val=10.0, config=CONFIG, seed=0, scale="tiny", data_dir=data, out_record=out, threads=1)
    (rec,) = load_records([out])
    m = rec["metrics"]
    for name in ("asr_at_1", "asr_at_2", "perplexity"):
        for when in ("before", "after"):
            assert m[f"{name}_{when}"] is not None and m[f"{name}_{when}_se"] is not None
    assert m["asr_at_1_before"] <= m["asr_at_2_before"] and m["perplexity_after"] >= 1.0
    assert m["seconds_per_search"] > 0 and rec["method"] == "lambda10"


def test_prepare_refuses_a_missing_key(tmp_path):
    with pytest.raises(KeyError):
        steps.prepare(world={"n_dialogs": 10}, models=MODELS, seed=0, out_dir=tmp_path / "w")
