"""The tiny pipeline's pieces: corpus selection, the token stream, training and scoring (docs/papers/tokenbounds.md
"Scales")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from papersuite.tokenbounds import data, evaluate, gpt, train

ARCH = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def _fake_stdlib(root):
    """A stdlib-shaped tree: two modules, a package module, a test module and a cache file."""
    for rel, text in {
        "a.py": "def f(x):\n    return x + 1\n" * 20,
        "b.py": "import os\nprint(os.sep)\n" * 20,
        "pkg/c.py": "class C:\n    pass\n" * 20,
        "test/test_a.py": "assert True\n",
        "__pycache__/a.py": "x = 1\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_corpus_selection_and_stream(tmp_path):
    """Tests and caches are excluded; every used file is a document; the stream is [EOT, d1, EOT, ..., EOT]."""
    _fake_stdlib(tmp_path)
    train_docs, heldout, manifest = data.stdlib_documents(10**6, 0.01, seed=0, root=tmp_path)
    assert sorted(f["path"] for f in manifest["files"]) == ["a.py", "b.py", "pkg/c.py"]
    assert len(train_docs) + len(heldout) == 3
    tok = data.train_tokenizer(train_docs * 5, 280)
    stream = data.encode_stream(tok, train_docs)
    eots = np.flatnonzero(stream == 0)
    assert stream[0] == 0 and stream[-1] == 0 and len(eots) == len(train_docs) + 1
    for doc, lo, hi in zip(train_docs, eots[:-1], eots[1:]):
        assert tok.decode(stream[lo + 1 : hi].tolist()) == doc


def test_byte_cap_limits_training_files(tmp_path):
    """A cap below two files' size keeps one training file; capped files are marked unused."""
    _fake_stdlib(tmp_path)
    train_docs, _, manifest = data.stdlib_documents(600, 0.01, seed=0, root=tmp_path)
    assert len(train_docs) == 1 and sum(f["used"] for f in manifest["files"]) == 1


def test_training_lowers_the_loss():
    """40 steps on a periodic stream bring the loss from about ln V well down (measured 3.50 -> 0.02 nats)."""
    stream = np.tile(np.arange(1, 9, dtype=np.uint16), 200)
    stream = np.concatenate([[0], stream, [0]]).astype(np.uint16)
    model = gpt.build_model(33, "dense", ARCH, seed=0)
    losses = train.train_model(model, stream, 16, {"steps": 40, "batch": 8, "lr": 1e-2, "warmup": 5}, seed=0)
    assert losses[0] > 3.0 and np.mean(losses[-5:]) < 1.0


def test_document_probs_equal_direct_scoring():
    """Windowed document scoring (block 16, stride 8) equals scoring each token with the context its window gives:
    the whole prefix for the first 16 targets, then doc[8 * ((i - 9) // 8) : i] (8 to 15 tokens)."""
    model = gpt.build_model(40, "dense", ARCH, seed=1).eval()
    doc = np.concatenate([[0], np.random.default_rng(0).integers(1, 40, 37)])
    probs = evaluate.document_probs(model, doc, 16)
    assert probs.shape == (len(doc) - 1,)
    with torch.no_grad():
        for i in range(1, len(doc)):
            lo = 0 if i <= 16 else 8 * ((i - 9) // 8)
            ctx = torch.from_numpy(doc[lo:i].astype(np.int64))
            direct = torch.softmax(model(ctx[None])[0, -1].double(), dim=-1)[doc[i]]
            assert probs[i - 1] == pytest.approx(float(direct), rel=1e-5)
