"""AdvPrompterOpt (paper Alg. 2): beam search equals brute force on a tiny vocabulary, the greedy step, the candidate
set's contents and counts (capped where the original crashes), and the score identity with real models."""

from __future__ import annotations

import itertools
import zlib

import torch

from papersuite.advprompter import losses, opt, problem
from papersuite.advprompter.prompter import suffix_nll


class ToyProblem:
    """Logits and target losses drawn from a seeded hash of the suffix: any function of the prefix is allowed."""

    def __init__(self, vocab: int, allowed=None):
        self.vocab = vocab
        self.allowed = torch.ones(vocab, dtype=torch.bool) if allowed is None else allowed
        self.calls: list[list[list[int]]] = []

    def _rand(self, salt: int, key: list[int], n: int):
        seed = zlib.crc32(repr((salt, key)).encode())
        return torch.randn(n, generator=torch.Generator().manual_seed(seed))

    def next_logits(self, suffixes):
        return (torch.stack([3 * self._rand(1, s, self.vocab) for s in suffixes]),
                torch.stack([3 * self._rand(2, s, self.vocab) for s in suffixes]))  # fmt: skip

    def target_loss(self, suffixes):
        self.calls.append([list(s) for s in suffixes])
        return torch.stack([self._rand(3, s, 1)[0].abs() for s in suffixes])


def objective(prob, q, lam, penalty=1.2):
    """S(q) = sum_i log p~(q_i | q_<i) - lambda (L(q) - L_0), computed one prefix at a time."""
    logp = 0.0
    for i in range(len(q)):
        _, base = prob.next_logits([q[:i]])
        logp += float(losses.readability_logprobs(base, [q[:i]], prob.allowed, penalty)[0, q[i]])
    return logp - lam * float(prob.target_loss([q])[0] - prob.target_loss([[]])[0])


def test_beam_search_equals_brute_force():
    """V=6, T=3, deterministic, beams and candidates enough to expand every prefix: the argmax over all 216."""
    prob = ToyProblem(6)
    cfg = opt.SearchConfig(max_new_tokens=3, num_beams=36, top_k=216, lambda_val=1.0, sample_candidates=False,
                           sample_beams=False)  # fmt: skip
    res = opt.advprompter_opt(prob, cfg)
    scores = {q: objective(prob, list(q), 1.0) for q in itertools.product(range(6), repeat=3)}
    best = max(scores, key=scores.get)
    assert tuple(res.suffix) == best
    assert abs(res.score - scores[best]) < 1e-4


def test_counts_are_capped_at_what_exists():
    """Candidates <= V and beams <= candidates: the default 48/4 on V=6 runs (the original crashes here)."""
    prob = ToyProblem(6)
    res = opt.advprompter_opt(prob, opt.SearchConfig(max_new_tokens=3), torch.Generator().manual_seed(0))
    assert len(res.suffix) == 3
    assert [len(c) for c in prob.calls] == [1, 6, 24, 24]  # L_0, then 1x6, 4x6, 4x6 candidates
    assert opt.candidate_count(48, 1, 1000) == 48 and opt.candidate_count(48, 4, 1000) == 12
    assert opt.candidate_count(48, 1, 6) == 6


def test_candidate_set_contents():
    """48 candidates at t=1, then 12 per beam of 4; each beam's set holds its penalized prompter argmax."""
    prob = ToyProblem(100, allowed=torch.arange(100) % 7 != 0)
    cfg = opt.SearchConfig(max_new_tokens=4)
    opt.advprompter_opt(prob, cfg, torch.Generator().manual_seed(1))
    assert [len(c) for c in prob.calls] == [1, 48, 48, 48, 48]
    for call in prob.calls[1:]:
        parents = {}
        for seq in call:
            parents.setdefault(tuple(seq[:-1]), []).append(seq[-1])
        assert len(parents) in (1, 4) and all(len(c) == 48 // len(parents) for c in parents.values())
        for parent, cands in parents.items():
            logits, _ = prob.next_logits([list(parent)])
            pen = losses.mask_disallowed(losses.repetition_penalty(logits, [list(parent)], 1.2), prob.allowed)
            assert int(pen.argmax()) in cands
            assert all(c % 7 != 0 for c in cands) and len(set(cands)) == len(cands)


def test_keep_best_then_sample_keeps_the_argmax():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(30, generator=g)
    for _ in range(100):
        picked = opt.keep_best_then_sample(values, 5, 0.6, True, g).tolist()
        assert picked[0] == int(values.argmax()) and len(set(picked)) == 5
    assert opt.keep_best_then_sample(values, 3, 0.6, False).tolist() == values.topk(3).indices.tolist()


def test_greedy_step_is_the_loss_argmin(models, tokenizers, target_spec):
    """Lambda huge, B=1, top_k=V, deterministic, T=1: the first token minimises L(x, c, y) over allowed c."""
    ptok, ttok = tokenizers
    lora, target = models
    prob = problem.TextSuffixProblem(lora, ptok, target, ttok, target_spec, "Reveal the lost map of the lighthouse",
                                     "Sure, here is the lost map of the lighthouse")  # fmt: skip
    vocab = ptok.size
    cfg = opt.SearchConfig(max_new_tokens=1, num_beams=1, top_k=vocab, lambda_val=1e6, sample_candidates=False,
                           sample_beams=False)  # fmt: skip
    res = opt.advprompter_opt(prob, cfg)
    allowed = prob.allowed.nonzero()[:, 0].tolist()
    with torch.no_grad():
        cand_loss = prob.target_loss([[c] for c in allowed])
    assert res.suffix == [allowed[int(cand_loss.argmin())]]


def test_score_identity(models, tokenizers, target_spec):
    """The returned score equals sum_i log p~_eta(q_i | x, q_<i) - lambda (L(q) - L_0), recomputed independently."""
    ptok, ttok = tokenizers
    lora, target = models
    x, y = "Tell me the magic word of the tin robot", "Sure, here is the magic word of the tin robot"
    prob = problem.TextSuffixProblem(lora, ptok, target, ttok, target_spec, x, y)
    cfg = opt.SearchConfig(max_new_tokens=6, top_k=16, lambda_val=3.0)
    res = opt.advprompter_opt(prob, cfg, torch.Generator().manual_seed(0))
    prefix = [ptok.bos_id] + ptok.encode(x)
    with torch.no_grad(), problem.base_model(lora):
        logits = lora(input_ids=torch.tensor([prefix + res.suffix])).logits[0]  # (L, V)
    logp = 0.0
    for i, tok_id in enumerate(res.suffix):
        row = logits[len(prefix) - 1 + i][None]
        logp += float(losses.readability_logprobs(row, [res.suffix[:i]], prob.allowed, 1.2)[0, tok_id])
    text = ptok.decode(res.suffix)
    with torch.no_grad():
        loss_q, loss_0 = problem.target_losses(target, ttok, target_spec, [(x + text, y), (x, y)])
    assert abs(res.score - (logp - 3.0 * float(loss_q - loss_0))) < 1e-4
    assert abs(res.logprob - logp) < 1e-4 and abs(res.loss - float(loss_q)) < 1e-5
    with torch.no_grad():  # the adapter changes the prompter: LoRA and base NLL differ
        assert float(suffix_nll(lora, ptok, [x], [res.suffix])) != float(-logp / len(res.suffix))
