"""Entry points of the bytelm rules: each runs one step of the reproduction and writes its outputs and metrics
records atomically, so that the scripts under workflow/scripts/bytelm/ are one call each (spec bytelm_bounds.md
part A: A-T1 oracle, A-T2 learned toy, A-T3 mid-token completion, A-T4 cross-vocabulary ensemble)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from papersuite.core import io, records, runtime

__all__ = [
    "METHODS",
    "run_oracle",
    "train_toy_run",
    "evaluate_toy_run",
    "build_corpus_run",
    "train_code_run",
    "evaluate_ensemble_run",
    "convert_smollm2_run",
]

log = logging.getLogger("papersuite.bytelm.experiments")

METHODS = ("naive", "token_healing", "byte_level")


def _record(
    experiment: str,
    method: str,
    seed: int,
    scale: str,
    metrics: Mapping[str, float],
    wall_s: float,
    config: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict:
    return records.make_record(
        paper="bytelm",
        experiment=experiment,
        method=method,
        seed=int(seed),
        scale=scale,
        metrics={k: float(v) for k, v in metrics.items()},
        wall_s=float(wall_s),
        device="cpu",
        config=config,
        extra=dict(extra or {}),
    )


def run_oracle(
    params: Mapping[str, Any],
    scale: str,
    out_table: str | Path,
    out_records: list[str],
    log_path: str | Path | None = None,
) -> None:
    """A-T1: naive, token-healing and byte-level next-byte probabilities under the exact token LM of a Markov
    source, beside the truth, for an MPE and a BPE tokenizer; one record per (tokenizer, method) with the max
    and mean |P − P_true| over every (prompt, next symbol)."""
    from . import oracle

    runtime.setup_logging(log_path)
    p = dict(params)
    t0 = time.perf_counter()
    chain = {"two_state": oracle.two_state_chain, "three_state": oracle.three_state_chain}[p["chain"]](p["length"])
    tokenizers = {
        "mpe": oracle.mpe_tokenizer(),
        "bpe": oracle.train_bpe_tokenizer(chain, p["bpe_vocab_size"], p["bpe_docs"], p["seed"]),
    }
    table = oracle.bias_table(chain, tokenizers, max_prompt_len=p["max_prompt_len"])
    wall_s = time.perf_counter() - t0
    io.write_csv(out_table, table)
    by_path = {Path(path).parts[-3:-1]: path for path in out_records}  # (experiment, method) -> path
    for name in tokenizers:
        rows = table[table["tokenizer"] == name]
        prompt_err = float((rows["p_prompt_cover"] - rows["p_prompt_true"]).abs().max())
        for method in METHODS:
            err = (rows[method] - rows["true"]).abs()
            metrics = {
                "abs_err_max": float(err.max()),
                "abs_err_mean": float(err.mean()),
                "zero_frac": float(((rows["true"] >= 0.05) & (rows[method] <= 0.05)).mean()),
            }
            if method == "byte_level":
                metrics["prompt_prob_err_max"] = prompt_err
            experiment = f"oracle_{name}"
            records.write_record(
                by_path[(experiment, method)],
                _record(
                    experiment,
                    method,
                    0,
                    scale,
                    metrics,
                    wall_s,
                    p,
                    {"tokenizer": name, "vocab": rows["vocab"].iloc[0], "n_rows": int(len(rows))},
                ),
            )
    log.info(
        "oracle: %d rows; byte-level max error %.2e, naive %.3f",
        len(table),
        float((table["byte_level"] - table["true"]).abs().max()),
        float((table["naive"] - table["true"]).abs().max()),
    )


def train_toy_run(
    params: Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """A-T2: train the tiny GPT-2 on tokenized Markov samples (resumable)."""
    from . import toy

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    toy.train_toy(dict(params), seed, out_dir, ckpt_dir=ckpt_dir)


def evaluate_toy_run(
    model_dir: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_table: str | Path,
    out_records: Mapping[str, str | Path],
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """A-T2: |P̂ − P_true| of naive, token-healing and byte-level next-byte estimates over every transition;
    one record per method (abs_err_mean, and ratio_to_naive = its mean error over naive's)."""
    from . import toy

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    result = toy.evaluate_toy(model_dir, dict(params), out_csv=out_table)
    m = result["metrics"]
    for method in METHODS:
        metrics = {
            "abs_err_mean": m[f"{method}_abs_err_mean"],
            "abs_err_max": m[f"{method}_abs_err_max"],
            "abs_err_wmean": m[f"{method}_abs_err_wmean"],
            "zero_frac": m[f"{method}_zero_frac"],
            "ratio_to_naive": m[f"{method}_abs_err_mean"] / m["naive_abs_err_mean"],
            "train_wall_s": m["train_wall_s"],
            "final_loss": m["final_loss"],
        }
        if method == "byte_level":
            metrics.update(
                {
                    "calls_per_prefix": m["byte_level_calls_per_prefix"],
                    "ms_per_prefix": m["byte_level_ms_per_prefix"],
                    "mass_dev_max": m["byte_level_mass_dev_max"],
                }
            )
        records.write_record(
            out_records[method],
            _record(
                "toy",
                method,
                seed,
                scale,
                metrics,
                m["train_wall_s"] + m["eval_s"],
                params,
                {"chain": result["chain"], "tokenizer": result["tokenizer"], "n_prefixes": int(m["n_prefixes"])},
            ),
        )


def build_corpus_run(params: Mapping[str, Any], out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """A-T4: the Python standard library as a code corpus, with a manifest of every file used (sha256)."""
    from . import corpus

    runtime.setup_logging(log_path)
    params = dict(params)
    seed = int(params.pop("seed", 0))
    with io.atomic_dir(out_dir) as tmp:
        corpus.build_corpus(tmp, params, seed=seed)


def train_code_run(
    corpus_dir: str | Path,
    member: Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """A-T4: a BPE of the member's vocabulary size and a tiny GPT-2 on the corpus (resumable)."""
    from . import ensemble_eval

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    params = {k: v for k, v in member.items() if k != "vocab_size"}
    ensemble_eval.train_code_lm(corpus_dir, int(member["vocab_size"]), params, seed, out_dir, ckpt_dir=ckpt_dir)


def evaluate_ensemble_run(
    corpus_dir: str | Path,
    model_dirs: list[str],
    members: list[str],
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_rows: str | Path,
    out_records: list[str],
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """A-T4: bits per byte of every member and of their byte-level mixture on held-out files; one record per
    member and one for the ensemble (whose extra metric bpb_minus_best_member < 0 means it beats both)."""
    from . import ensemble_eval

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    t0 = time.perf_counter()
    result = ensemble_eval.evaluate_ensemble(model_dirs, corpus_dir, dict(params), out_csv=out_rows)
    wall_s = time.perf_counter() - t0
    names = [n for n in result["methods"] if n != "ensemble"]  # in model_dirs order
    by_method = dict(zip(names, members)) | {"ensemble": "ensemble"}
    by_path = {Path(path).parts[-2]: path for path in out_records}
    best = result["metrics"]["best_member_bpb"]
    for name, metrics in result["methods"].items():
        method = by_method[name]
        metrics = dict(metrics)
        metrics["bpb_minus_best_member"] = metrics["bits_per_byte"] - best
        records.write_record(
            by_path[method],
            _record(
                "ensemble",
                method,
                seed,
                scale,
                metrics,
                wall_s,
                params,
                {"member": name, "n_bytes": result["metrics"]["n_bytes"], "n_docs": result["metrics"]["n_docs"]},
            ),
        )


def convert_smollm2_run(gguf: str | Path, out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """A-T3: SmolLM2-135M-Instruct from the GGUF of its wheel, cached as safetensors (converted once)."""
    from . import smollm2

    runtime.setup_logging(log_path)
    smollm2.convert_gguf(gguf, out_dir)
