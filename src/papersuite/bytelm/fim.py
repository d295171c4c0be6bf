"""Fill-in-the-middle on the HumanEval infilling benchmarks with a FIM code LM: the paper's FIM experiments
(docs/papers/bytelm.md "FIM", "FIM benchmark", "Claims"; full scale only: the tiny SmolLM2 has no FIM tokens).

A task (Bavarian et al. 2022) gives a prefix (`prompt`), a `suffix` and the removed middle (`canonical_solution`);
the model writes the middle, and prefix + middle + suffix must pass the task's tests. The FIM prompt follows
CodeLlama's `infilling_prompt_tokens` (facebookresearch/codellama, llama/generation.py):

    PSM: [bos, <PRE>] + encode(prefix) + [<SUF>] + encode_infilling(suffix) + [<MID>]   → middle, then <EOT>
    SPM: [bos, <PRE>, <SUF>] + encode_infilling(suffix) + [<MID>] + encode(prefix)      → middle, then <EOT>

`encode` is SentencePiece with its dummy prefix (a leading "▁", i.e. a space in the byte stream), while
`encode_infilling` drops it. In SPM the prefix and the middle are one jointly tokenized byte stream after a fixed
special-token context, so a prefix cut at an arbitrary character is the mid-token problem of midtoken.py: the byte-level
method conditions on the prefix's bytes and generates the middle byte by byte until <EOT> (the byte-level EOS)
or a byte cap. In PSM the middle starts right after <MID>, at a fixed token boundary (its byte prompt is empty).

Methods (all greedy): naive (decode tokens after encode(prefix)), token_healing (back off the prefix's last token)
and byte_level (exact next-byte distribution, bytelm.md "Method"). Metrics: pass@1 of the spliced program, exact
middle match, edit similarity, model calls per byte and bytes per second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from papersuite.core import records, runtime
from papersuite.core.progress import progress

from . import humaneval as he
from .batched import run_methods
from .fim_layout import FimLayout, fim_byte_tokenizer, fim_layout, fim_prompt, mid_token, reference_prompt_ids
from .midtoken import (
    METHODS,
    SUMMARY_METRICS,
    add_differences,
    check_methods,
    greedy_byte_level,
    summarize,
    write_results,
)
from .tokenizer import ByteTokenizer  # noqa: F401 - re-exported (fim.ByteTokenizer, as before the layout split)

__all__ = [
    "BENCHMARKS",
    "DEFAULT_PARAMS",
    "FimLayout",
    "FimSession",
    "INFILLING_KEYS",
    "METHODS",
    "evaluate_fim",
    "fim_byte_tokenizer",
    "fim_layout",
    "fim_prompt",
    "infill",
    "load_infilling",
    "load_session",
    "middle_edit_similarity",
    "mid_token",
    "reference_prompt_ids",
    "run_fim",
    "splice",
]

log = logging.getLogger("papersuite.bytelm.fim")

INFILLING_KEYS = ("task_id", "entry_point", "prompt", "suffix", "canonical_solution", "test")
# The four benchmarks of human-eval-infilling (Bavarian et al. 2022; task counts from the HF dataset card).
BENCHMARKS = {
    "single_line": "HumanEval-SingleLineInfilling.jsonl.gz",  # 1033 tasks
    "multi_line": "HumanEval-MultiLineInfilling.jsonl.gz",  # 5815 tasks
    "random_span": "HumanEval-RandomSpanInfilling.jsonl.gz",  # 1640 tasks
    "random_span_light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",  # 164 tasks
}

DEFAULT_PARAMS: dict[str, Any] = {
    "benchmark": "random_span",  # which of BENCHMARKS the tasks file holds (recorded only)
    "mode": "spm",  # "spm" (prefix and middle tokenized jointly: the mid-token case) or "psm"
    # CodeLlama's FIM special tokens as named in its HF tokenizer config (ids 32007..32010 in CodeLlamaTokenizer);
    # taken from the CodeLlama tokenizer config, not verified offline here.
    "bos_token": "<s>",
    "prefix_token": "\u2581<PRE>",
    "suffix_token": "\u2581<SUF>",
    "middle_token": "\u2581<MID>",
    "eot_token": "\u2581<EOT>",
    "dummy_prefix": "auto",  # encode(prefix) starts with SentencePiece's "▁": auto-detected from the tokenizer
    "n_tasks": 0,  # 0: every task; else a seeded sample of this many
    "max_bytes": 256,  # cap on the generated middle, in bytes
    "timeout": 5.0,  # seconds per test run
    "byte_mode": "raw",  # ByteLM mode: "raw" (exact lemma ratio) or "masked"
    "check_mass": 1.0,  # validity-check only the likeliest next tokens holding this mass (1.0: exact)
    "dtype": "auto",  # weights: auto (bfloat16 on CUDA, float32 on CPU) | float32 | bfloat16 | float16
    "methods": list(METHODS),
    "batch": 16,  # tasks decoded together (all methods, lock-step: one forward pass per step for all of them)
}


def _never(out: bytes) -> bool:
    """FIM generation ends only at <EOT> or the byte cap (no newline stop, middles span lines)."""
    return False


# -------------------------------------------------------------------- data
def load_infilling(path: str | Path) -> list[dict]:
    """Read HumanEval-infilling tasks from .jsonl or .jsonl.gz; every row needs INFILLING_KEYS (bytelm.md "Data")."""
    return he.load_tasks(path, INFILLING_KEYS, "infilling task")


def splice(task: Mapping[str, Any], middle: str) -> str:
    """The program human-eval-infilling runs: prefix + middle + suffix (its tests are appended by run_tests)."""
    return task["prompt"] + middle + task["suffix"]


def middle_edit_similarity(got: str, want: str) -> float:
    """1 − Levenshtein(got, want) / max(len) over the whole middle (1.0 = exact)."""
    denom = max(len(got), len(want))
    return 1.0 if denom == 0 else 1.0 - he.levenshtein(got, want) / denom


# -------------------------------------------------------------------- model session
class FimSession:
    """A FIM code LM with its byte tokenizer (EOS = <EOT>), prompt layout and one KV-cached token LM."""

    def __init__(self, model: Any, hf_tokenizer: Any, params: Mapping[str, Any]):
        from .lm import HFTokenLM

        p = {**DEFAULT_PARAMS, **params}
        self.model = model
        self.hf_tokenizer = hf_tokenizer
        # the special-token ids give the byte tokenizer, which the dummy-prefix detection compares against
        self.tok = fim_byte_tokenizer(hf_tokenizer, fim_layout(hf_tokenizer, {**p, "dummy_prefix": False}))
        self.layout = fim_layout(hf_tokenizer, p, self.tok)
        self.lm = HFTokenLM(model, None)  # the context is set per task (start_task)
        self.byte_mode = p["byte_mode"]
        self.check_mass = float(p["check_mass"])

    def byte_lm(self, lm: Any = None):
        """A ByteLM over this session's token LM (its context is the current task's FIM context), or over `lm`
        (a view of it with a task's own context, lm.CountedLM)."""
        from .byte_lm import ByteLM

        return ByteLM(lm or self.lm, self.tok, mode=self.byte_mode, check_mass=self.check_mass)

    def start_task(self, prefix: str, suffix: str) -> bytes:
        """Set the task's FIM context on the token LM; returns the byte prompt."""
        ctx, prompt = fim_prompt(self.layout, self.tok, prefix, suffix)
        self.lm.set_context(ctx)
        return prompt


def load_session(model_dir: str | Path, params: Mapping[str, Any], device: Any = "cpu") -> FimSession:
    """Load a hub snapshot (written by the download rule; no network: local files only) as a FimSession."""
    from .lm import load_causal_lm

    p = {**DEFAULT_PARAMS, **params}
    model, tokenizer = load_causal_lm(model_dir, p["dtype"], device)
    return FimSession(model, tokenizer, p)


# -------------------------------------------------------------------- generation
def infill(session: FimSession, method: str, prefix: str, suffix: str, max_bytes: int) -> dict:
    """Greedy middle for one task by one method, ending at <EOT> or `max_bytes`: bytes, calls, wall time."""
    from .healing import generate_naive, generate_token_healing

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    prompt = session.start_task(prefix, suffix)
    lm, tok = session.lm, session.tok
    session.lm.forget_results()
    calls0, t0 = lm.calls, time.perf_counter()
    prompt_calls = 0
    if method == "naive":
        out = generate_naive(lm, tok, prompt, max_bytes)
    elif method == "token_healing":
        out = generate_token_healing(lm, tok, prompt, max_bytes)
    else:
        out, prompt_calls = greedy_byte_level(session.byte_lm(), prompt, max_bytes, stop=_never)
    wall = time.perf_counter() - t0
    out = out[:max_bytes]
    return {
        "middle": out,
        "calls": lm.calls - calls0,
        "prompt_calls": prompt_calls,
        "wall_s": wall,
        "n_bytes": len(out),
        "hit_cap": len(out) >= max_bytes,
    }


def _prefill(session: FimSession, context: list[int], prompt: bytes) -> tuple[float, int]:
    """Run a task's FIM context and its byte prompt up to the stable boundary once, as the shared start of every
    method's queries (`context`: the task's context when the token LM has none of its own, the batched run)."""
    ids = session.tok.encode(prompt[: session.tok.stable_boundary(prompt)])
    t0 = time.perf_counter()
    prefill = getattr(session.lm, "prefill", session.lm.next_token_logprobs)
    prefill(list(context) + ids)
    return time.perf_counter() - t0, len(session.lm.context_ids) + len(context) + len(ids)


def _select(tasks: list[dict], n: int, seed: int) -> list[dict]:
    """Every task (n = 0) or a seeded sample of n, in file order."""
    if n <= 0 or n >= len(tasks):
        return tasks
    keep = np.sort(np.random.default_rng(seed).permutation(len(tasks))[:n])
    return [tasks[int(i)] for i in keep]


def _fim_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULT_PARAMS updated by params; ValueError naming an unknown parameter or method."""
    params = {**DEFAULT_PARAMS, **params}
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown FIM parameter(s) {unknown}; allowed: {sorted(DEFAULT_PARAMS)}")
    check_methods(params["methods"])
    return params


def _infill_tasks(
    session: FimSession, tasks: list[dict], methods: list[str], params: Mapping[str, Any], tests: he.CachedTests
) -> list[dict]:
    """Infill every task with every method and run its tests: one row per (task, method). Tasks are decoded
    `batch` at a time, all methods in lock-step, each task with its own FIM context (midtoken.run_methods)."""
    from .lm import HFTokenLM

    rows: list[dict] = []
    cap, batch = int(params["max_bytes"]), int(params["batch"])
    # an HFTokenLM answers whole sequences, so tasks with different contexts share its forward passes; any other
    # token LM (a scripted test model) runs the tasks one by one, its context set per task
    shared = isinstance(session.lm, HFTokenLM)
    if shared:
        session.lm.set_context(None)  # every query carries its task's context (lm.CountedLM)
    else:
        batch = 1
    for lo in progress(range(0, len(tasks), batch), desc=f"FIM {params['benchmark']} (batches)", logger=log):
        chunk = tasks[lo : lo + batch]
        laid = [fim_prompt(session.layout, session.tok, t["prompt"], t["suffix"]) for t in chunk]
        contexts, prompts = [c for c, _ in laid], [p for _, p in laid]
        if not shared:
            session.lm.set_context(contexts[0])
        prefills = [_prefill(session, c if shared else [], p) for c, p in laid]
        session.lm.forget_results()
        caps = [cap] * len(chunk)
        done = run_methods(
            session.lm, session.tok, session.byte_lm, methods, prompts, caps, None, contexts if shared else None
        )
        for k, task in enumerate(chunk):
            target = task["canonical_solution"]
            is_mid = mid_token(session.tok, prompts[k], target.encode("utf-8"))
            for method in methods:
                r = done[method][k]
                out = r["data"][:cap]
                middle = out.decode("utf-8", errors="replace")
                program = splice(task, middle)
                rows.append(
                    {
                        "task_id": task["task_id"],
                        "method": method,
                        "mid_token": is_mid,
                        "target": target,
                        "completion": middle,
                        "passed": tests.passed(program, task),
                        "exact_match": middle == target,
                        "edit_similarity": middle_edit_similarity(middle, target),
                        "hit_cap": len(out) >= cap,
                        "calls": r["calls"],
                        "prompt_calls": r["prompt_calls"],
                        "n_bytes": len(out),
                        "cap": cap,
                        "wall_s": r["wall_s"],
                        "prefill_s": prefills[k][0],
                        "prefill_tokens": prefills[k][1],
                    }
                )
    return rows


def _fim_records(
    rows: list[dict],
    methods: list[str],
    seed: int,
    scale: str,
    device: Any,
    params: Mapping[str, Any],
    mode: str,
    run_extra: Mapping[str, Any],
) -> dict[str, dict]:
    """One metrics record per method from the rows (the mid-token metrics plus cap_rate and n_tasks);
    `run_extra` holds the run's extra fields shared by every method, after the per-method ones."""
    summary = summarize(rows)
    recs = {}
    for method in methods:
        s = summary[method]
        rs = [r for r in rows if r["method"] == method]
        metrics = {k: s[k] for k in SUMMARY_METRICS}
        metrics["cap_rate"] = float(np.mean([r["hit_cap"] for r in rs]))
        metrics["n_tasks"] = s["n_tasks"]
        recs[method] = records.make_record(
            paper="bytelm",
            experiment="fim",
            method=method,
            seed=seed,
            scale=scale,
            metrics=metrics,
            wall_s=s["wall_s"],
            device=device,
            config=params,
            extra={
                "benchmark": params["benchmark"],
                "mode": mode,
                "n_mid_token": s["n_mid_token"],
                "mean_bytes": s["mean_bytes"],
                "prefill_s_mean": s["prefill_s_mean"],
                **run_extra,
            },
        )
    return recs


def evaluate_fim(
    model_dir: str | Path,
    tasks_path: str | Path,
    params: Mapping[str, Any],
    seed: int,
    scale: str = "full",
    threads: int | None = None,
    session: FimSession | None = None,
) -> tuple[dict[str, dict], list[dict]]:
    """Infill every selected task with every method and run its tests (docs/papers/bytelm.md "FIM benchmark",
    metric pass@1).

    Returns ({method: metrics record}, per-(task, method) rows); the byte-level record also carries
    pass_at_1_minus_{naive,token_healing} on the same tasks (the claims' metric). `session` reuses a loaded model."""

    params = _fim_params(params)
    methods = list(params["methods"])
    start = time.perf_counter()
    device = runtime.choose_device(threads)
    load_t0 = time.perf_counter()
    session = session or load_session(model_dir, params, device)
    load_s = time.perf_counter() - load_t0
    tasks = _select(load_infilling(tasks_path), int(params["n_tasks"]), seed)
    log.info(
        "FIM %s (%s): %d tasks from %s, methods %s, byte mode %s, lead %r, model loaded in %.1f s",
        params["benchmark"],
        session.layout.mode,
        len(tasks),
        tasks_path,
        methods,
        session.byte_mode,
        session.layout.lead,
        load_s,
    )
    tests = he.CachedTests(params["timeout"])
    rows = _infill_tasks(session, tasks, methods, params, tests)
    total_s = time.perf_counter() - start
    log.info("FIM done in %.1f s (model load %.1f s, tests %.1f s)", total_s, load_s, tests.seconds)
    run_extra = {
        "total_wall_s": total_s,
        "model_load_s": load_s,
        "test_s": tests.seconds,
        "byte_mode": session.byte_mode,
        "check_mass": session.check_mass,
        "model_dir": str(model_dir),
    }
    recs = _fim_records(rows, methods, seed, scale, device, params, session.layout.mode, run_extra)
    add_differences(recs, rows)
    return recs, rows


def run_fim(
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
    """Entry point of the bytelm_fim rule: evaluate FIM and write one record per method and the per-task rows."""
    runtime.setup_logging(log_path)
    recs, rows = evaluate_fim(model_dir, tasks_path, params, seed, scale=scale, threads=threads)
    write_results(recs, rows, out_records, out_rows)
    log.info("FIM pass@1: %s", {m: round(r["metrics"]["pass_at_1"], 3) for m, r in recs.items()})
