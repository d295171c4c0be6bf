"""Cross-vocabulary ensemble (the paper's model ensembles; docs/papers/bytelm.md "Ensembles", "Ensemble"): train,
score, report.

Two tiny GPT-2s are trained on the same stdlib documents with different byte-level BPE vocabularies
(512 and 2048 tokens). Each becomes a next-byte model (``ByteLM``, masked mode: invalid next tokens get
zero mass and the rest is renormalised, so every byte distribution sums to 1); the ensemble averages the
members' byte distributions, which needs no alignment between the vocabularies. Every held-out document
is scored whole, ``EOT d EOT``, and bits per byte are ``-log2 P(d, EOS) / len(d)``.
Token-level bits per byte (the canonical tokenization's log-likelihood over the same bytes) are reported
beside them; they equal the raw-mode byte-level numbers by the telescoping identity (bytelm.md "Known answers" 3),
which the evaluation checks on the first document.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papersuite.core import io
from papersuite.core.checkpoint import clear_checkpoints, data_digest
from papersuite.core.progress import progress

from . import bpe, corpus, models
from .uncertainty import finite_or_none, ratio_of_sums_se

__all__ = [
    "CODE_LM_DEFAULTS",
    "EVAL_DEFAULTS",
    "train_code_lm",
    "token_logprob",
    "evaluate_ensemble",
    "ensemble_records",
]

log = logging.getLogger("papersuite.bytelm.ensemble_eval")

# Tiny scale (bytelm.md "Scales": 4 layers, d=128, ctx 256). One step (16 x 256 tokens) takes ~0.5 s on one idle CPU
# thread; with train_bytes 1.8 MB the V=512 member runs 203 steps (~100 s), the V=2048 member 136 (~70 s).
# Measured (stdlib corpus seed 0, 4076 held-out bytes), bits/byte V512 / V2048 / ensemble:
#   seed 0: 2.619 / 2.353 / 2.331;  seed 1: 2.543 / 2.303 / 2.280  (token level: 2.633 / 2.373, 2.555 / 2.323).
# config/bytelm.yaml's tiny train_bytes 1.2 MB (2014 held-out bytes, seed 0): 2.732 / 2.548 / 2.465.
CODE_LM_DEFAULTS: dict[str, Any] = {
    "arch": {"n_layer": 4, "n_embd": 128, "n_head": 4, "n_ctx": 256},
    "train": {
        "steps": 180,
        "batch": 16,
        "lr": 3e-3,
        "warmup": 20,
        "min_lr_frac": 0.1,
        "weight_decay": 0.0,
        "grad_clip": 1.0,
        "ckpt_every": 50,
    },
    "min_frequency": 2,  # BPE merge threshold
    # Data-matched budget: steps = train_bytes / (batch · n_ctx · bytes per token of this vocabulary), so every
    # member sees the same bytes (a 512-token vocabulary needs ~1.5x the steps of a 2048 one); 0: train.steps.
    "train_bytes": 1_800_000,
}

EVAL_DEFAULTS: dict[str, Any] = {
    "max_docs": 0,  # 0: every held-out document of the corpus
    "mode": "masked",  # ByteLM mode of the members
    "check_identity": True,  # on the first document: raw-mode byte-level = token-level (Known answers 3), and the
    # ensemble pass's member numbers = ByteLM.logprob
}

LN2 = math.log(2.0)
MEMBER_MEMO = 16384  # next-token results a member's HFTokenLM keeps (tiny: ~1.7k per member)


def train_code_lm(
    corpus_dir: str | Path,
    vocab_size: int,
    params: Mapping[str, Any] | None,
    seed: int,
    out_dir: str | Path,
    ckpt_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train a ``vocab_size`` byte-level BPE on the corpus' training documents, then a tiny GPT-2 on them.

    The BPE training is deterministic and repeated on resume; the LM resumes from ``ckpt_dir``. Writes the
    model directory (weights, tokenizer.json, metadata with the training curve) and returns the metadata.
    """
    p = models.merge_params(CODE_LM_DEFAULTS, params, "code-LM")
    t0 = time.perf_counter()
    docs = corpus.load_documents(corpus_dir, "train")
    tok = bpe.train_bpe(docs, int(vocab_size), kind="code", min_frequency=int(p["min_frequency"]))
    eot = bpe.eot_id(tok)
    ids = _byte_tokenizer(tok).encode_batch(docs)  # exactly the encoding the byte-level evaluation uses
    n_tokens, n_bytes = sum(map(len, ids)), sum(map(len, docs))
    tok_s = time.perf_counter() - t0
    log.info(
        "BPE V=%d: %d documents, %d bytes -> %d tokens (%.2f bytes/token) in %.1f s",
        vocab_size,
        len(docs),
        n_bytes,
        n_tokens,
        n_bytes / n_tokens,
        tok_s,
    )
    arch = {**models.ARCH_DEFAULTS, **p["arch"]}
    train = {**models.TRAIN_DEFAULTS, **p["train"]}
    if p["train_bytes"]:
        train["steps"] = max(1, round(p["train_bytes"] * n_tokens / n_bytes / (train["batch"] * arch["n_ctx"])))
    model = models.build_gpt2(tok.get_vocab_size(), arch, seed=seed, eos_id=eot)
    stream = models.DocStream(ids, eot, arch["n_ctx"])
    hist = models.train_lm(
        model,
        stream.sample,
        train,
        seed,
        ckpt_dir=ckpt_dir,
        desc=f"bytelm code V={vocab_size}",
        data_fingerprint=data_digest(ids),
    )
    manifest = corpus.read_manifest(corpus_dir)
    meta = {
        "experiment": "ensemble",
        "kind": "code",
        "vocab_size": int(vocab_size),
        "eot_id": eot,
        "seed": int(seed),
        "params": p,
        "steps": train["steps"],
        "corpus_train_sha256": manifest["splits"]["train"]["sha256"],
        "python": manifest["python"],
        "n_train_docs": len(docs),
        "n_train_bytes": n_bytes,
        "n_train_tokens": n_tokens,
        "bytes_per_token": n_bytes / n_tokens,
        "tokenizer_s": tok_s,
        "train_wall_s": hist["wall_s"],
        "resumed_from": hist["resumed_from"],
        "losses": hist["losses"],
        "tokens_seen": len(hist["losses"]) * train["batch"] * arch["n_ctx"],
    }
    models.save_model(out_dir, model, tok, meta)
    if ckpt_dir is not None:
        clear_checkpoints(ckpt_dir)
    log.info(
        "code LM V=%d trained in %.1f s; final loss %.3f",
        vocab_size,
        hist["wall_s"],
        float(np.mean(hist["losses"][-10:])) if hist["losses"] else float("nan"),
    )
    return meta


@torch.no_grad()
def token_logprob(model: torch.nn.Module, ids: Sequence[int], bos_id: int, eos_id: int | None) -> float:
    """log P(ids, EOS) of a token LM in one teacher-forced pass from BOS (natural log)."""
    seq = [bos_id, *ids] + ([eos_id] if eos_id is not None else [])
    x = torch.as_tensor([seq], dtype=torch.long)
    logp = torch.log_softmax(model(input_ids=x[:, :-1]).logits.double(), dim=-1)[0]  # (T, V)
    return float(logp.gather(1, x[0, 1:, None]).sum())


def _byte_tokenizer(hf_tok: Any) -> Any:
    """The byte view of a trained code BPE, ``<|endoftext|>`` as EOS (and BOS)."""
    from .tokenizer import ByteTokenizer

    return ByteTokenizer.from_hf(hf_tok, eos_token=bpe.EOT)


def _member(model_dir: str | Path, mode: str) -> dict[str, Any]:
    """A trained code LM as a byte-level model: (model, ByteTokenizer, fresh HFTokenLM, ByteLM) and metadata."""
    from .byte_lm import ByteLM
    from .lm import HFTokenLM

    model, hf_tok, meta = models.load_model(model_dir)
    if hf_tok is None:
        raise ValueError(f"{model_dir}: a code LM needs its tokenizer.json")
    tok = _byte_tokenizer(hf_tok)
    # the memo keeps every next-token result of the scoring pass, so the member check (_checks) re-reads the
    # pass's own numbers instead of recomputing them in another forward-pass batch (float rounding)
    lm = HFTokenLM(model, bos_id=tok.eos_id, memo_size=MEMBER_MEMO)
    return {
        "name": f"V{meta['vocab_size']}",
        "dir": str(model_dir),
        "model": model,
        "tok": tok,
        "lm": lm,
        "byte_lm": ByteLM(lm, tok, mode=mode),
        "meta": meta,
        "n_ctx": int(model.config.n_positions),
    }


def _fits(member: dict[str, Any], doc: bytes) -> bool:
    """BOS + the document's tokens + the EOS prediction stay inside the model's positions."""
    return len(member["tok"].encode(doc)) + 2 <= member["n_ctx"]


def _members(model_dirs: Sequence[str | Path], mode: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The members as byte-level models, and their names (``V{vocab}``, indexed when two share one)."""
    members = [_member(d, mode) for d in model_dirs]
    names = [m["name"] for m in members]
    if len(set(names)) != len(names):  # e.g. a model ensembled with itself
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return members, names


@dataclass
class _Scores:
    """Totals of the scoring pass over the held-out documents (nats, counts, seconds) and its per-document rows."""

    nll: dict[str, float]  # members and "ensemble"
    tok_nll: dict[str, float]
    n_tokens: dict[str, int]
    per_doc: list[dict[str, Any]] = field(default_factory=list)
    n_bytes: int = 0
    calls: list[int] = field(default_factory=list)
    t_byte: float = 0.0
    t_tok: float = 0.0
    mix_dev: float = 0.0


def _byte_pass(ens: Any, n_members: int, docs: list[bytes]) -> tuple[list[np.ndarray], list[int]]:
    """Per document, (members + ensemble, bytes + EOS) log P(x_{n+1} | x_1^n) of ``EOT d EOT``: all documents in
    lock-step, one batched model call per member and byte position (bytelm.md "Batched decoding"); and per
    document the model evaluations spent on it (all members)."""
    from .tokenizer import EOS

    states = [ens.prompt_state(b"") for _ in docs]
    symbols = [[*d, EOS] for d in docs]
    lps = [np.zeros((n_members + 1, len(s))) for s in symbols]  # (members + ensemble, bytes + EOS)
    calls = [0] * len(docs)
    for i in range(max(map(len, symbols), default=0)):
        active = [k for k, s in enumerate(symbols) if i < len(s)]
        spent = ens.prefetch([states[k] for k in active])
        for k, c in zip(active, spent):
            calls[k] += int(c)
        for k in active:
            states[k] = ens.advance(states[k], symbols[k][i])
            lps[k][:-1, i] = [s.byte_logprob for s in states[k].members]
            lps[k][-1, i] = states[k].byte_logprob
    return lps, calls


def _token_pass(members: list[dict[str, Any]], names: list[str], doc: bytes, row: dict, scores: _Scores) -> None:
    """Token-level log-likelihood of the document's canonical tokenization under every member (one
    teacher-forced pass each), added to the totals and to the document's row."""
    for n, m in zip(names, members):
        ids = m["tok"].encode(doc)
        tlp = token_logprob(m["model"], ids, m["tok"].eos_id, m["tok"].eos_id)
        scores.tok_nll[n] -= tlp
        scores.n_tokens[n] += len(ids) + 1
        row[f"{n}_token_bpb"] = -tlp / len(doc) / LN2


def _score_documents(
    members: list[dict[str, Any]], names: list[str], rows: list[dict[str, Any]], docs: list[bytes], fit: list[bool]
) -> _Scores:
    """Score every document that fits: the byte-level pass of the ensemble (members and mixture), the mixture
    check, and the token-level pass of every member."""
    from .ensemble import ByteEnsemble

    ens = ByteEnsemble([m["byte_lm"] for m in members])
    scores = _Scores(
        nll={n: 0.0 for n in [*names, "ensemble"]},  # nats
        tok_nll={n: 0.0 for n in names},
        n_tokens={n: 0 for n in names},
    )
    calls0 = [m["lm"].calls for m in members]
    scored = [k for k in range(len(docs)) if fit[k]]
    t0 = time.perf_counter()
    passes, doc_calls = _byte_pass(ens, len(members), [docs[k] for k in scored])
    scores.t_byte = time.perf_counter() - t0
    for k, lp, doc_call in zip(progress(scored, desc="bytelm ensemble", logger=log), passes, doc_calls):
        doc = docs[k]
        # the mixture of the members' own conditionals (masked mode: each sums to one)
        mix = np.log(np.exp(lp[:-1]).T @ ens.weights)  # (bytes + 1,)
        scores.mix_dev = max(scores.mix_dev, float(np.max(np.abs(mix - lp[-1]))))
        t0 = time.perf_counter()
        row = {"doc": k, "path": rows[k]["path"], "start": rows[k]["start"], "bytes": len(doc), "calls": doc_call}
        _token_pass(members, names, doc, row, scores)
        scores.t_tok += time.perf_counter() - t0
        for j, n in enumerate([*names, "ensemble"]):
            scores.nll[n] -= float(lp[j].sum())
            row[f"{n}_bpb"] = -float(lp[j].sum()) / len(doc) / LN2
        scores.n_bytes += len(doc)
        scores.per_doc.append(row)
    scores.calls = [m["lm"].calls - c for m, c in zip(members, calls0)]
    return scores


def _method_metrics(
    members: list[dict[str, Any]], names: list[str], scores: _Scores, checks: Mapping[str, float]
) -> tuple[dict[str, dict[str, float]], str]:
    """Per-method metrics (every member and the ensemble) and the name of the best member."""
    n_bytes, calls = scores.n_bytes, scores.calls
    methods: dict[str, dict[str, float]] = {}
    for j, (n, m) in enumerate(zip(names, members)):
        methods[n] = {
            "bits_per_byte": scores.nll[n] / n_bytes / LN2,
            "token_bits_per_byte": scores.tok_nll[n] / n_bytes / LN2,
            "bytes_per_token": n_bytes / (scores.n_tokens[n] - len(scores.per_doc)),
            "calls_per_byte": calls[j] / n_bytes,
            "vocab_size": float(m["meta"]["vocab_size"]),
            "train_wall_s": float(m["meta"]["train_wall_s"]),
            **{k: v for k, v in checks.items() if k.startswith(n + ":")},
        }
        methods[n] = {k.split(":", 1)[-1]: v for k, v in methods[n].items()}
    best = min(names, key=lambda n: methods[n]["bits_per_byte"])
    methods["ensemble"] = {
        "bits_per_byte": scores.nll["ensemble"] / n_bytes / LN2,
        "calls_per_byte": sum(calls) / n_bytes,
        "bytes_per_s": n_bytes / scores.t_byte,
        "gain_vs_best_bits": methods[best]["bits_per_byte"] - scores.nll["ensemble"] / n_bytes / LN2,
    }
    _add_document_se(methods, names, best, scores.per_doc)
    return methods, best


def _add_document_se(methods: dict[str, dict[str, float]], names: list[str], best: str, per_doc: list[dict]) -> None:
    """Standard errors over the held-out documents (ratios of sums over documents, uncertainty.ratio_of_sums_se):
    bits_per_byte_se per method; bpb_minus_best_member and its se from the per-document paired difference of
    bits against the best member (the same bytes); calls_per_byte_se of the ensemble pass, from the calls each
    document costs scored alone (a prefix shared by documents counts for each; bytelm.md "Noise")."""
    n_bytes = np.array([d["bytes"] for d in per_doc], dtype=float)  # (docs,)
    bits = {n: np.array([d[f"{n}_bpb"] for d in per_doc]) * n_bytes for n in [*names, "ensemble"]}  # (docs,)
    for n, doc_bits in bits.items():
        methods[n]["bits_per_byte_se"] = ratio_of_sums_se(doc_bits, n_bytes)[1]
        difference, se = ratio_of_sums_se(doc_bits - bits[best], n_bytes)
        methods[n]["bpb_minus_best_member"] = difference
        methods[n]["bpb_minus_best_member_se"] = se
    calls = np.array([d["calls"] for d in per_doc], dtype=float)  # (docs,)
    methods["ensemble"]["calls_per_byte_se"] = ratio_of_sums_se(calls, n_bytes)[1]


def _summary_metrics(
    names: list[str],
    methods: Mapping[str, Mapping[str, float]],
    best: str,
    scores: _Scores,
    n_docs: int,
    checks: Mapping[str, float],
) -> dict[str, Any]:
    """The run's metrics: ensemble and best-member bits per byte, the relative gain, costs and checks."""
    n_bytes = scores.n_bytes
    metrics = {
        "ensemble_bpb": methods["ensemble"]["bits_per_byte"],
        "best_member_bpb": methods[best]["bits_per_byte"],
        "ensemble_gain_rel": 1.0 - methods["ensemble"]["bits_per_byte"] / methods[best]["bits_per_byte"],
        "n_docs": float(len(scores.per_doc)),
        "n_docs_skipped": float(n_docs - len(scores.per_doc)),
        "n_bytes": float(n_bytes),
        "byte_pass_s": scores.t_byte,
        "token_pass_s": scores.t_tok,
        "calls_per_byte": sum(scores.calls) / n_bytes,
        "bytes_per_s": n_bytes / scores.t_byte,
        "member_check_max_abs": checks.get("member_check_max_abs"),
        "mixture_check_max_abs": scores.mix_dev,
    }
    for n in names:
        metrics[f"{n}_bpb"] = methods[n]["bits_per_byte"]
        metrics[f"{n}_token_bpb"] = methods[n]["token_bits_per_byte"]
    return metrics


def evaluate_ensemble(
    model_dirs: Sequence[str | Path],
    corpus_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    out_json: str | Path | None = None,
    out_csv: str | Path | None = None,
) -> dict[str, Any]:
    """Bits per byte of every member and of their byte-level mixture on the held-out documents
    (docs/papers/bytelm.md "Ensemble").

    One pass per document drives ``ByteEnsemble`` byte by byte; each member state's ``byte_logprob`` is that
    member's own masked-mode log P(x_{n+1} | x_1^n), so member and ensemble numbers come from the same
    recursion (checked against ``ByteLM.logprob`` on the first document). Token-level bits per byte come from
    one teacher-forced pass per document. Cost: model calls per byte and bytes per second of the pass.
    Documents that do not fit some member's context are skipped and counted."""
    p = models.merge_params(EVAL_DEFAULTS, params, "ensemble evaluation")
    rows = corpus.load_rows(corpus_dir, "heldout")
    if p["max_docs"]:
        rows = rows[: int(p["max_docs"])]
    members, names = _members(model_dirs, p["mode"])
    docs = [r["text"].encode("utf-8") for r in rows]
    fit = [all(_fits(m, d) for m in members) for d in docs]
    if not any(fit):
        raise ValueError(f"no held-out document of {corpus_dir} fits the members' contexts")
    scores = _score_documents(members, names, rows, docs, fit)
    first = docs[fit.index(True)]
    checks = _checks(members, names, first, scores.per_doc[0]) if p["check_identity"] else {}
    methods, best = _method_metrics(members, names, scores, checks)
    metrics = _summary_metrics(names, methods, best, scores, len(docs), checks)
    result = {
        "experiment": "ensemble",
        "members": names,
        "model_dirs": [str(d) for d in model_dirs],
        "best_member": best,
        "params": p,
        "methods": methods,
        "metrics": metrics,
    }
    if out_json is not None:
        io.write_json(out_json, result)
    if out_csv is not None:
        import pandas as pd

        io.write_csv(out_csv, pd.DataFrame(scores.per_doc))
    log.info(
        "bits/byte on %d held-out bytes: %s; ensemble %.4f (best member %s %.4f); %.2f calls/byte, %.0f bytes/s",
        scores.n_bytes,
        ", ".join(
            f"{n} {methods[n]['bits_per_byte']:.4f} (token {methods[n]['token_bits_per_byte']:.4f})" for n in names
        ),
        metrics["ensemble_bpb"],
        best,
        metrics["best_member_bpb"],
        metrics["calls_per_byte"],
        metrics["bytes_per_s"],
    )
    return result


def _checks(members: list[dict[str, Any]], names: list[str], doc: bytes, row: dict[str, Any]) -> dict[str, float]:
    """On one document: the ensemble pass's member numbers equal ``ByteLM.logprob`` (masked), and raw mode
    telescopes to the token log-likelihood (bytelm.md "Known answers" 3); ``{name}:raw_identity_gap_nats`` =
    |raw − token|."""
    from .byte_lm import ByteLM
    from .lm import HFTokenLM

    out: dict[str, float] = {"member_check_max_abs": 0.0}
    for n, m in zip(names, members):
        masked = m["byte_lm"].logprob(doc) / len(doc) / LN2
        out["member_check_max_abs"] = max(out["member_check_max_abs"], abs(-masked - row[f"{n}_bpb"]))
        raw = ByteLM(HFTokenLM(m["model"], bos_id=m["tok"].eos_id), m["tok"], mode="raw").logprob(doc)
        out[f"{n}:raw_identity_gap_nats"] = abs(raw + row[f"{n}_token_bpb"] * len(doc) * LN2)
        out[f"{n}:raw_bpb_doc0"] = -raw / len(doc) / LN2
        out[f"{n}:token_bpb_doc0"] = row[f"{n}_token_bpb"]
    return out


def ensemble_records(result: Mapping[str, Any], seed: int, scale: str, device: str = "cpu") -> list[dict[str, Any]]:
    """One metrics record per member (method ``member_V{vocab}``) and one for the byte-level ensemble."""
    from papersuite.core import records

    out = []
    wall = float(result["metrics"]["byte_pass_s"] + result["metrics"]["token_pass_s"])
    for name, metrics in result["methods"].items():
        method = name if name == "ensemble" else f"member_{name}"
        out.append(
            records.make_record(
                paper="bytelm",
                experiment="ensemble",
                method=method,
                seed=int(seed),
                scale=scale,
                metrics={k: finite_or_none(v) for k, v in metrics.items()},
                wall_s=wall,
                device=device,
                config={"params": result["params"], "members": result["members"]},
                extra={"model_dirs": result["model_dirs"], "n_bytes": result["metrics"]["n_bytes"]},
            )
        )
    return out
