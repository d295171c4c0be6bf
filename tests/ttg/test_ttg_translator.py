"""The seq2seq translator: tokenizer, save_pretrained round trip, and bit-identical resumption."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import papersuite.ttg.translator as translator_module
from papersuite.ttg.grammar import END, allowed_next
from papersuite.ttg.render import render_request
from papersuite.ttg.sampling import REQUEST_DEFAULTS, sample_candidate
from papersuite.ttg.schema import linearize
from papersuite.ttg.translator import CURVE_COLUMNS, Translator, build_tokenizer, train_translator

MICRO_MODEL = {
    "kind": "seq2seq",
    "arch": "t5",
    "d_model": 16,
    "layers": 1,
    "heads": 2,
    "ffn": 32,
    "dropout": 0.0,
    "max_source_len": 160,
    "max_target_len": 64,
}
MICRO_TRAIN = {"epochs": 2, "batch": 8, "lr": 3e-3, "warmup_steps": 2, "checkpoint_every": 3, "log_every": 2}


@pytest.fixture(scope="module")
def pairs_file(tables, tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        req, _ = sample_candidate(rng, tables, REQUEST_DEFAULTS)
        text, mentioned, _ = render_request(req, np.random.default_rng([0, i]))
        rows.append(
            {
                "id": f"train-{i:05d}-0",
                "split": "train",
                "text": text,
                "target": linearize(mentioned),
                "request": mentioned,
                "optimal_cost": 1.0,
            }
        )
    path = tmp_path_factory.mktemp("pairs") / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tokenizer_is_word_level_with_single_digits():
    tok = build_tokenizer(["Keep the total under $1,500.", "from paris leave jun 1 5"])
    assert tok.tokenize("Keep the total under $1,500.") == [
        "keep",
        "the",
        "total",
        "under",
        "$",
        "1",
        ",",
        "5",
        "0",
        "0",
        ".",
    ]
    assert tok.convert_ids_to_tokens(tok("zanzibar")["input_ids"]) == ["[UNK]"]


def test_wordpiece_reads_unseen_words_as_pieces_and_keeps_target_words_whole():
    """Issue #19 item 1: no word becomes [UNK]; a target's words (city, month, keys) are single tokens."""
    texts = ["I want to visit Rome for two nights in June.", "Keep the total under $1,500 please."] * 3
    targets = ["from paris leave jun 5 back jun 9 to rome 2 2 order any"]
    tok = build_tokenizer(texts + targets, "wordpiece", keep=targets)
    assert tok.tokenize("under $1,500.")[-7:] == ["$", "1", ",", "5", "0", "0", "."]
    for word in ("zanzibar", "journey", "Zürich"):
        pieces = tok.tokenize(word)
        assert "[UNK]" not in pieces and len(pieces) > 1, pieces
        assert "".join(p.removeprefix("##") for p in pieces) == word.lower().replace("ü", "u")
    assert all(tok.tokenize(w) == [w] for w in targets[0].split())


@pytest.mark.parametrize("tokenizer", ["word", "wordpiece"])
def test_train_save_load_translate(pairs_file, tmp_path, tables, tokenizer):
    meta = train_translator(
        pairs_file,
        {**MICRO_MODEL, "tokenizer": tokenizer},
        MICRO_TRAIN,
        seed=0,
        n_pairs=24,
        out_dir=tmp_path / "m",
        out_curve_csv=tmp_path / "curve.csv",
        ckpt_dir=tmp_path / "ckpt",
    )
    assert meta["train_pairs"] == 24 and meta["steps"] == 2 * 3
    for name in ("config.json", "model.safetensors", "tokenizer.json", "translator.json"):
        assert (tmp_path / "m" / name).exists(), name
    curve = pd.read_csv(tmp_path / "curve.csv")
    assert list(curve.columns) == CURVE_COLUMNS and curve["step"].tolist() == [2, 4, 6]
    assert not (tmp_path / "ckpt").exists()  # cleared after the outputs
    tr = Translator(tmp_path / "m", threads=1)
    outs = tr.translate(["I live in Paris. Stops are Rome for 2 nights.", "", "???"], batch_size=2)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs)
    assert tr.unknown_fraction("zanzibar qwerty") == 1.0
    # grammar-constrained decoding builds its allowed tokens from either vocabulary: every output is a
    # complete sentence of the target grammar (only the end may follow)
    cities = [c.lower() for c in tables.city_names]
    texts = [json.loads(line)["text"] for line in pairs_file.read_text().splitlines()[:8]]
    for out in tr.translate(texts, cities=list(tables.city_names)):
        assert allowed_next(out.split(), cities) == {END}, out


def test_word_dropout_never_hides_the_request():
    from papersuite.ttg.translator import _droppable_ids

    tok = build_tokenizer(["Please plan Rome for two nights, leave June 5.", "from paris leave jun 5 to rome 2 2"])
    mask = _droppable_ids(tok, ["from paris leave jun 5 to rome 2 2"])
    dropped = {t for t, i in tok.get_vocab().items() if mask[i]}
    assert dropped == {"please", "plan", "for", "nights"}  # not rome, two, june, 5, leave or punctuation


class _Interrupt(RuntimeError):
    pass


def test_resumed_training_gives_the_same_weights(pairs_file, tmp_path, monkeypatch):
    train = {**MICRO_TRAIN, "epochs": 3}
    train_translator(pairs_file, MICRO_MODEL, train, 0, None, tmp_path / "a", tmp_path / "a.csv", tmp_path / "ck_a")

    def stop(step):
        if step == 6:
            raise _Interrupt

    monkeypatch.setattr(translator_module, "_after_checkpoint", stop)
    with pytest.raises(_Interrupt):
        train_translator(pairs_file, MICRO_MODEL, train, 0, None, tmp_path / "b", tmp_path / "b.csv", tmp_path / "ck_b")
    assert list((tmp_path / "ck_b").glob("step_*.pt")) and not (tmp_path / "b").exists()
    monkeypatch.setattr(translator_module, "_after_checkpoint", lambda step: None)
    train_translator(pairs_file, MICRO_MODEL, train, 0, None, tmp_path / "b", tmp_path / "b.csv", tmp_path / "ck_b")
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ca, cb = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(ca.drop(columns="elapsed_s"), cb.drop(columns="elapsed_s"))
