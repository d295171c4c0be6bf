"""Ensemble evaluation on tiny code LMs (docs/papers/bytelm.md "Ensemble", "Known answers" 3, 8 and 10)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from papersuite.bytelm import corpus, ensemble_eval, models
from papersuite.core import io

CORPUS = {"max_train_bytes": 60_000, "heldout_bytes": 400, "max_doc_bytes": 96, "min_doc_bytes": 48}
LM = {
    "arch": {"n_layer": 1, "n_embd": 32, "n_head": 2, "n_ctx": 128},
    "train": {"steps": 30, "batch": 8, "lr": 1e-2, "warmup": 5, "ckpt_every": 0},
    "train_bytes": 0,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small stdlib corpus and two tiny code LMs with 300- and 400-token byte-level BPE vocabularies."""
    root = tmp_path_factory.mktemp("ens")
    corpus.build_corpus(root / "corpus", CORPUS, seed=0)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    metas = {
        v: ensemble_eval.train_code_lm(root / "corpus", v, LM, seed=0, out_dir=root / f"m{v}", ckpt_dir=root / f"ck{v}")
        for v in (300, 400)
    }
    torch.set_num_threads(n)
    return root, metas


def test_train_code_lm_writes_a_loadable_model_and_clears_its_checkpoints(trained):
    root, metas = trained
    for v, _meta in metas.items():
        model, tok, saved = models.load_model(root / f"m{v}")
        assert tok.get_vocab_size() == v == model.config.vocab_size and saved["steps"] == 30
        assert len(saved["losses"]) == 30 and saved["losses"][-1] < saved["losses"][0]
        assert not (root / f"ck{v}").exists()
    assert metas[400]["bytes_per_token"] > metas[300]["bytes_per_token"] > 1.0


def test_data_matched_budget_sets_the_steps(trained, tmp_path):
    """train_bytes: steps = bytes / (batch · n_ctx · bytes per token), so a coarser vocabulary takes fewer steps."""
    root, metas = trained
    params = {**LM, "train": {**LM["train"], "steps": 1}, "train_bytes": 20_000}
    meta = ensemble_eval.train_code_lm(root / "corpus", 300, params, seed=0, out_dir=tmp_path / "m")
    assert meta["steps"] == round(20_000 / metas[300]["bytes_per_token"] / (8 * 128))


def test_ensemble_of_a_model_with_itself_equals_the_model(trained, tmp_path):
    """Known answers 8: mixing a model with itself changes nothing; Known answers 3: raw mode telescopes to the
    token likelihood; masked byte-level bits/byte ≤ token-level (renormalising over valid tokens only raises
    probabilities); one model call per byte (KV cache, Known answers 10)."""
    root, _ = trained
    res = ensemble_eval.evaluate_ensemble(
        [root / "m300", root / "m300"], root / "corpus", out_json=tmp_path / "e.json", out_csv=tmp_path / "e.csv"
    )
    m, a, b = res["metrics"], res["methods"]["V300_0"], res["methods"]["V300_1"]
    assert m["n_docs"] >= 4 and m["n_docs_skipped"] == 0
    assert a["bits_per_byte"] == b["bits_per_byte"]
    assert m["ensemble_bpb"] == pytest.approx(a["bits_per_byte"], abs=1e-12)
    assert m["mixture_check_max_abs"] < 1e-9 and m["member_check_max_abs"] < 1e-9
    assert a["raw_identity_gap_nats"] < 1e-4  # measured ~1e-6 (float32 logits)
    assert a["bits_per_byte"] <= a["token_bits_per_byte"] + 1e-9
    assert 1.0 <= a["calls_per_byte"] <= 1.3  # measured 1.0-1.1 (an extra call where a cover's flush restarts)
    assert m["bytes_per_s"] > 0
    saved = io.read_json(tmp_path / "e.json")
    assert saved["metrics"]["ensemble_bpb"] == pytest.approx(m["ensemble_bpb"])
    assert len((tmp_path / "e.csv").read_text().splitlines()) == m["n_docs"] + 1
    ens = res["methods"]["ensemble"]
    assert ens["bits_per_byte_se"] > 0
    assert ens["bpb_minus_best_member"] == pytest.approx(0.0, abs=1e-12)  # a model mixed with itself
    recs = ensemble_eval.ensemble_records(res, seed=0, scale="tiny")
    assert [r["method"] for r in recs] == ["member_V300_0", "member_V300_1", "ensemble"]
    assert recs[-1]["metrics"]["bits_per_byte"] == m["ensemble_bpb"]


def test_cross_vocabulary_ensemble_is_at_most_the_members_average(trained, tmp_path):
    """Per byte, log of the mean ≥ mean of the logs: the mixture's bits/byte never exceed the members' average."""
    root, _ = trained
    res = ensemble_eval.evaluate_ensemble(
        [root / "m300", root / "m400"], root / "corpus", {"max_docs": 3}, out_csv=tmp_path / "three.csv"
    )
    fast = ensemble_eval.evaluate_ensemble(
        [root / "m300", root / "m400"],
        root / "corpus",
        {"max_docs": 1, "check_identity": False},
        out_csv=tmp_path / "one.csv",
    )
    # per document, the calls it costs scored alone (the se of calls_per_byte, bytelm.md "Noise and verdicts"):
    # one document alone spends exactly its row's calls; several share a memoised prefix, so the rows add up to
    # at least the total
    one, three = pd.read_csv(tmp_path / "one.csv"), pd.read_csv(tmp_path / "three.csv")
    total = {
        r: round(x["methods"]["ensemble"]["calls_per_byte"] * x["metrics"]["n_bytes"])
        for r, x in (("one", fast), ("three", res))
    }
    assert one["calls"].sum() == total["one"] and three["calls"].sum() >= total["three"]
    assert res["methods"]["ensemble"]["calls_per_byte_se"] > 0
    assert fast["metrics"]["member_check_max_abs"] is None and "raw_identity_gap_nats" not in fast["methods"]["V300"]
    m = res["metrics"]
    a, b = m["V300_bpb"], m["V400_bpb"]
    assert all(math.isfinite(x) and 0 < x < 9 for x in (a, b, m["ensemble_bpb"]))
    assert m["ensemble_bpb"] <= (a + b) / 2 + 1e-12
    assert m["n_docs"] == 3 and res["methods"]["ensemble"]["calls_per_byte"] <= 2.6
    for name in ("V300", "V400"):
        assert res["methods"][name]["raw_identity_gap_nats"] < 1e-4
    with pytest.raises(ValueError, match="unknown ensemble evaluation"):
        ensemble_eval.evaluate_ensemble([root / "m300"], root / "corpus", {"docs": 1})
