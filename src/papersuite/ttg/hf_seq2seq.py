"""A transformers encoder-decoder (the BART option of the tiny translator) behind the interface of
:class:`papersuite.ttg.t5.T5`: ``loss``, ``greedy`` (transformers' generate) and ``save_pretrained``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["HFSeq2Seq"]


class HFSeq2Seq(nn.Module):
    """Wraps a transformers ``...ForConditionalGeneration`` model."""

    def __init__(self, model):
        super().__init__()
        self.hf = model

    def loss(self, input_ids, attention_mask, labels):
        return self.hf(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss

    def greedy(self, input_ids, attention_mask, max_new_tokens: int, allowed: Callable | None = None):
        """Greedy decoding; ``allowed(rows, prefixes)`` as in :meth:`papersuite.ttg.t5.T5.greedy`."""
        prefix_fn = None
        if allowed is not None:

            def prefix_fn(row: int, ids) -> list[int]:
                return allowed([row], [ids.tolist()])[0]

        return self.hf.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            num_beams=1,
            do_sample=False,
            prefix_allowed_tokens_fn=prefix_fn,
        )

    def save_pretrained(self, out_dir) -> None:
        self.hf.save_pretrained(out_dir)

    @classmethod
    def from_pretrained(cls, model_dir) -> HFSeq2Seq:
        from transformers import AutoModelForSeq2SeqLM

        return cls(AutoModelForSeq2SeqLM.from_pretrained(model_dir))
