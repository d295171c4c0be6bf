"""AdvPrompterOpt (paper Sec. 3.3, Alg. 2): a gradient-free stochastic beam search over suffix tokens, candidates
sampled from the prompter, scored by base log-probability minus lambda times the increase of the target loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from papersuite.advprompter.losses import mask_disallowed, readability_logprobs, repetition_penalty


class SuffixProblem(Protocol):
    """One (instruction, target) pair seen by the search; suffixes are prompter token-id lists."""

    allowed: object  # bool tensor (V,): tokens the prompter may emit (ASCII, not special)

    def next_logits(self, suffixes: list[list[int]]):
        """Next-token logits after x + q for each suffix: prompter (LoRA) and base, each (B, V)."""

    def target_loss(self, suffixes: list[list[int]]):
        """The reweighted teacher-forced target loss L(x, q, y) for each suffix: (B,)."""


@dataclass(frozen=True)
class SearchConfig:
    """The original's conf/train.yaml defaults (max_new_tokens 30, 4 beams, top_k 48, lambda 100, temperatures 0.6)."""

    max_new_tokens: int = 30
    num_beams: int = 4
    top_k: int = 48
    lambda_val: float = 100.0
    temperature: float = 0.6
    repetition_penalty: float = 1.2
    sample_candidates: bool = True
    sample_beams: bool = True


@dataclass
class SearchResult:
    """The surviving beam: its ids, score S = sum log p~ - lambda (L(q) - L_0), and the terms."""

    suffix: list[int]
    score: float
    logprob: float
    loss: float
    loss0: float


def keep_best_then_sample(values, n: int, temperature: float, sample: bool, generator=None):
    """The argmax, then n-1 more without replacement from softmax(values/T) (Gumbel top-k), or top-n: (N,) -> (n,)."""
    import torch

    if not sample:
        return values.topk(n).indices
    u = torch.rand(values.shape, generator=generator).clamp_min(1e-20).to(values.device)  # a CPU generator's draws
    keys = values / temperature - torch.log(-torch.log(u))  # Gumbel-top-k = sampling without replacement
    keys[values.argmax()] = float("inf")
    return keys.topk(n).indices


def candidate_count(top_k: int, n_beams_in: int, n_allowed: int) -> int:
    """top_k / B_in candidates per beam, capped at the allowed vocabulary (the original crashes past it)."""
    return max(1, min(top_k // n_beams_in, n_allowed))


def advprompter_opt(problem: SuffixProblem, cfg: SearchConfig, generator=None) -> SearchResult:
    """Alg. 2: T steps of candidate sampling, scoring S + log p~(c) - lambda (L_c - L_parent), beam selection."""
    import torch

    with torch.no_grad():
        loss0 = float(problem.target_loss([[]])[0])
        n_allowed = int(problem.allowed.sum())
        beams: list[list[int]] = [[]]
        scores, logps, losses = torch.zeros(1), torch.zeros(1), torch.tensor([loss0])  # (B_in,)
        for t in range(cfg.max_new_tokens):
            prompter_logits, base_logits = problem.next_logits(beams)  # (B_in, V) each
            device = prompter_logits.device
            scores, logps, losses = scores.to(device), logps.to(device), losses.to(device)
            pen = mask_disallowed(repetition_penalty(prompter_logits, beams, cfg.repetition_penalty), problem.allowed)
            base_logp = readability_logprobs(base_logits, beams, problem.allowed, cfg.repetition_penalty)
            k = candidate_count(cfg.top_k, len(beams), n_allowed)
            cand = torch.stack(
                [keep_best_then_sample(row, k, cfg.temperature, cfg.sample_candidates, generator) for row in pen]
            )  # (B_in, k)
            seqs = [beams[i] + [int(c)] for i in range(len(beams)) for c in cand[i]]
            cand_loss = problem.target_loss(seqs).float().to(device)  # (B_in * k,)
            parent = torch.arange(len(beams), device=device).repeat_interleave(k)
            lp = base_logp.gather(1, cand).reshape(-1)  # (B_in * k,)
            new_scores = scores[parent] + lp - cfg.lambda_val * (cand_loss - losses[parent])
            n_out = 1 if t == cfg.max_new_tokens - 1 else min(cfg.num_beams, len(seqs))
            keep = keep_best_then_sample(new_scores, n_out, cfg.temperature, cfg.sample_beams, generator)
            beams = [seqs[int(j)] for j in keep]
            scores, logps, losses = new_scores[keep], (logps[parent] + lp)[keep], cand_loss[keep]
    return SearchResult(beams[0], float(scores[0]), float(logps[0]), float(losses[0]), loss0)
