"""The ensemble's stdlib corpus and BPE tokenizers (docs/papers/bytelm.md "Data", "Ensemble")."""

from __future__ import annotations

import hashlib
import json

import pytest

from papersuite.bytelm import bpe, corpus
from papersuite.core import io

SMALL = {"max_train_bytes": 300_000, "heldout_bytes": 3000, "max_doc_bytes": 384}


def _fake_stdlib(root):
    """A miniature stdlib: modules, a package, and directories that must be left out."""
    files = {
        "os.py": "import sys\n\n\ndef f(x):\n    return x + 1\n" * 20,
        "json/__init__.py": "from .decoder import JSONDecoder\n__all__ = ['JSONDecoder']\n" * 5,
        "json/decoder.py": "class JSONDecoder:\n    def decode(self, s):\n        return s\n" * 30,
        "abc.py": "# é ü 日本\nclass ABC:\n    pass\n" * 40,
        "test/test_os.py": "assert True\n" * 10,
        "idlelib/idle_test/t.py": "x = 1\n" * 10,
        "site-packages/pkg.py": "y = 2\n" * 10,
        "_sysconfigdata__linux.py": "build_time_vars = {}\n",
        "config-3.11-x86_64-linux-gnu/python-config.py": "z = 3\n",
        "__pycache__/os.py": "w = 4\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return files


def test_stdlib_files_excludes_tests_site_packages_and_machine_files(tmp_path):
    _fake_stdlib(tmp_path)
    rels = [p.as_posix() for p in corpus.stdlib_files(tmp_path)]
    assert rels == ["abc.py", "json/__init__.py", "json/decoder.py", "os.py"]


def test_split_is_seeded_hash_of_path():
    a = [corpus.file_split(f"m{i}.py", 0, 0.3) for i in range(400)]
    assert a == [corpus.file_split(f"m{i}.py", 0, 0.3) for i in range(400)]
    assert a != [corpus.file_split(f"m{i}.py", 1, 0.3) for i in range(400)]
    assert 0.2 < a.count("heldout") / 400 < 0.4


@pytest.mark.parametrize("max_bytes", [4, 17, 64, 384])
def test_chunks_concatenate_back_and_respect_the_cap(max_bytes):
    text = "def f(a, b):\n    '''dé日本'''\n    return a\n\n" * 15 + "x" * 200 + "\nclass C:\n    y = 1\n"
    chunks = corpus.chunk_text(text, max_bytes)
    assert "".join(c for _, c in chunks) == text
    assert all(0 < len(c.encode()) <= max_bytes for _, c in chunks)
    starts = [s for s, _ in chunks]
    assert starts[0] == 0 and all(text.encode()[s:].startswith(c.encode()) for s, c in chunks)


def test_manifest_is_deterministic_and_pins_every_file(tmp_path):
    """Two builds give byte-identical outputs; the manifest's sha256 and sizes match the files; the loader
    checks the split file against the manifest."""
    root = tmp_path / "lib"
    files = _fake_stdlib(root)
    params = {"heldout_frac": 0.5, "max_doc_bytes": 96, "min_doc_bytes": 8, "heldout_bytes": 500}
    m1 = corpus.build_corpus(tmp_path / "c1", params, seed=3, root=root)
    corpus.build_corpus(tmp_path / "c2", params, seed=3, root=root)
    for name in ("manifest.json", "train.jsonl", "heldout.jsonl"):
        assert (tmp_path / "c1" / name).read_bytes() == (tmp_path / "c2" / name).read_bytes()
    assert [f["path"] for f in m1["files"]] == ["abc.py", "json/__init__.py", "json/decoder.py", "os.py"]
    for f in m1["files"]:
        data = files[f["path"]].encode("utf-8")
        assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["split"] == corpus.file_split(f["path"], 3, 0.5)
    for split in corpus.SPLITS:
        docs = corpus.load_documents(tmp_path / "c1", split)
        assert len(docs) == m1["splits"][split]["documents"] > 0
        assert sum(map(len, docs)) == m1["splits"][split]["bytes"]
        assert all(8 <= len(d) <= 96 for d in docs)
        rows = [json.loads(x) for x in (tmp_path / "c1" / f"{split}.jsonl").read_text().splitlines()]
        # every document is the file's bytes at its offset, from a file of that split
        for r in rows:
            assert files[r["path"]].encode()[r["start"] :].startswith(r["text"].encode())
            assert corpus.file_split(r["path"], 3, 0.5) == split
    assert m1["splits"]["heldout"]["bytes"] <= 500
    (tmp_path / "c1" / "heldout.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="sha256"):
        corpus.load_documents(tmp_path / "c1", "heldout")
    with pytest.raises(ValueError, match="unknown corpus"):
        corpus.build_corpus(tmp_path / "c3", {"max_bytes": 3}, root=root)


@pytest.fixture(scope="module")
def stdlib_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("stdlib") / "corpus"
    return out, corpus.build_corpus(out, SMALL, seed=0)


def test_real_stdlib_corpus_respects_the_caps(stdlib_corpus):
    out, m = stdlib_corpus
    assert m["n_candidate_files"] > 300  # Python 3.11: 732 files, 12 MB
    assert not any("/test/" in f"/{f['path']}" or "site-packages" in f["path"] for f in m["files"])
    used = [f for f in m["files"] if f["used"]]
    assert sum(f["size"] for f in used if f["split"] == "train") <= SMALL["max_train_bytes"]
    assert 0.9 * SMALL["heldout_bytes"] <= m["splits"]["heldout"]["bytes"] <= SMALL["heldout_bytes"]
    assert m["python"] and len(m["files"][0]["sha256"]) == 64
    on_disk = io.sha256_file(corpus.stdlib_root() / m["files"][0]["path"])
    assert on_disk == m["files"][0]["sha256"]


@pytest.mark.parametrize("vocab_size", [512, 2048])
def test_code_bpe_round_trips_stdlib_text_and_is_deterministic(stdlib_corpus, vocab_size):
    """decode(encode(x)) == x on held-out stdlib documents; more merges give more bytes per token."""
    out, _ = stdlib_corpus
    train = corpus.load_documents(out, "train")[:400]
    held = corpus.load_documents(out, "heldout")
    tok = bpe.train_bpe(train, vocab_size, kind="code")
    assert tok.get_vocab_size() == vocab_size and bpe.eot_id(tok) == 0
    assert tok.to_str() == bpe.train_bpe(train, vocab_size, kind="code").to_str()
    n_tok = 0
    for doc in held + ["x = 'é日本😀'\t\r\n  \x00".encode()]:
        ids = tok.encode(doc.decode("utf-8")).ids
        assert tok.decode(ids).encode("utf-8") == doc
        n_tok += len(ids)
    ratio = sum(map(len, held)) / n_tok
    # the byte view used by the byte-level models: same ids, exact bytes back, also for invalid UTF-8
    from papersuite.bytelm.tokenizer import ByteTokenizer

    btok = ByteTokenizer.from_hf(tok, eos_token=bpe.EOT)
    assert btok.eos_id == 0 and btok.vocab_size == vocab_size
    for doc in held[:5] + [b"x = b'\xff\xfe'\n\x80 caf\xc3"]:
        assert btok.decode(btok.encode(doc)) == doc
    assert btok.encode(held[0]) == tok.encode(held[0].decode("utf-8")).ids
    assert ratio > {512: 1.8, 2048: 2.4}[vocab_size]  # measured on 1.2 MB of stdlib: 2.15 and 3.25


def test_plain_bpe_merges_across_everything_and_keeps_all_bytes():
    docs = ["ABAABBBAAA", "AAAABABBAB"] * 50
    tok = bpe.train_bpe(docs, 262, kind="plain")
    assert tok.get_vocab_size() == 262
    enc = tok.encode("AAAAB")
    assert tok.decode(enc.ids) == "AAAAB" and len(enc.ids) < 5
    assert tok.decode(tok.encode("\x00ÿZ").ids) == "\x00ÿZ"
    with pytest.raises(ValueError, match="vocab_size"):
        bpe.train_bpe(docs, 100)
