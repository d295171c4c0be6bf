"""Workflow entry points of bytelm: one function per rule `bytelm_<step>`, called by
`workflow/scripts/bytelm/<step>.py`.

Each step runs one part of the reproduction of Phan et al., "Exact Byte-Level Probabilities from Tokenized
Language Models for FIM-Tasks and Model Ensembles" (ICLR 2025, arXiv 2410.09303) and writes its outputs and
metrics records atomically. The science modules are imported inside each function, so that a job imports only
what its step uses. Sections in quotes refer to docs/papers/bytelm.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from papersuite.core import io, runtime
from papersuite.core import records as core_records

from .uncertainty import finite_or_none

__all__ = [
    "convert_smollm2",
    "oracle",
    "train_toy",
    "fit_toy",
    "score_toy",
    "corpus",
    "train_code",
    "evaluate_ensemble",
    "midtoken",
    "fim",
    "fim_table",
    "table",
]

log = logging.getLogger("papersuite.bytelm.steps")

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
    return core_records.make_record(
        paper="bytelm",
        experiment=experiment,
        method=method,
        seed=int(seed),
        scale=scale,
        metrics={k: finite_or_none(v) for k, v in metrics.items()},
        wall_s=float(wall_s),
        device="cpu",
        config=config,
        extra=dict(extra or {}),
    )


def _run_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's settings for one run: without ``seeds`` (the workflow's list of runs, not a setting)."""
    return {k: v for k, v in params.items() if k != "seeds"}


def convert_smollm2(gguf: str | Path, out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """SmolLM2-135M-Instruct from the GGUF of its wheel, cached as safetensors (converted once): the model of the
    tiny mid-token completion (bytelm.md "Mid-token completion"; the paper's FIM use case)."""
    from . import smollm2

    runtime.setup_logging(log_path)
    smollm2.convert_gguf(gguf, out_dir)


def _oracle_metrics(rows: Any, method: str, prompt_err: float) -> dict[str, float]:
    """max and mean |P − P_true| of one method over every (prompt, next symbol), and its structural-zero rate."""
    err = (rows[method] - rows["true"]).abs()
    metrics = {
        "abs_err_max": float(err.max()),
        "abs_err_mean": float(err.mean()),
        "zero_frac": float(((rows["true"] >= 0.05) & (rows[method] <= 0.05)).mean()),
        # exact: the token LM is the source's exact distribution and every (prompt, symbol) is enumerated, so
        # no sampling or training noise enters (bytelm.md "Noise and verdicts")
        "abs_err_max_se": 0.0,
        "abs_err_mean_se": 0.0,
    }
    if method == "byte_level":
        metrics["prompt_prob_err_max"] = prompt_err
    return metrics


def oracle(
    params: Mapping[str, Any],
    scale: str,
    out_table: str | Path,
    out_records: list[str],
    log_path: str | Path | None = None,
) -> None:
    """The paper's tokenization bias and its removal by the Byte-Token Representation Lemma, under an exact token
    LM (bytelm.md "Oracle"): naive, token-healing and byte-level next-byte probabilities of a Markov source beside
    the truth, for an MPE and a BPE tokenizer; one record per (tokenizer, method) with the max and mean
    |P − P_true| over every (prompt, next symbol)."""
    from . import oracle as oracle_mod

    runtime.setup_logging(log_path)
    p = dict(params)
    t0 = time.perf_counter()
    chain = {"two_state": oracle_mod.two_state_chain, "three_state": oracle_mod.three_state_chain}[p["chain"]](
        p["length"]
    )
    tokenizers = {
        "mpe": oracle_mod.mpe_tokenizer(),
        "bpe": oracle_mod.train_bpe_tokenizer(chain, p["bpe_vocab_size"], p["bpe_docs"], p["seed"]),
    }
    table = oracle_mod.bias_table(chain, tokenizers, max_prompt_len=p["max_prompt_len"])
    wall_s = time.perf_counter() - t0
    io.write_csv(out_table, table)
    by_path = {Path(path).parts[-3:-1]: path for path in out_records}  # (experiment, method) -> path
    for name in tokenizers:
        rows = table[table["tokenizer"] == name]
        prompt_err = float((rows["p_prompt_cover"] - rows["p_prompt_true"]).abs().max())
        for method in METHODS:
            metrics = _oracle_metrics(rows, method, prompt_err)
            experiment = f"oracle_{name}"
            core_records.write_record(
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


def fit_toy(
    params: Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """The first half of rule `bytelm_train_toy`: train the tiny GPT-2 on tokenized Markov samples, resumable (the
    paper's Markov-chain experiment; bytelm.md "Learned toy")."""
    from . import toy

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    toy.train_toy(_run_params(params), seed, out_dir, ckpt_dir=ckpt_dir)


def score_toy(
    model_dir: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_table: str | Path,
    out_records: Mapping[str, str | Path],
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """The second half of rule `bytelm_train_toy`, the paper's Markov-chain experiment (bytelm.md "Learned toy"):
    |P̂ − P_true| of naive, token-healing and
    byte-level next-byte estimates over every transition; one record per method (abs_err_mean, and
    ratio_to_naive = its mean error over naive's)."""
    from . import toy

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    params = _run_params(params)
    result = toy.evaluate_toy(model_dir, params, out_csv=out_table)
    m = result["metrics"]
    for method in METHODS:
        metrics = {
            "abs_err_mean": m[f"{method}_abs_err_mean"],
            "abs_err_max": m[f"{method}_abs_err_max"],
            "abs_err_wmean": m[f"{method}_abs_err_wmean"],
            "zero_frac": m[f"{method}_zero_frac"],
            "abs_err_mean_se": m[f"{method}_abs_err_mean_se"],
            "ratio_to_naive": m[f"{method}_abs_err_mean"] / m["naive_abs_err_mean"],
            "ratio_to_naive_se": m[f"{method}_ratio_to_naive_se"],
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
        core_records.write_record(
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


def train_toy(
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_dir: str | Path,
    ckpt_dir: str | Path,
    out_table: str | Path,
    out_records: Mapping[str, str | Path],
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Rule `bytelm_train_toy`: one seed of the learned toy in one job (bytelm.md "Learned toy"): ``fit_toy``, then
    ``score_toy`` on the written model directory, so the job imports torch and transformers once ("Tiny scale: sizes
    and speed")."""
    fit_toy(params, seed, out_dir, ckpt_dir, threads=threads, log_path=log_path)
    score_toy(out_dir, params, seed, scale, out_table, out_records, threads=threads, log_path=log_path)


def corpus(params: Mapping[str, Any], out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """The Python standard library as a code corpus, with a manifest of every file used (sha256): the data of the
    cross-vocabulary ensemble (the paper's model-ensemble use case; bytelm.md "Data")."""
    from . import corpus as corpus_mod

    runtime.setup_logging(log_path)
    params = dict(params)
    seed = int(params.pop("seed", 0))
    with io.atomic_dir(out_dir) as tmp:
        corpus_mod.build_corpus(tmp, params, seed=seed)


def train_code(
    corpus_dir: str | Path,
    member: Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """One ensemble member: a BPE of the member's vocabulary size and a tiny GPT-2 on the corpus, resumable
    (the paper's model ensembles across vocabularies; bytelm.md "Ensemble")."""
    from . import ensemble_eval

    runtime.setup_logging(log_path)
    runtime.choose_device(threads)
    params = {k: v for k, v in member.items() if k != "vocab_size"}
    ensemble_eval.train_code_lm(corpus_dir, int(member["vocab_size"]), params, seed, out_dir, ckpt_dir=ckpt_dir)


def evaluate_ensemble(
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
    """The paper's byte-level ensemble of models with different vocabularies, scored in bits per byte
    (bytelm.md "Ensemble"): every member and their byte-level mixture on held-out files; one record per member
    and one for the ensemble (whose extra metric bpb_minus_best_member < 0 means it beats both)."""
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
        metrics.setdefault("bpb_minus_best_member", metrics["bits_per_byte"] - best)
        core_records.write_record(
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


def midtoken(
    model_dir: str | Path,
    tasks_path: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_rows: str | Path,
    out_records: Mapping[str, str | Path],
    threads: int | None = None,
    log_path: str | Path | None = None,
) -> None:
    """HumanEval solution lines cut mid-token, completed by naive, token-healing and byte-level decoding: a
    left-to-right analogue of the paper's FIM experiments (bytelm.md "Mid-token completion")."""
    from . import midtoken as midtoken_mod

    midtoken_mod.run_midtoken(
        model_dir=model_dir,
        tasks_path=tasks_path,
        params=params,
        seed=seed,
        scale=scale,
        out_records=out_records,
        out_rows=out_rows,
        threads=threads,
        log_path=log_path,
    )


def fim(
    model_dir: str | Path,
    tasks_path: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str,
    out_records: Mapping[str, str | Path],
    out_rows: str | Path,
    threads: int | None = None,
    log_path: str | Path | None = None,
) -> None:
    """The paper's FIM experiments: HumanEval infilling by naive, token-healing and byte-level decoding, pass@1
    (full scale only; bytelm.md "FIM benchmark")."""
    from . import fim as fim_mod

    fim_mod.run_fim(
        model_dir=model_dir,
        tasks_path=tasks_path,
        params=params,
        seed=seed,
        scale=scale,
        out_records=out_records,
        out_rows=out_rows,
        threads=threads,
        log_path=log_path,
    )


def fim_table(
    records: list, scale: str, out_csv: str | Path, out_md: str | Path, log_path: str | Path | None = None
) -> None:
    """The FIM table (method × metric, mean over seeds) from the bytelm_fim records: our counterpart of the paper's
    FIM results table, whose cells were not retrieved (bytelm.md "FIM benchmark", "Unverified")."""
    from . import report

    report.build_fim_table(records=records, scale=scale, out_csv=out_csv, out_md=out_md, log_path=log_path)


def table(
    records: list,
    oracle_table: str | Path,
    toy_tables: list,
    references: Any,
    scale: str,
    tables_dir: str | Path,
    figures_dir: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """The tokenization-bias, learned-toy, mid-token and ensemble tables beside the paper's claims (its abstract:
    exact recovery, the FIM gain, the ensemble gain), and the learned-toy figure (bytelm.md "Claims")."""
    from . import report

    report.build_report(
        records=records,
        oracle_table=oracle_table,
        toy_tables=toy_tables,
        references=references,
        scale=scale,
        tables_dir=tables_dir,
        figures_dir=figures_dir,
        log_path=log_path,
    )
