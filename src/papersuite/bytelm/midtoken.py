"""Mid-token line completion on HumanEval with SmolLM2: a left-to-right analogue of the paper's FIM experiments
(docs/papers/bytelm.md "Mid-token completion", "FIM").

Each task's canonical solution is cut inside a line (`humaneval.midtoken_tasks`); the model sees the task
prompt and the solution up to the cut and completes the line greedily (stop at a newline, a byte cap).
Three ways to condition on a prompt that ends mid-token:

- naive: encode the prompt, decode tokens greedily (the tokenization-bias baseline, bytelm.md "Tokenization bias");
- token_healing: back off the last prompt token and constrain the first generated one (bytelm.md "Token healing");
- byte_level: the exact byte-level distribution from cover encodings, greedy byte by byte (the paper's method).

The prompt's stable prefix is prefilled once per task and its keys and values are shared by the three methods
(`HFTokenLM.prefill`), so the per-method numbers are generation costs. Each method runs batched across all cuts
(`complete_batch`; bytelm.md "Batched decoding"): one forward pass per step evaluates the next-token queries of
every cut (its flush covers for byte-level, its greedy prefix for the token methods).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core import io, noise, records, runtime
from papersuite.core.progress import progress

from . import humaneval as he
from .tokenizer import EOS
from .uncertainty import finite_or_none, paired_pass_difference

__all__ = [
    "DEFAULT_PARAMS",
    "METHODS",
    "SUMMARY_METRICS",
    "CompletionSession",
    "add_differences",
    "check_methods",
    "complete",
    "complete_batch",
    "evaluate_midtoken",
    "greedy_byte_level",
    "load_session",
    "run_midtoken",
    "set_matmul_precision",
    "summarize",
    "write_results",
]

log = logging.getLogger("papersuite.bytelm.midtoken")

METHODS = ("naive", "token_healing", "byte_level")

DEFAULT_PARAMS: dict[str, Any] = {
    "n_tasks": 32,  # HumanEval tasks sampled (seeded)
    "min_chars": 8,  # a cut line has at least this many non-space characters
    "max_bytes": 48,  # completion cap in bytes (raised to target length + slack for long lines)
    "slack_bytes": 8,  # bytes allowed past a long target, so no method is cut off before its newline
    "timeout": 3.0,  # seconds per test run
    "byte_mode": "raw",  # ByteLM mode for byte_level: "raw" (exact lemma ratio) or "masked"
    "check_mass": 1.0,  # validity-check only the top next tokens holding this much mass (1.0: all, exact)
    "matmul_precision": "ieee",  # float32 matmuls on the CPU: ieee | bf16 (oneDNN bf16 mode, see set_matmul_precision)
    "context_token": "<|endoftext|>",  # the leading context token SmolLM2 sees (document separator)
    "eos_token": "<|endoftext|>",  # the token that ends a document (byte-level EOS)
    "methods": list(METHODS),
    "batch": 32,  # cuts decoded together (each method, lock-step: one forward pass per step for all of them)
}

NEWLINE = 0x0A


def _stop_at_newline(out: bytes) -> bool:
    return b"\n" in out


class CompletionSession:
    """A causal LM (SmolLM2 at tiny, a hub code LM at full) with its byte tokenizer and one KV-cached token LM,
    shared by every method and task."""

    def __init__(self, model: Any, hf_tokenizer: Any, params: Mapping[str, Any]):
        from .lm import HFTokenLM
        from .tokenizer import ByteTokenizer

        self.model = model
        self.hf_tokenizer = hf_tokenizer
        self.tok = ByteTokenizer.from_hf(hf_tokenizer, eos_token=params["eos_token"])
        bos_id = hf_tokenizer.get_vocab().get(params["context_token"])
        if bos_id is None:
            raise ValueError(f"midtoken.context_token: the tokenizer has no token {params['context_token']!r}")
        self.lm = HFTokenLM(model, bos_id)
        self.byte_mode = params["byte_mode"]
        self.check_mass = float(params["check_mass"])

    def byte_lm(self, mode: str | None = None, lm: Any = None):
        """A ByteLM over this session's token LM (or `lm`, e.g. a CountedLM view of it)."""
        from .byte_lm import ByteLM

        return ByteLM(lm or self.lm, self.tok, mode=mode or self.byte_mode, check_mass=self.check_mass)


def load_session(
    model_dir: str | Path, params: Mapping[str, Any] | None = None, device: Any = "cpu"
) -> CompletionSession:
    """Load the model of the mid-token completion: the converted SmolLM2 (smollm2.load_model, float32 CPU) or a hub
    snapshot (bfloat16 on CUDA), as a CompletionSession."""
    from .lm import load_causal_lm
    from .smollm2 import MANIFEST, load_model

    params = {**DEFAULT_PARAMS, **(params or {})}
    if (Path(model_dir) / MANIFEST).is_file():
        model, hf_tokenizer = load_model(model_dir)
    else:
        model, hf_tokenizer = load_causal_lm(model_dir, "auto", device)
    return CompletionSession(model, hf_tokenizer, params)


def set_matmul_precision(precision: str) -> None:
    """How the CPU computes float32 matmuls: "ieee" (exact float32) or "bf16" (oneDNN's bf16 arithmetic mode on
    CPUs with bf16 units: on SmolLM2 log-probs move by at most about 1e-4 and every tiny completion is unchanged,
    bytelm.md "Tiny scale: sizes and speed"). GPUs are unaffected."""
    import torch

    if precision not in ("ieee", "bf16"):
        raise ValueError(f"matmul_precision must be 'ieee' or 'bf16', got {precision!r}")
    torch.backends.mkldnn.matmul.fp32_precision = precision


def greedy_byte_level(
    byte_lm: Any, prompt: bytes, max_bytes: int, stop: Callable[[bytes], bool] = _stop_at_newline
) -> tuple[bytes, int]:
    """Greedy decoding from the exact next-byte distribution (bytelm.md "Next-byte recursion"); returns
    (bytes, model calls spent on the prompt's covers). Ends at EOS, when `stop(out)` or at `max_bytes`."""
    lm = byte_lm.lm
    before = lm.calls
    state = byte_lm.prompt_state(prompt)
    prompt_calls = lm.calls - before
    out = bytearray()
    while len(out) < max_bytes:
        dist = byte_lm.next_byte_distribution(state)  # (257,)
        b = int(np.argmax(dist))
        if b == EOS:
            break
        out.append(b)
        if stop(bytes(out)) or len(out) == max_bytes:
            break
        state = byte_lm.advance(state, b)
    return bytes(out), prompt_calls


def complete(session: CompletionSession, method: str, prompt: bytes, max_bytes: int) -> dict:
    """Greedy completion of `prompt` by one method up to a newline: bytes, model calls, wall time."""
    from .healing import generate_naive, generate_token_healing

    lm = session.lm
    session.lm.forget_results()
    calls0, t0 = lm.calls, time.perf_counter()
    prompt_calls = 0
    if method == "naive":
        out = generate_naive(lm, session.tok, prompt, max_bytes, stop=_stop_at_newline)
    elif method == "token_healing":
        out = generate_token_healing(lm, session.tok, prompt, max_bytes, stop=_stop_at_newline)
    elif method == "byte_level":
        out, prompt_calls = greedy_byte_level(session.byte_lm(), prompt, max_bytes)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    wall = time.perf_counter() - t0
    line = out.split(b"\n", 1)[0][:max_bytes]
    return {
        "completion": line,
        "calls": lm.calls - calls0,
        "prompt_calls": prompt_calls,
        "wall_s": wall,
        "n_bytes": len(line),
    }


def complete_batch(
    session: CompletionSession, methods: Sequence[str], prompts: Sequence[bytes], caps: Sequence[int]
) -> dict[str, list[dict]]:
    """`complete` for many prompts and methods at once, in lock-step (run_methods): per method and prompt the
    completed line, model evaluations, wall time and bytes."""
    from .batched import run_methods

    session.lm.forget_results()
    done = run_methods(
        session.lm, session.tok, lambda view: session.byte_lm(lm=view), methods, prompts, caps, _stop_at_newline
    )
    out: dict[str, list[dict]] = {}
    for method, rows in done.items():
        out[method] = []
        for r, cap in zip(rows, caps):
            line = r["data"].split(b"\n", 1)[0][:cap]
            out[method].append(
                {
                    "completion": line,
                    "calls": r["calls"],
                    "prompt_calls": r["prompt_calls"],
                    "wall_s": r["wall_s"],
                    "n_bytes": len(line),
                }
            )
    return out


def _prefill(session: CompletionSession, prompt: bytes) -> tuple[float, int]:
    """Run the prompt up to its stable boundary through the model once and keep its keys and values (shared by
    all methods: every query of the prompt extends it)."""
    boundary = session.tok.stable_boundary(prompt)
    ids = session.tok.encode(prompt[:boundary])
    t0 = time.perf_counter()
    session.lm.prefill(ids)
    return time.perf_counter() - t0, len(ids)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


SUMMARY_METRICS = (
    "pass_at_1",
    "pass_at_1_se",
    "exact_match",
    "edit_similarity",
    "pass_at_1_mid_token",
    "calls_per_task",
    "calls_per_byte",
    "gen_calls_per_byte",
    "bytes_per_s",
)  # the per-method means of summarize() that a record carries as metrics (mid-token completion and FIM)


def check_methods(methods: Sequence[str]) -> list[str]:
    """The methods to run, as a list; ValueError naming one that is not in METHODS."""
    methods = list(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; expected a subset of {METHODS}")
    return methods


def _complete_cuts(
    session: CompletionSession,
    cuts: Sequence[Any],
    by_id: Mapping[str, dict],
    methods: Sequence[str],
    params: Mapping[str, Any],
    tests: he.CachedTests,
) -> list[dict]:
    """Complete every cut with every method (each method batched across all cuts) and run its tests: one row per
    (cut, method), in cut order."""
    prompts = [cut.prefix.encode("utf-8") for cut in cuts]
    caps = [max(int(params["max_bytes"]), len(cut.target.encode("utf-8")) + int(params["slack_bytes"])) for cut in cuts]
    batch = int(params["batch"])
    prefills: list[tuple[float, int]] = []
    done: dict[str, list[dict]] = {m: [] for m in methods}
    for lo in range(0, len(cuts), batch):  # a batch's prompts stay cached while it decodes
        t0 = time.perf_counter()
        prefills += [_prefill(session, prompt) for prompt in prompts[lo : lo + batch]]
        for method, rows in complete_batch(session, methods, prompts[lo : lo + batch], caps[lo : lo + batch]).items():
            done[method] += rows
        log.info(
            "cuts %d-%d completed by %s in %.1f s", lo, lo + batch - 1, ", ".join(methods), time.perf_counter() - t0
        )
    rows: list[dict] = []
    for k, cut in enumerate(progress(cuts, desc="mid-token tests", logger=log)):
        task = by_id[cut.task_id]
        prefill_s, prefill_tokens = prefills[k]
        for method in methods:
            res = done[method][k]
            text = _decode(res["completion"])
            program = he.splice(task, cut, text)
            rows.append(
                {
                    "task_id": cut.task_id,
                    "line_index": cut.line_index,
                    "col": cut.col,
                    "mid_token": cut.mid_token,
                    "line_prefix": cut.line_prefix,
                    "target": cut.target,
                    "method": method,
                    "completion": text,
                    "passed": tests.passed(program, task),
                    "exact_match": he.exact_line_match(cut, text),
                    "edit_similarity": he.edit_similarity(cut, text),
                    "calls": res["calls"],
                    "prompt_calls": res["prompt_calls"],
                    "n_bytes": res["n_bytes"],
                    "cap": caps[k],
                    "wall_s": res["wall_s"],
                    "prefill_s": prefill_s,
                    "prefill_tokens": prefill_tokens,
                }
            )
    return rows


def _midtoken_records(
    rows: Sequence[Mapping[str, Any]],
    methods: Sequence[str],
    seed: int,
    scale: str,
    device: Any,
    params: Mapping[str, Any],
    run_extra: Mapping[str, Any],
) -> dict[str, dict]:
    """One metrics record per method from the rows; `run_extra` holds the extra fields shared by every method."""
    summary = summarize(rows)
    recs = {}
    for method in methods:
        s = summary[method]
        recs[method] = records.make_record(
            paper="bytelm",
            experiment="midtoken",
            method=method,
            seed=seed,
            scale=scale,
            metrics={k: s[k] for k in SUMMARY_METRICS},
            wall_s=s["wall_s"],
            device=device,
            config=params,
            extra={
                "n_tasks": s["n_tasks"],
                "n_mid_token": s["n_mid_token"],
                "mean_bytes": s["mean_bytes"],
                "prefill_s_mean": s["prefill_s_mean"],
                **run_extra,
            },
        )
    return recs


def evaluate_midtoken(
    model_dir: str | Path,
    tasks_path: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str = "tiny",
    threads: int | None = None,
    session: CompletionSession | None = None,
) -> tuple[dict[str, dict], list[dict]]:
    """Run the mid-token completion (docs/papers/bytelm.md "Mid-token completion"): sample mid-line cuts,
    complete them with every method, run the tests.

    Returns ({method: metrics record}, per-(task, method) rows). `session` reuses an already loaded model.
    """
    params = {**DEFAULT_PARAMS, **params}
    methods = check_methods(params["methods"])
    start = time.perf_counter()
    device = runtime.choose_device(threads)
    set_matmul_precision(params["matmul_precision"])
    load_t0 = time.perf_counter()
    session = session or load_session(model_dir, params, device)
    load_s = time.perf_counter() - load_t0
    tasks = he.load_humaneval(tasks_path)
    by_id = {t["task_id"]: t for t in tasks}
    cuts = he.midtoken_tasks(tasks, int(params["n_tasks"]), seed, int(params["min_chars"]), session.hf_tokenizer)
    log.info(
        "mid-token completion: %d cuts (%d mid-token) from %s, methods %s, byte mode %s, model loaded in %.1f s",
        len(cuts),
        sum(bool(c.mid_token) for c in cuts),
        tasks_path,
        methods,
        session.byte_mode,
        load_s,
    )
    tests = he.CachedTests(params["timeout"])
    rows = _complete_cuts(session, cuts, by_id, methods, params, tests)
    total_s = time.perf_counter() - start
    log.info("mid-token completion done in %.1f s (model load %.1f s, tests %.1f s)", total_s, load_s, tests.seconds)
    run_extra = {
        "total_wall_s": total_s,
        "model_load_s": load_s,
        "test_s": tests.seconds,
        "byte_mode": session.byte_mode,
        "check_mass": session.check_mass,
        "model_dir": str(model_dir),
    }
    recs = _midtoken_records(rows, methods, seed, scale, device, params, run_extra)
    add_differences(recs, rows)
    return recs, rows


def add_differences(recs: Mapping[str, dict], rows: Sequence[Mapping[str, Any]]) -> None:
    """The claims compare methods on the same tasks: the byte-level record gets pass_at_1_minus_<other> for every
    other method evaluated (mid-token completion and FIM), with the standard error of the mean per-task paired
    difference (``_se``; bytelm.md "Noise and verdicts")."""
    if "byte_level" not in recs:
        return
    metrics = recs["byte_level"]["metrics"]
    for other in ("naive", "token_healing"):
        if other in recs:
            difference, se = paired_pass_difference(rows, "byte_level", other)
            metrics[f"pass_at_1_minus_{other}"] = difference
            metrics[f"pass_at_1_minus_{other}_se"] = finite_or_none(se)


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
    """Per-method means over tasks: pass@1, exact match, edit similarity, calls, calls/byte, bytes/s."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        mid = [r for r in rs if r["mid_token"]]
        n_bytes = sum(r["n_bytes"] for r in rs)
        calls = sum(r["calls"] for r in rs)
        gen_calls = calls - sum(r["prompt_calls"] for r in rs)
        wall = sum(r["wall_s"] for r in rs)
        out[method] = {
            "n_tasks": len(rs),
            "n_mid_token": len(mid),
            "pass_at_1": float(np.mean([r["passed"] for r in rs])),
            "pass_at_1_se": noise.rate_se(sum(bool(r["passed"]) for r in rs), len(rs))[1],
            "pass_at_1_mid_token": float(np.mean([r["passed"] for r in mid])) if mid else None,
            "exact_match": float(np.mean([r["exact_match"] for r in rs])),
            "edit_similarity": float(np.mean([r["edit_similarity"] for r in rs])),
            "calls_per_task": calls / len(rs),
            "calls_per_byte": calls / max(n_bytes, 1),
            "gen_calls_per_byte": gen_calls / max(n_bytes, 1),
            "bytes_per_s": n_bytes / wall if wall > 0 else None,
            "mean_bytes": n_bytes / len(rs),
            "wall_s": wall,
            "prefill_s_mean": float(np.mean([r["prefill_s"] for r in rs])),
        }
    return out


def run_midtoken(
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
    """Run of rule bytelm_midtoken (via steps.midtoken): evaluate the mid-token completion and write one record per
    method and the per-task rows (CSV)."""
    runtime.setup_logging(log_path)
    recs, rows = evaluate_midtoken(model_dir, tasks_path, params, seed, scale=scale, threads=threads)
    write_results(recs, rows, out_records, out_rows)
    log.info("mid-token pass@1: %s", {m: round(r["metrics"]["pass_at_1"], 3) for m, r in recs.items()})


def write_results(
    recs: Mapping[str, dict],
    rows: Sequence[Mapping[str, Any]],
    out_records: Mapping[str, str | Path],
    out_rows: str | Path,
) -> None:
    """One record per method to out_records[method] and the per-(task, method) rows as CSV (mid-token completion
    and FIM)."""
    import pandas as pd

    missing = set(out_records) - set(recs)
    if missing:
        raise ValueError(f"no results for methods {sorted(missing)}; ran {sorted(recs)}")
    for method, path in out_records.items():
        records.write_record(path, recs[method])
    io.write_csv(out_rows, pd.DataFrame(list(rows)))
