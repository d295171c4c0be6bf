"""The full-scale path on a miniature: OpenWebText's nested archive layout (subset tar -> .xz -> tar of .txt) into one
token stream, and post-training quantization of a pretrained model read from a hub-style snapshot (a 1-layer GPT-2
saved here with save_pretrained), bounded on that stream (docs/papers/tokenbounds.md "Full scale")."""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile

import numpy as np
import pytest

from papersuite.core.records import load_records
from papersuite.tokenbounds import sampler, steps

DOCS = [
    ["def add(a, b):\n    return a + b\n", "The quick brown fox jumps over the lazy dog.\n"],
    ["A third document, short.\n"],
]
EOT = "<|endoftext|>"


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A hub-style snapshot: tokenizer.json (byte-level BPE with the EOT) and a tiny GPT-2 in safetensors."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel

    out = tmp_path_factory.mktemp("gpt2-mini")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator([d for docs in DOCS for d in docs] * 5, trainer)
    tok.save(str(out / "tokenizer.json"))
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(out, safe_serialization=True)
    return out, tok


def test_openwebtext_stream_and_pretrained_bound(tmp_path, snapshot):
    snapshot_dir, tok = snapshot
    subsets = []
    for k, docs in enumerate(DOCS):
        inner = _tar_bytes({f"doc{j}.txt": d.encode() for j, d in enumerate(docs)})
        outer = tmp_path / f"urlsf_subset0{k}.tar"
        outer.write_bytes(_tar_bytes({f"openwebtext/urlsf_subset0{k}-1_data.xz": lzma.compress(inner)}))
        subsets.append(outer)
    data = tmp_path / "openwebtext"
    steps.prepare_openwebtext(subsets=subsets, tokenizer_dir=snapshot_dir, eot=EOT, out_dir=data)
    stream = np.load(data / steps.STREAM, mmap_mode="r")
    eot = tok.token_to_id(EOT)
    expected = [eot]
    for d in (d for docs in DOCS for d in docs):
        expected += tok.encode(d, add_special_tokens=False).ids + [eot]
    assert stream.dtype == np.uint16 and stream.tolist() == expected
    assert sampler.eot_positions(stream, eot).size == 4  # the opening EOT and one after each of the 3 documents

    out = tmp_path / "record.json"
    evaluate = {"levels": 5, "lloyd_iters": 3, "n_sample": 50, "n_docs_eval": 3, "delta": 0.05, "extra_bits": 2,
                "topk": [1, 10]}  # fmt: skip
    steps.ptq(model="gpt2-mini", snapshot_dir=snapshot_dir, evaluate=evaluate, block_size=32, seed=0, scale="full",
              data_dir=data, out_record=out, threads=1)  # fmt: skip
    (rec,) = load_records([out])
    from transformers import GPT2LMHeadModel

    n_params = sum(p.numel() for p in GPT2LMHeadModel.from_pretrained(snapshot_dir).parameters())  # tied head once
    m = rec["metrics"]
    assert rec["experiment"] == "openwebtext_pretrained" and rec["method"] == "gpt2-mini"
    assert m["n_trainable"] == n_params and m["n_train_tokens"] == len(expected) - 1
    assert m["compressed_bits"] > 0 and m["bpd_bound"] > m["bpd_empirical"] > 0
    assert m["bpd_bound_se"] is not None and m["doc_bound"] is not None and m["n_docs"] == 3


def test_prepare_openwebtext_names_a_tokenizer_without_the_eot(tmp_path, snapshot):
    snapshot_dir, _ = snapshot
    with pytest.raises(ValueError, match="no token '<eot>'"):
        steps.prepare_openwebtext(subsets=[], tokenizer_dir=snapshot_dir, eot="<eot>", out_dir=tmp_path / "x")


def test_training_reads_a_memory_mapped_stream_like_an_array(tmp_path):
    """core.checkpoint.data_digest read in chunks equals the digest of the whole array's bytes, and training on a
    memory map equals training on the array in memory (same windows, same losses)."""
    import torch

    from papersuite.core.checkpoint import data_digest
    from papersuite.tokenbounds import gpt, train

    stream = np.random.default_rng(0).integers(0, 60, 5000).astype(np.uint16)
    whole = hashlib.sha256(f"{stream.dtype.str}{stream.shape}".encode() + stream.tobytes()).hexdigest()
    assert data_digest(stream, chunk=777) == data_digest(stream) == whole
    np.save(tmp_path / "s.npy", stream)
    mapped = np.load(tmp_path / "s.npy", mmap_mode="r")
    assert data_digest(mapped, chunk=777) == whole
    arch = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}
    params = {"steps": 5, "batch": 4, "warmup": 1, "ckpt_every": 0}
    runs = []
    for data in (stream, mapped):
        model = gpt.build_model(64, "dense", arch, seed=0)
        runs.append(
            (train.train_model(model, data, 16, params, seed=1), torch.cat([p.flatten() for p in model.parameters()]))
        )
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
