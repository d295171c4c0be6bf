"""Evaluation (paper Sec. 4, the original's eval.yaml): sampled suffixes per instruction, the target's greedy
response judged by refusal keywords, keyword ASR@1 and ASR@k, suffix perplexity under the base prompter, time per
generated suffix."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from papersuite.advprompter.lms import greedy_generate
from papersuite.advprompter.problem import base_model
from papersuite.advprompter.prompter import sample_suffixes, suffix_nll
from papersuite.advprompter.spec import full_instruct
from papersuite.core.noise import mean_se, paired_difference_se, rate_se, ratio_se


def hit_rate_at_k(success: np.ndarray, k: int) -> float:
    """ASR@k: fraction of instructions with at least one success among their first k trials: (N, trials) -> float."""
    return float(np.asarray(success, dtype=bool)[:, :k].any(axis=1).mean())


def evaluate_prompter(prompter, ptok, target, ttok, spec, rows, lengths, trials, response_tokens, seed) -> dict:
    """Sample trials x lengths suffixes per instruction (temperature 1, top-p 0.9), judge the target's greedy
    responses with spec's keywords, and measure (ASR@k: k = trials x lengths)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    instructs = [r["instruct"] for r in rows]
    success, ppl, texts, call_seconds = [], [], [], []
    for length in lengths:
        for _ in range(trials):
            start = time.perf_counter()
            ids = sample_suffixes(prompter, ptok, instructs, length, generator)
            call_seconds.append((time.perf_counter() - start) / len(instructs))
            suffixes = [ptok.decode(q) for q in ids]
            prompts = [spec.prompt_ids(ttok, full_instruct(ptok, x, q)) for x, q in zip(instructs, ids)]
            success.append([spec.is_jailbroken(r) for r in greedy_generate(target, ttok, prompts, response_tokens)])
            with torch.no_grad(), base_model(prompter):
                ppl.extend(torch.exp(suffix_nll(prompter, ptok, instructs, ids)).tolist())
            texts.extend(suffixes)
    success = np.array(success).T  # (N, lengths * trials), trial-major within each length as in the original
    n, n_trials = success.shape
    asr1, asr1_se = rate_se(int(success[:, 0].sum()), n)
    asrk = hit_rate_at_k(success, n_trials)
    ppl_mean, ppl_se = mean_se(ppl)
    trigger = {} if spec.trigger is None else {"trigger_fraction": float(np.mean([spec.trigger in s for s in texts]))}
    return {
        "k": n_trials, "asr_at_1": asr1, "asr_at_1_se": asr1_se, "asr_at_k": asrk,
        "asr_at_k_se": rate_se(int(success.any(axis=1).sum()), n)[1],
        "asr_curve": [hit_rate_at_k(success, k) for k in range(1, n_trials + 1)],
        "perplexity": ppl_mean, "perplexity_se": ppl_se,
        "seconds_per_suffix": float(np.mean(call_seconds)), "seconds_per_suffix_se": mean_se(call_seconds)[1],
        "success_first": success[:, 0].astype(float).tolist(),
        "success_any": success.any(axis=1).astype(float).tolist(),
        "examples": texts[:5], **trigger,
    }  # fmt: skip


def split_metrics(split: str, when: str, out: Mapping[str, Any]) -> dict[str, float]:
    """`<split>_<metric>_<when>` (and `_se` after `<when>`) from one evaluation's scalars."""
    metrics = {}
    for key, value in out.items():
        if isinstance(value, float):
            name, se = (key[:-3], "_se") if key.endswith("_se") else (key, "")
            metrics[f"{split}_{name}_{when}{se}"] = value
    return metrics


def training_metrics(before: Mapping[str, dict], after: Mapping[str, dict], search_seconds: list[float]) -> dict:
    """A run's record metrics: every split's evaluation before and after training, the test ASR@k gain paired over
    the same instructions, and the per-instance search time over the trained prompter's time per suffix, each with
    its se (the three claims of docs/papers/advprompter.md)."""
    metrics = {}
    for split in before:
        metrics |= split_metrics(split, "before", before[split]) | split_metrics(split, "after", after[split])
    gain, gain_se = paired_difference_se(after["test"]["success_any"], before["test"]["success_any"])
    search, search_se = mean_se(search_seconds)
    generate, generate_se = after["test"]["seconds_per_suffix"], after["test"]["seconds_per_suffix_se"]
    ratio, ratio_err = ratio_se(search, search_se, generate, generate_se)
    return metrics | {"test_asr_at_k_gain": gain, "test_asr_at_k_gain_se": gain_se, "seconds_per_search": search,
                      "seconds_per_search_se": search_se, "search_over_generation": ratio,
                      "search_over_generation_se": ratio_err}  # fmt: skip
