"""The bound and table steps on a small synthetic stream: records carry every metric a claim reads with its se,
and the table has the random-guess line (docs/papers/tokenbounds.md "What runs")."""

from __future__ import annotations

import numpy as np
import pytest

from papersuite.core import io
from papersuite.core.records import load_records
from papersuite.tokenbounds import steps

CONFIG = {
    "arch": {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "intrinsic_dim": 200},
    "train": {"steps": 20, "batch": 4, "lr": 1e-2, "warmup": 2},
    "evaluate": {
        "levels": 5,
        "lloyd_iters": 2,
        "n_sample": 200,
        "n_docs_eval": 5,
        "delta": 0.05,
        "extra_bits": 3,
        "topk": [1, 10, 100],
    },
}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


def test_bound_and_table(tmp_path):
    """Two methods: each record has the token- and document-level bounds with se; the table and figure exist."""
    rng = np.random.default_rng(0)
    docs = [np.append(rng.integers(1, 128, rng.integers(20, 60)), 0) for _ in range(40)]
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / steps.STREAM, np.concatenate([[0], *docs]).astype(np.uint16))
    io.write_json(data / steps.MANIFEST, {"vocab_size": 128, "params": {"max_train_bytes": 1}})
    paths = []
    for method, kind in (("dense", "dense"), ("sublora", "sublora")):
        out = tmp_path / f"{method}.json"
        steps.bound(
            method=method,
            config={**CONFIG, "kind": kind},
            seed=0,
            scale="tiny",
            data_dir=data,
            out_record=out,
            ckpt_dir=None,
            threads=1,
        )
        paths.append(out)
    for rec in load_records(paths):
        m = rec["metrics"]
        for name in ("bpd_bound", "doc_bound", "top1_bound", "top10_bound", "top100_bound"):
            assert m[name] is not None and m[f"{name}_se"] is not None
        assert m["bpd_bound"] >= m["bpd_empirical"] and m["n_docs"] == 40
        assert m["doc_bound"] > m["bpd_bound"]  # 40 documents vs ~1600 tokens
    md, fig = tmp_path / "t.md", tmp_path / "f.png"
    steps.table(records=paths, vocab_size=128, out_csv=tmp_path / "t.csv", out_md=md, out_figure=fig)
    assert "random guess: 7.000 bits" in md.read_text() and fig.stat().st_size > 0
