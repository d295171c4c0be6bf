"""The terms of AdvPrompter's objective (paper Sec. 3, Eq. 2-3): the reweighted teacher-forced target loss and the
readability log-probability under the base prompter with the repetition penalty."""

from __future__ import annotations

NEG = -1e10  # the original's logit for disallowed (non-ASCII/special) tokens


def reweighted_ce(logits, labels, mask, reweight: bool = True):
    """Masked mean of CE_t/(t+1) over target positions t (the original's reweight_loss): (B, L, V), (B, L) -> (B,)."""
    import torch

    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # (B, L)
    if reweight:
        ce = ce / torch.arange(1, labels.shape[1] + 1, dtype=ce.dtype, device=ce.device)[None]
    mask = mask.to(ce.dtype)
    return (ce * mask).sum(1) / mask.sum(1)


def repetition_penalty(logits, used: list[list[int]], penalty: float):
    """Divide positive and multiply negative logits of already-used ids by the penalty: (B, V) -> (B, V)."""
    out = logits.clone()
    for row, ids in enumerate(used):
        if ids:
            idx = sorted(set(ids))
            vals = out[row, idx]
            out[row, idx] = vals.where(vals < 0, vals / penalty).where(vals >= 0, vals * penalty)
    return out


def mask_disallowed(logits, allowed):
    """Set logits of disallowed tokens to -1e10: (B, V), bool (V,) -> (B, V)."""
    return logits.masked_fill(~allowed.to(logits.device)[None], NEG)


def readability_logprobs(base_logits, used: list[list[int]], allowed, penalty: float):
    """log p~_eta(. | x, q_<t): the base prompter's log-softmax after the repetition penalty and the mask (Eq. 3)."""
    return mask_disallowed(repetition_penalty(base_logits, used, penalty), allowed).log_softmax(-1)
