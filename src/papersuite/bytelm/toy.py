"""The learned toy (the workshop paper's Markov-chain experiment; docs/papers/bytelm.md "Learned toy"): a tiny GPT-2
trained on tokenized Markov documents, then its naive, token-healing and byte-level next-byte estimates against the
source's transitions.

Source: the canonical chain on {A,B} (P(A|A)=0.7, P(A|B)=0.4, π uniform, L=10 symbols + EOS) or the oracle's
3-symbol chain. Tokenizer: MPE {A,B,AA} (the canonical example, bytelm.md "Tokenization bias") or a byte-level BPE
without pre-tokenization trained on the samples. The model learns the token process, so its naive next-byte estimate
inherits the tokenization bias (structural zeros, e.g. P(A | "…BA") = 0 under MPE, truth 0.7), while the
byte-level estimate (ByteLM, masked mode) recovers the byte transitions up to the model's learning error.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from papersuite.core import io, noise
from papersuite.core.checkpoint import clear_checkpoints, data_digest
from papersuite.core.progress import progress

from . import bpe, models, oracle
from .byte_lm import ByteLM
from .healing import healed_next_byte, naive_next_byte
from .lm import HFTokenLM
from .tokenizer import EOS, ByteTokenizer
from .uncertainty import transition_ratio_se

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TOY_DEFAULTS",
    "CHAINS",
    "METHODS",
    "make_chain",
    "make_tokenizer",
    "train_toy",
    "load_toy",
    "transition_table",
    "toy_metrics",
    "evaluate_toy",
    "toy_records",
]

log = logging.getLogger("papersuite.bytelm.toy")

CHAINS = {"two_state": oracle.two_state_chain, "three_state": oracle.three_state_chain}
METHODS = ("naive", "token_healing", "byte_level")

# Tiny scale (bytelm.md "Scales": ~20k documents; GPT-2 with 2 layers, d=64, 2 heads, ctx 32; ~1 min on one thread).
# Measured (seed 0, 1 thread): two_state/mpe L=10: mean |err| naive 0.081, healing 0.0046, byte-level 0.0045
# (ratio 0.056), 71 s training, 3.5 s for all 2047 prefixes; three_state/bpe L=8 (V=272): naive 0.095,
# healing 0.025, byte-level 0.010 (ratio 0.11), 9841 prefixes in ~2 min.
TOY_DEFAULTS: dict[str, Any] = {
    "chain": "two_state",  # two_state (bytelm.md "Tokenization bias") | three_state (oracle.three_state_chain)
    "length": 10,  # L symbols per document, then EOS
    "n_docs": 20000,  # sampled training documents
    "tokenizer": "mpe",  # mpe: {A, B, AA} (two_state only) | bpe: trained, no pre-tokenizer
    "bpe_vocab_size": 264,  # 256 bytes + EOT + 7 merges
    "arch": {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_ctx": 32},
    "train": {
        "steps": 1500,
        "batch": 64,
        "lr": 3e-3,
        "warmup": 50,
        "min_lr_frac": 0.1,
        "weight_decay": 0.0,
        "grad_clip": 1.0,
        "ckpt_every": 250,
    },
}


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    params = dict(params or {})
    unknown = sorted(set(params) - set(TOY_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown toy parameter(s) {unknown}; allowed: {sorted(TOY_DEFAULTS)}")
    p = {**TOY_DEFAULTS, **params}
    if p["chain"] not in CHAINS:
        raise ValueError(f"chain must be one of {sorted(CHAINS)}, got {p['chain']!r}")
    if p["tokenizer"] not in ("mpe", "bpe"):
        raise ValueError(f"tokenizer must be 'mpe' or 'bpe', got {p['tokenizer']!r}")
    if p["tokenizer"] == "mpe" and p["chain"] != "two_state":
        raise ValueError("the MPE vocabulary {A, B, AA} only covers the two_state chain; use tokenizer: bpe")
    return p


def make_chain(params: Mapping[str, Any] | None) -> oracle.MarkovChain:
    """The toy's source chain with ``length`` symbols per document."""
    p = _params(params)
    return CHAINS[p["chain"]](int(p["length"]))


def make_tokenizer(params: Mapping[str, Any] | None, docs: list[bytes]) -> tuple[ByteTokenizer, Any | None]:
    """(ByteTokenizer, tokenizers.Tokenizer to save or None for MPE) for the toy's documents."""
    p = _params(params)
    if p["tokenizer"] == "mpe":
        return oracle.mpe_tokenizer(), None
    hf = bpe.train_bpe(docs, int(p["bpe_vocab_size"]), kind="plain")
    return ByteTokenizer.from_hf(hf, eos_token=bpe.EOT), hf


def train_toy(
    params: Mapping[str, Any] | None, seed: int, out_dir: str | Path, ckpt_dir: str | Path | None = None
) -> dict[str, Any]:
    """Sample ``n_docs`` documents (seeded), tokenize them, train the tiny GPT-2 on ``EOT doc EOT doc …`` windows;
    write the model directory (weights, tokenizer, metadata with the loss curve) and return the metadata."""
    p = _params(params)
    chain = make_chain(p)
    t0 = time.perf_counter()
    docs = oracle.sample_documents(chain, int(p["n_docs"]), seed=seed)
    tok, hf = make_tokenizer(p, docs)
    ids = tok.encode_batch(docs)
    n_tokens = sum(map(len, ids))
    data_s = time.perf_counter() - t0
    log.info(
        "toy %s/%s: %d documents, %d tokens (%.2f bytes/token), vocabulary %d",
        p["chain"],
        p["tokenizer"],
        len(docs),
        n_tokens,
        len(docs) * chain.length / n_tokens,
        tok.vocab_size,
    )
    arch = {**models.ARCH_DEFAULTS, **p["arch"]}
    model = models.build_gpt2(tok.vocab_size, arch, seed=seed, eos_id=tok.eos_id)
    stream = models.DocStream(ids, tok.eos_id, arch["n_ctx"])
    hist = models.train_lm(
        model, stream.sample, p["train"], seed, ckpt_dir=ckpt_dir, desc="bytelm toy", data_fingerprint=data_digest(ids)
    )
    meta = {
        "experiment": "toy",
        "params": p,
        "seed": int(seed),
        "vocab_size": tok.vocab_size,
        "eos_id": tok.eos_id,
        "n_docs": len(docs),
        "n_tokens": n_tokens,
        "data_s": data_s,
        "train_wall_s": hist["wall_s"],
        "resumed_from": hist["resumed_from"],
        "losses": hist["losses"],
    }
    models.save_model(out_dir, model, hf, meta)
    if ckpt_dir is not None:
        clear_checkpoints(ckpt_dir)
    log.info("toy LM trained in %.1f s; final loss %.4f", hist["wall_s"], float(np.mean(hist["losses"][-20:])))
    return meta


def load_toy(model_dir: str | Path) -> tuple[Any, ByteTokenizer, dict]:
    """(model, ByteTokenizer, metadata) of a directory written by ``train_toy``."""
    model, hf, meta = models.load_model(model_dir)
    tok = oracle.mpe_tokenizer() if hf is None else ByteTokenizer.from_hf(hf, eos_token=bpe.EOT)
    if tok.vocab_size != meta["vocab_size"]:
        raise ValueError(
            f"{model_dir}: tokenizer has {tok.vocab_size} entries, the model was trained with {meta['vocab_size']}"
        )
    return model, tok, meta


def _level_rows(
    chain: oracle.MarkovChain, level: list[bytes], byte: list[np.ndarray], naive: list, healed: list
) -> list[dict[str, Any]]:
    """The table rows of one prefix length: every prefix and next symbol (EOS included)."""
    rows = []
    for prefix, b, nv, hd in zip(level, byte, naive, healed):
        true = oracle.true_next_byte(chain, prefix)
        p_prefix = oracle.prefix_probability(chain, prefix)
        for s in [*chain.symbols, EOS]:
            rows.append(
                {
                    "prefix": prefix.decode("ascii"),
                    "n": len(prefix),
                    "symbol": "EOS" if s == EOS else chr(s),
                    "true": float(true[s]),
                    "naive": float(nv[s]),
                    "token_healing": float(hd[s]),
                    "byte_level": float(b[s]),
                    "p_prefix": p_prefix,
                    "byte_level_mass": float(b.sum()),
                    "naive_mass": float(nv.sum()),
                }
            )
    return rows


def transition_table(
    model: Any, tok: ByteTokenizer, chain: oracle.MarkovChain, max_len: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per (prefix, next symbol) for every prefix of length 0..max_len (default L) and every symbol of
    the chain plus EOS: true, naive, token-healing and byte-level (masked) P(symbol | prefix) and P(prefix).

    Byte-level states are advanced along the prefix tree (by length), one ``advance`` per prefix; all prefixes of
    one length are evaluated together, one batched model call per method (bytelm.md "Batched decoding").
    Returns the table and cost counters (model calls, seconds per method)."""
    import pandas as pd

    max_len = chain.length if max_len is None else min(int(max_len), chain.length)
    n_prefixes = sum(len(chain.symbols) ** n for n in range(max_len + 1))
    lm = HFTokenLM(model, bos_id=tok.eos_id, memo_size=4 * len(chain.symbols) ** max_len + 16)
    byte_lm = ByteLM(lm, tok, mode="masked")
    rows: list[dict[str, Any]] = []
    cost = {"byte_level_s": 0.0, "byte_level_calls": 0, "baselines_s": 0.0, "baselines_calls": 0}
    states = {b"": byte_lm.prompt_state(b"")}
    for n in progress(range(max_len + 1), desc="toy transitions (by prefix length)", logger=log):
        level = [bytes(x) for x in itertools.product(chain.symbols, repeat=n)]
        t0 = time.perf_counter()
        states = {p: states[p] if p in states else byte_lm.advance(states[p[:-1]], p[-1]) for p in level}
        spent = byte_lm.prefetch([states[p] for p in level])
        byte = [byte_lm.next_byte_distribution(states[p]) for p in level]  # (257,) each
        t1, c1 = time.perf_counter(), lm.calls
        encodings = [tok.encode(p) for p in level]
        lm.query_batch(encodings + [ids[:-1] for ids in encodings if ids])  # the baselines' queries, memoised
        naive = [naive_next_byte(lm, tok, p) for p in level]
        healed = [healed_next_byte(lm, tok, p) for p in level]
        cost["byte_level_s"] += t1 - t0
        cost["byte_level_calls"] += sum(spent)
        cost["baselines_s"] += time.perf_counter() - t1
        cost["baselines_calls"] += lm.calls - c1
        rows.extend(_level_rows(chain, level, byte, naive, healed))
    cost["n_prefixes"] = n_prefixes
    return pd.DataFrame(rows), cost


def toy_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Mean and max |P̂ − P_true| per method over all transitions (prefix, symbol), the same mean weighted by the
    true prefix probability (each length counts equally), and the share of structural zeros (true ≥ 0.05,
    estimate ≤ 0.05). ratio_mean = byte-level mean error / naive mean error. ``_se``: the standard errors over
    the transitions (mean: std/sqrt(n); ratio to naive: a paired bootstrap)."""
    out: dict[str, float] = {}
    w = table["p_prefix"].to_numpy()
    for m in METHODS:
        err = (table[m] - table["true"]).abs().to_numpy()
        out[f"{m}_abs_err_mean"] = float(err.mean())
        out[f"{m}_abs_err_max"] = float(err.max())
        out[f"{m}_abs_err_wmean"] = float((w * err).sum() / w.sum())
        out[f"{m}_zero_frac"] = float(((table["true"] >= 0.05) & (table[m] <= 0.05)).mean())
        out[f"{m}_abs_err_mean_se"] = noise.mean_se(err)[1]
    naive_err = (table["naive"] - table["true"]).abs().to_numpy()
    for m in METHODS:  # over the transitions as items; the training noise is the seeds' (bytelm.md "Noise")
        err = (table[m] - table["true"]).abs().to_numpy()
        out[f"{m}_ratio_to_naive_se"] = transition_ratio_se(err, naive_err)
    out["ratio_mean"] = out["byte_level_abs_err_mean"] / out["naive_abs_err_mean"]
    out["ratio_wmean"] = out["byte_level_abs_err_wmean"] / out["naive_abs_err_wmean"]
    out["byte_level_mass_dev_max"] = float((table["byte_level_mass"] - 1.0).abs().max())
    return out


def evaluate_toy(
    model_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    out_json: str | Path | None = None,
    out_csv: str | Path | None = None,
    max_len: int | None = None,
) -> dict[str, Any]:
    """Score a trained toy model on every one-step transition (bytelm.md "Learned toy"): metrics (see toy_metrics),
    costs, training time; writes the metrics as JSON and the full transition table as CSV when paths are given.
    ``params`` default to the ones the model was trained with (they define the chain)."""
    model, tok, meta = load_toy(model_dir)
    p = _params(params if params is not None else meta["params"])
    chain = make_chain(p)
    t0 = time.perf_counter()
    table, cost = transition_table(model, tok, chain, max_len)
    metrics = toy_metrics(table)
    metrics.update(
        {
            "eval_s": time.perf_counter() - t0,
            "train_wall_s": float(meta["train_wall_s"]),
            "final_loss": float(np.mean(meta["losses"][-20:])),
            "n_prefixes": float(cost["n_prefixes"]),
            "byte_level_calls_per_prefix": cost["byte_level_calls"] / cost["n_prefixes"],
            "byte_level_ms_per_prefix": 1e3 * cost["byte_level_s"] / cost["n_prefixes"],
        }
    )
    result = {
        "experiment": "toy",
        "chain": p["chain"],
        "tokenizer": p["tokenizer"],
        "length": chain.length,
        "seed": meta["seed"],
        "metrics": metrics,
        "model_dir": str(model_dir),
    }
    if out_json is not None:
        io.write_json(out_json, result)
    if out_csv is not None:
        io.write_csv(out_csv, table)
    log.info(
        "toy %s/%s: |err| naive %.4f, healing %.4f, byte-level %.4f (ratio %.3f) over %d prefixes",
        p["chain"],
        p["tokenizer"],
        metrics["naive_abs_err_mean"],
        metrics["token_healing_abs_err_mean"],
        metrics["byte_level_abs_err_mean"],
        metrics["ratio_mean"],
        cost["n_prefixes"],
    )
    return result


def toy_records(result: Mapping[str, Any], scale: str, device: str = "cpu") -> list[dict[str, Any]]:
    """One metrics record per method (naive, token_healing, byte_level) of an ``evaluate_toy`` result; the
    experiment is ``toy_{chain}_{tokenizer}``."""
    from papersuite.core import records

    m = result["metrics"]
    wall = float(m["train_wall_s"] + m["eval_s"])
    out = []
    for method in METHODS:
        metrics = {k[len(method) + 1 :]: v for k, v in m.items() if k.startswith(method + "_")}
        metrics.update(
            {
                "ratio_to_naive": m[f"{method}_abs_err_mean"] / m["naive_abs_err_mean"],
                "train_wall_s": m["train_wall_s"],
                "n_prefixes": m["n_prefixes"],
            }
        )
        out.append(
            records.make_record(
                paper="bytelm",
                experiment=f"toy_{result['chain']}_{result['tokenizer']}",
                method=method,
                seed=int(result["seed"]),
                scale=scale,
                metrics=metrics,
                wall_s=wall,
                device=device,
                config={"chain": result["chain"], "tokenizer": result["tokenizer"], "length": result["length"]},
                extra={"model_dir": result["model_dir"]},
            )
        )
    return out
