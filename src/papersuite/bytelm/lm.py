"""Token language models behind the byte-level method: a protocol, a cached Hugging Face wrapper and an exact
table model (spec bytelm_bounds.md A1 "Token LM", A4 `custom_base_model.py`).

Every model returns natural-log next-token probabilities as float64 arrays of shape (V,). The empty prefix
asks for the first-token distribution: HF models are given a leading context token (`bos_id`; for
GPT-2-style models trained on documents separated by EOS/`<|endoftext|>`, that separator), table models
store it directly.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["TokenLM", "HFTokenLM", "TableTokenLM", "log_softmax64"]


@runtime_checkable
class TokenLM(Protocol):
    """P(t_{k+1} | t_1^k) over a vocabulary of size V; `calls` counts model forward passes."""

    vocab_size: int
    calls: int

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        """(V,) float64 natural-log probabilities of the next token after the token prefix."""
        ...


def log_softmax64(logits: np.ndarray) -> np.ndarray:
    """Float64 log-softmax over the last axis."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class HFTokenLM:
    """A transformers causal LM as a TokenLM, reusing one KV cache across calls (A1 "Efficient recursion").

    A call with context c = [bos] + prefix crops the cache to the longest common prefix with the previous
    context and runs only the new tokens, so the byte sampler's per-byte query (the flush encoding, which
    usually extends or re-merges the last one or two tokens) costs one short forward. Results of the most
    recent contexts are memoised (`memo_size`), so repeated queries are free and not counted in `calls`.
    """

    def __init__(self, model, bos_id: int | None, vocab_size: int | None = None, memo_size: int = 256,
                 device: str | None = None):
        import torch

        self.model = model.eval()
        self.bos_id = bos_id
        self.device = device or next(model.parameters()).device
        self.vocab_size = int(vocab_size or model.config.vocab_size)
        self.max_positions = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", None)
        self.calls = 0  # forward passes
        self.tokens_run = 0  # tokens fed through the model
        self._ids: list[int] = []  # context held in the KV cache
        self._cache = None
        self._memo: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._memo_size = memo_size
        self._torch = torch
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x

    def reset(self) -> None:
        """Drop the KV cache and memo (e.g. between unrelated prompts, to free memory)."""
        self._ids, self._cache = [], None
        self._memo.clear()

    def _context(self, prefix: Sequence[int]) -> list[int]:
        ctx = ([self.bos_id] if self.bos_id is not None else []) + [int(t) for t in prefix]
        if not ctx:
            raise ValueError("empty context: give the model a bos_id to get the first-token distribution")
        if self.max_positions is not None and len(ctx) > self.max_positions:
            raise ValueError(f"context of {len(ctx)} tokens exceeds the model's {self.max_positions} positions")
        return ctx

    def _run(self, ctx: list[int], first_needed: int):
        """Forward ctx through the cache; returns float64 log-probs (len(ctx) − first_needed, V) for
        positions first_needed..len(ctx)−1."""
        torch = self._torch
        lcp = 0
        for a, b in zip(self._ids, ctx):
            if a != b:
                break
            lcp += 1
        keep = min(lcp, first_needed)
        if self._cache is not None and keep < len(self._ids):
            if keep == 0:
                self._cache = None
            else:
                self._cache.crop(keep - len(self._ids))  # transformers ≥5: a negative count removes tokens
        new = ctx[keep:]
        with torch.no_grad():
            kwargs = {self._cache_kw: self._cache} if self._cache is not None else {}
            out = self.model(input_ids=torch.tensor([new], device=self.device), use_cache=True, **kwargs)
        self.calls += 1
        self.tokens_run += len(new)
        self._cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        self._ids = list(ctx)
        logits = out.logits[0, first_needed - keep:, : self.vocab_size].double()
        return torch.log_softmax(logits, dim=-1).cpu().numpy()

    def _remember(self, key: tuple[int, ...], logp: np.ndarray) -> None:
        self._memo[key] = logp
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        """(V,) float64 log P(next token | bos + prefix)."""
        key = tuple(int(t) for t in prefix)
        hit = self._memo.get(key)
        if hit is not None:
            self._memo.move_to_end(key)
            return hit
        ctx = self._context(key)
        logp = self._run(ctx, len(ctx) - 1)[-1]
        self._remember(key, logp)
        return logp

    def next_token_logprobs_batch(self, prefixes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """next_token_logprobs for several prefixes (sequentially, sharing the cache)."""
        return [self.next_token_logprobs(p) for p in prefixes]

    def sequence_logprobs(self, prefix: Sequence[int], ids: Sequence[int]) -> np.ndarray:
        """(len(ids),) log P(ids[i] | bos + prefix + ids[:i]) by one teacher-forced forward."""
        ids = [int(t) for t in ids]
        if not ids:
            return np.zeros(0)
        ctx = self._context(list(prefix) + ids)
        start = len(ctx) - len(ids) - 1
        logp = self._run(ctx, start)  # (len(ids)+1, V)
        return logp[np.arange(len(ids)), ids]


class TableTokenLM:
    """Exact token LM from a table {token prefix: (V,) next-token probabilities} (oracle, A5 A-T1).

    Prefixes absent from the table have probability zero; their next-token log-probs are all −inf.
    """

    def __init__(self, table: Mapping[tuple[int, ...], np.ndarray], vocab_size: int):
        self.vocab_size = vocab_size
        self.calls = 0
        self._table = {k: np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self._zero = np.full(vocab_size, -np.inf)

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        """(V,) log P(t | prefix) from the table."""
        self.calls += 1
        p = self._table.get(tuple(int(t) for t in prefix))
        if p is None:
            return self._zero.copy()
        with np.errstate(divide="ignore"):
            return np.log(p)

    @classmethod
    def from_prefix_mass(cls, mass: Mapping[tuple[int, ...], np.ndarray], vocab_size: int) -> TableTokenLM:
        """From unnormalised next-token masses P(prefix + t) per prefix: each row is divided by its sum."""
        table = {}
        for k, m in mass.items():
            s = float(np.sum(m))
            if s > 0:
                table[k] = np.asarray(m, dtype=np.float64) / s
        return cls(table, vocab_size)
