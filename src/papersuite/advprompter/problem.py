"""The search problem with real models (paper Sec. 3, the original's llm.py): the prompter reads <s> x q, the
suffix crosses to the target as text (prompter ids -> text -> target ids), the target is teacher-forced on y."""

from __future__ import annotations

from contextlib import nullcontext

from papersuite.advprompter.lms import BOS, PAD, encode, pad_batch
from papersuite.advprompter.losses import reweighted_ce
from papersuite.advprompter.world import target_prompt


def ascii_allowed(tok):
    """Bool (V,): ids whose text is non-empty printable ASCII (the original's allow_non_ascii: false, no specials)."""
    import torch

    texts = [tok.decode([i]) for i in range(tok.get_vocab_size())]
    special = {tok.token_to_id(s) for s in (BOS, "</s>", PAD)}
    return torch.tensor(
        [i not in special and t != "" and all(32 <= ord(c) < 127 for c in t) for i, t in enumerate(texts)]
    )


def base_model(prompter):
    """The base model: a peft model's adapters disabled (peft's disable_adapter), else the model itself."""
    return prompter.disable_adapter() if hasattr(prompter, "disable_adapter") else nullcontext()


def last_logits(model, seqs: list[list[int]], pad_id: int):
    """Logits at each sequence's last real position of a right-padded batch: (B, V)."""
    import torch

    ids, mask = pad_batch(seqs, pad_id)  # (B, L)
    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
    return logits[torch.arange(len(seqs)), mask.sum(1) - 1]


def target_losses(target, ttok, pairs: list[tuple[str, str]], reweight: bool = True):
    """L(x, q, y) for (prompt text, target text) pairs, each tokenized separately and concatenated: (B,)."""
    import torch

    prompts = [encode(ttok, p) for p, _ in pairs]
    answers = [encode(ttok, y) for _, y in pairs]
    ids, mask = pad_batch([p + a for p, a in zip(prompts, answers)], ttok.token_to_id(PAD))  # (B, L)
    logits = target(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
    width = max(len(a) for a in answers)
    pos = torch.tensor([[len(p) - 1 + j for j in range(width)] for p in prompts]).clamp_max(ids.shape[1] - 2)  # (B, W)
    ans_mask = torch.tensor([[j < len(a) for j in range(width)] for a in answers])  # (B, W)
    pred = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))  # (B, W, V)
    labels = ids.gather(1, pos + 1).masked_fill(~ans_mask, 0)  # (B, W)
    return reweighted_ce(pred, labels, ans_mask, reweight)


class TextSuffixProblem:
    """One (instruct, target) pair: prompter and target with different tokenizers, joined through text."""

    def __init__(self, prompter, ptok, target, ttok, instruct: str, target_text: str, allowed=None):
        self.prompter, self.ptok, self.target, self.ttok = prompter, ptok, target, ttok
        self.instruct, self.target_text = instruct, target_text
        self.prefix = [ptok.token_to_id(BOS)] + encode(ptok, instruct)
        self.allowed = ascii_allowed(ptok) if allowed is None else allowed

    def suffix_text(self, suffix: list[int]) -> str:
        """The suffix as text (decoded by the prompter's tokenizer)."""
        return self.ptok.decode(suffix)

    def next_logits(self, suffixes: list[list[int]]):
        """Prompter (adapter on) and base (adapter off) next-token logits after <s> x q: (B, V) each."""
        seqs, pad = [self.prefix + s for s in suffixes], self.ptok.token_to_id(PAD)
        prompter_logits = last_logits(self.prompter, seqs, pad)
        with base_model(self.prompter):
            base_logits = last_logits(self.prompter, seqs, pad)
        return prompter_logits, base_logits

    def target_loss(self, suffixes: list[list[int]]):
        """The reweighted teacher-forced loss of y after the target template of x + text(q): (B,)."""
        pairs = [(target_prompt(self.instruct, self.suffix_text(s)), self.target_text) for s in suffixes]
        return target_losses(self.target, self.ttok, pairs)
