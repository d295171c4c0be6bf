"""The search problem with real models (paper Sec. 3, the original's llm.py): the prompter reads <s> x q, the
suffix crosses to the target as text (prompter ids -> text -> target ids), the target is teacher-forced on y."""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache

from papersuite.advprompter.lms import pad_batch
from papersuite.advprompter.losses import reweighted_ce
from papersuite.advprompter.spec import TargetSpec, Vocab, full_instruct, model_device


def ascii_allowed(vocab: Vocab):
    """Bool (V,): ids whose text is non-empty printable ASCII and not special (the original's allow_non_ascii:
    false)."""
    import torch

    return torch.tensor(_ascii_flags(vocab))


@lru_cache(maxsize=8)
def _ascii_flags(vocab: Vocab) -> tuple[bool, ...]:
    """ascii_allowed's flags, computed once per vocabulary (one decode per id: 32k at Llama's size)."""
    texts = [vocab.decode([i]) for i in range(vocab.size)]
    return tuple(
        i not in vocab.special_ids and t != "" and all(32 <= ord(c) < 127 for c in t) for i, t in enumerate(texts)
    )


def base_model(prompter):
    """The base model: a peft model's adapters disabled (peft's disable_adapter), else the model itself."""
    return prompter.disable_adapter() if hasattr(prompter, "disable_adapter") else nullcontext()


def last_logits(model, seqs: list[list[int]], pad_id: int):
    """Float logits at each sequence's last real position of a right-padded batch: (B, V)."""
    import torch

    ids, mask = pad_batch(seqs, pad_id, model_device(model))  # (B, L)
    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
    return logits[torch.arange(len(seqs), device=ids.device), mask.sum(1) - 1].float()


def target_losses(target, ttok: Vocab, spec: TargetSpec, pairs: list[tuple[str, str]], reweight: bool = True):
    """L(x, q, y) for (x ⊕ q text, y text) pairs: the template's ids, then y's, tokenized separately: (B,)."""
    import torch

    prompts = [spec.prompt_ids(ttok, p) for p, _ in pairs]
    answers = [ttok.encode(y) for _, y in pairs]
    device = model_device(target)
    ids, mask = pad_batch([p + a for p, a in zip(prompts, answers)], ttok.pad_id, device)  # (B, L)
    logits = target(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
    width = max(len(a) for a in answers)
    pos = [[len(p) - 1 + j for j in range(width)] for p in prompts]
    pos = torch.tensor(pos, device=device).clamp_max(ids.shape[1] - 2)  # (B, W)
    ans_mask = torch.tensor([[j < len(a) for j in range(width)] for a in answers], device=device)  # (B, W)
    pred = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1])).float()  # (B, W, V)
    labels = ids.gather(1, pos + 1).masked_fill(~ans_mask, 0)  # (B, W)
    return reweighted_ce(pred, labels, ans_mask, reweight)


class TextSuffixProblem:
    """One (instruct, target) pair: prompter and target with different tokenizers, joined through text."""

    def __init__(self, prompter, ptok: Vocab, target, ttok: Vocab, spec: TargetSpec, instruct: str, target_text: str,
                 allowed=None):  # fmt: skip
        self.prompter, self.ptok, self.target, self.ttok, self.spec = prompter, ptok, target, ttok, spec
        self.instruct, self.target_text = instruct, target_text
        self.prefix = [ptok.bos_id] + ptok.encode(instruct)
        self.allowed = (ascii_allowed(ptok) if allowed is None else allowed).to(model_device(prompter))

    def suffix_text(self, suffix: list[int]) -> str:
        """The suffix as text (decoded by the prompter's tokenizer)."""
        return self.ptok.decode(suffix)

    def full_instruct(self, suffix: list[int]) -> str:
        """x ⊕ q as the target reads it (decoded from the prompter's ids of x and q together)."""
        return full_instruct(self.ptok, self.instruct, suffix)

    def next_logits(self, suffixes: list[list[int]]):
        """Prompter (adapter on) and base (adapter off) next-token logits after <s> x q: (B, V) each."""
        seqs, pad = [self.prefix + s for s in suffixes], self.ptok.pad_id
        prompter_logits = last_logits(self.prompter, seqs, pad)
        with base_model(self.prompter):
            base_logits = last_logits(self.prompter, seqs, pad)
        return prompter_logits, base_logits

    def target_loss(self, suffixes: list[list[int]]):
        """The reweighted teacher-forced loss of y after the target template of x ⊕ text(q): (B,)."""
        pairs = [(self.full_instruct(s), self.target_text) for s in suffixes]
        return target_losses(self.target, self.ttok, self.spec, pairs)
