"""Bounds of one trained model: compress it, score sampled training tokens in their contexts, and compute the
token-level BPD and top-k error bounds beside the document-level bound of the same quantized model (Lotfi et al.,
NeurIPS 2024, Sections 4-5 and Table 1; docs/papers/tokenbounds.md "Method as implemented").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from papersuite.core.noise import mean_se
from papersuite.tokenbounds import bound, compress, gpt, sampler

__all__ = ["score_positions", "document_probs", "random_guess", "model_bounds"]


@torch.no_grad()
def score_positions(model, stream: np.ndarray, positions: np.ndarray, eot_id: int, block_size: int, batch: int = 256):
    """(p(x_i | context) (s,), rank (s,)) of each sampled position, contexts of <= block_size in-document tokens."""
    ctx = sampler.contexts(stream, positions, eot_id, block_size + 1)
    order = np.argsort([len(c) for c in ctx], kind="stable")  # similar lengths share a batch: less padding
    probs, ranks = np.empty(len(ctx)), np.empty(len(ctx), dtype=np.int64)
    for lo in range(0, len(ctx), batch):
        idx = order[lo : lo + batch]
        contexts = [torch.from_numpy(ctx[i].astype(np.int64)) for i in idx]
        targets = torch.from_numpy(np.asarray(stream[positions[idx]], dtype=np.int64))
        logp, rk = gpt.log_probs_at(model, contexts, targets)
        probs[idx], ranks[idx] = logp.exp().numpy(), rk.numpy()
    return probs, ranks


@torch.no_grad()
def document_probs(model, doc: np.ndarray, block_size: int) -> np.ndarray:
    """p of every token of one document (doc[0] = its opening EOT), (n - 1,): windows of block_size with stride
    block_size // 2, the second half of each scored, so a token sees more than block_size // 2 tokens of context
    (its whole prefix within the first window)."""
    tokens = torch.from_numpy(np.asarray(doc, dtype=np.int64)).to(next(model.parameters()).device)
    n, half = len(tokens), block_size // 2
    out = np.empty(n - 1)
    start = 0
    while True:
        win = tokens[start : start + block_size + 1]  # (<= T + 1,)
        logp = torch.log_softmax(model(win[None, :-1])[0].double(), dim=-1)  # (T, V)
        p = logp.gather(1, win[1:, None])[:, 0].exp().cpu().numpy()  # (T,)
        first = 0 if start == 0 else half  # earlier targets were scored with more context
        out[start + first : start + len(p)] = p[first:]
        if start + block_size + 1 >= n:
            return out
        start += half


def random_guess(vocab_size: int, ks: Sequence[int]) -> dict[str, float]:
    """The uniform predictor's reference: log2 V bits and top-k error 1 - k/V (Table 1's random-guess row)."""
    return {"bpd": math.log2(vocab_size), **{f"top{k}": 1.0 - k / vocab_size for k in ks}}


def model_bounds(
    model, stream: np.ndarray, eot_id: int, vocab_size: int, block_size: int, cfg: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """Quantize and code ``model`` in place, then its token-level and document-level bounds (metrics with _se).

    cfg: levels, lloyd_iters, n_sample, n_docs_eval, delta, extra_bits, topk (list of k).
    """
    comp = compress.post_training_quantize(model, cfg["levels"], cfg["lloyd_iters"])
    c_bits = comp.message_bits
    m = len(stream) - 1  # every token after the first EOT is a data point
    pos = sampler.sample_positions(stream, eot_id, cfg["n_sample"], seed)
    probs, ranks = score_positions(model, stream, pos, eot_id, block_size)
    tok = bound.bpd_bound(probs, c_bits, cfg["extra_bits"], m, vocab_size, cfg["delta"])
    smoothed = bound.smoothed_log_loss(probs, tok["alpha"], vocab_size)
    out = {
        "compressed_bits": float(c_bits),
        "prefix_bits": bound.prefix_free_bits(c_bits),
        "n_trainable": float(comp.symbols.size),
        "n_train_tokens": float(m),
        "bpd_bound": tok["bound"],
        "bpd_bound_se": mean_se(smoothed)[1],
        "bpd_alpha": tok["alpha"],
        "bpd_empirical": tok["empirical"],
        "bpd_empirical_raw": tok["empirical_raw"],
    }
    for k in cfg["topk"]:
        top = bound.topk_error_bound(ranks, k, c_bits, cfg["extra_bits"], m, cfg["delta"])
        out[f"top{k}_bound"] = top["bound"]
        out[f"top{k}_bound_se"] = math.sqrt(top["empirical"] * (1 - top["empirical"]) / len(ranks))
        out[f"top{k}_empirical"] = top["empirical"]
    eots = sampler.eot_positions(stream, eot_id)  # (n_docs + 1,)
    n_docs = len(eots) - 1
    pick = np.sort(np.random.default_rng(seed + 1).choice(n_docs, min(cfg["n_docs_eval"], n_docs), replace=False))
    doc_probs = [document_probs(model, stream[eots[d] : eots[d + 1] + 1], block_size) for d in pick]
    doc = bound.document_level_bound(doc_probs, n_docs, c_bits, cfg["extra_bits"], vocab_size, cfg["delta"])
    per_doc = [bound.smoothed_log_loss(p, doc["alpha"], vocab_size).mean() for p in doc_probs]
    out.update(
        {
            "doc_bound": doc["bound"],
            "doc_bound_se": mean_se(np.asarray(per_doc))[1],
            "doc_alpha": doc["alpha"],
            "doc_empirical": doc["empirical"],
            "n_docs": float(n_docs),
        }
    )
    return out
