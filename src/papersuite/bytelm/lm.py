"""Token language models behind the byte-level method: a protocol, a cached Hugging Face wrapper and an exact
table model (docs/papers/bytelm.md "Objects"; the original code's `custom_base_model.py`).

Every model returns natural-log next-token probabilities as float64 arrays of shape (V,). The empty prefix
asks for the first-token distribution: HF models are given a leading context token (`bos_id`; for
GPT-2-style models trained on documents separated by EOS/`<|endoftext|>`, that separator) or a fixed
multi-token context (a FIM prompt's special tokens and suffix, bytelm.md "FIM"), table models store it
directly.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Generator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "TokenLM",
    "HFTokenLM",
    "TableTokenLM",
    "load_causal_lm",
    "log_softmax64",
    "logprobs_batch",
    "CountedLM",
    "lockstep",
    "merged",
    "run_steps",
    "torch_dtype",
]

# A step generator (bytelm.md "Batched decoding") yields the model queries of one step as (token LM, prefix)
# pairs, receives their [(log-probs, computed), ...] in the same order, and finally returns its result.
Requests = list[tuple[Any, Sequence[int]]]
Answers = list[tuple[np.ndarray, bool]]
Steps = Generator[Requests, Answers, Any]


@runtime_checkable
class TokenLM(Protocol):
    """P(t_{k+1} | t_1^k) over a vocabulary of size V; `calls` counts model forward passes."""

    vocab_size: int
    calls: int

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        """(V,) float64 natural-log probabilities of the next token after the token prefix."""
        ...


def logprobs_batch(lm: TokenLM, prefixes: Sequence[Sequence[int]]) -> tuple[list[np.ndarray], list[bool]]:
    """Next-token log-probs of many prefixes, in one batched forward where the model has one (`query_batch`), and
    which of them were computed (False: served from a memo), so callers can count model evaluations per prompt."""
    query = getattr(lm, "query_batch", None)
    if query is not None:
        return query(prefixes)
    return [lm.next_token_logprobs(p) for p in prefixes], [True] * len(prefixes)


def merged(gens: Sequence[Steps]) -> Steps:
    """One step generator that runs several in lock-step: each step yields the union of their queries (so one
    driver call answers all of them) and the whole returns their results, in order."""
    results: list[Any] = [None] * len(gens)
    asks: dict[int, Requests] = {}
    for j, g in enumerate(gens):
        try:
            asks[j] = next(g)
        except StopIteration as stop:
            results[j] = stop.value
    while asks:
        order = list(asks)
        answers = yield [q for j in order for q in asks[j]]
        nxt: dict[int, Requests] = {}
        pos = 0
        for j in order:
            n = len(asks[j])
            try:
                nxt[j] = gens[j].send(answers[pos : pos + n])
            except StopIteration as stop:
                results[j] = stop.value
            pos += n
        asks = nxt
    return results


class CountedLM:
    """A token LM seen by one of several decoders that share its forward passes (bytelm.md "Batched decoding"):
    `run_steps` answers its queries in the same batched call as the other decoders', but a context counts as a
    model evaluation of this view the first time the view asks for it (`forget_results` starts over), as if the
    decoder ran alone with its own memo. With `context`, the view's prefixes follow that fixed context instead
    of the wrapped LM's (which must have none): one FIM task's special tokens and suffix, so that tasks with
    different contexts share forward passes too. Every other attribute is the wrapped LM's."""

    def __init__(self, lm: TokenLM, context: Sequence[int] | None = None):
        self.base = lm
        self.context = None if context is None else tuple(int(t) for t in context)
        if self.context is not None and getattr(lm, "context_ids", ()):
            raise ValueError("a CountedLM with its own context needs a token LM without one (set_context(None))")
        self.seen: set[tuple[int, ...]] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def forget_results(self) -> None:
        """Count every context anew."""
        self.seen.clear()

    def count(self, prefix: Sequence[int]) -> bool:
        """Whether this view has not asked for the context before (and remember it)."""
        key = tuple(int(t) for t in prefix)
        new = key not in self.seen
        self.seen.add(key)
        return new

    def full(self, prefix: Sequence[int]) -> tuple[int, ...]:
        """The prefix as the wrapped LM sees it (after the view's context, if any)."""
        prefix = tuple(int(t) for t in prefix)
        return prefix if self.context is None else self.context + prefix

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        self.count(prefix)
        return self.base.next_token_logprobs(self.full(prefix))


def run_steps(gen: Steps) -> Any:
    """Drive a step generator: every step's queries go to `logprobs_batch`, one batched call per token LM (views of
    one LM, CountedLM, share it)."""
    try:
        asks = next(gen)
    except StopIteration as stop:
        return stop.value
    while True:
        by_lm: dict[int, tuple[Any, list[int]]] = {}
        for pos, (lm, _) in enumerate(asks):
            base = lm.base if isinstance(lm, CountedLM) else lm
            by_lm.setdefault(id(base), (base, []))[1].append(pos)
        answers: Answers = [None] * len(asks)  # type: ignore[list-item]
        for lm, where in by_lm.values():
            seqs = [q.full(p) if isinstance(q, CountedLM) else p for q, p in (asks[pos] for pos in where)]
            logps, computed = logprobs_batch(lm, seqs)
            for pos, lp, c in zip(where, logps, computed):
                view, ctx = asks[pos]
                answers[pos] = (lp, view.count(ctx) if isinstance(view, CountedLM) else c)
        try:
            asks = gen.send(answers)
        except StopIteration as stop:
            return stop.value


def lockstep(gens: Sequence[Steps]) -> list[Any]:
    """Run step generators together (merged + run_steps): their results, in order."""
    return run_steps(merged(gens))


def log_softmax64(logits: np.ndarray) -> np.ndarray:
    """Float64 log-softmax over the last axis."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class HFTokenLM:
    """A transformers causal LM as a TokenLM, reusing one KV cache across calls (bytelm.md "Next-byte recursion").

    A call with context c = context_ids + prefix crops the cache to the longest common prefix with the previous
    context and runs only the new tokens, so the byte sampler's per-byte query (the flush encoding, which
    usually extends or re-merges the last one or two tokens) costs one short forward. Results of the most
    recent contexts are memoised (`memo_size`), so repeated queries are free and not counted in `calls`.

    `query_batch` / `next_token_logprobs_batch` evaluate many prefixes in one forward pass (Llama and GPT-2
    models, `kv_batch.KVBatch`: shared anchor prefixes, per-sequence suffix caches; bytelm.md "Batched
    decoding"); `prefill` caches a prefix that many later queries extend (a prompt's stable part). `calls`
    counts sequences evaluated (one per forward on the single-sequence path), `forwards` forward passes.

    `bos_id` is the fixed context every prefix is appended to: one token id (the usual BOS / document
    separator), a sequence of ids (e.g. FIM's [bos, <PRE>, <SUF>] + suffix + [<MID>], bytelm.md "FIM"), or
    None. `set_context` swaps it between prompts while keeping the KV cache of the shared start.
    """

    def __init__(
        self,
        model,
        bos_id: int | Sequence[int] | None,
        vocab_size: int | None = None,
        memo_size: int = 256,
        device: str | None = None,
    ):
        import torch

        self.model = model.eval()
        self.device = device or next(model.parameters()).device
        self.vocab_size = int(vocab_size or model.config.vocab_size)
        self.max_positions = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", None
        )
        self.calls = 0  # sequences evaluated (memo hits excluded)
        self.forwards = 0  # forward passes
        self.tokens_run = 0  # tokens fed through the model (single-sequence path)
        self._ids: list[int] = []  # context held in the KV cache
        self._cache = None
        self._memo: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._memo_size = memo_size
        self._torch = torch
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x
        self.context_ids: tuple[int, ...] = ()
        self.bos_id: int | None = None
        self.set_context(bos_id)
        self._batch = None  # kv_batch.KVBatch, built at the first batched query
        self.max_batch = 256  # sequences per forward pass of query_batch
        self._batch_checked = False

    def set_context(self, context: int | Sequence[int] | None) -> None:
        """Make `context` (one id, a sequence of ids, or None) the fixed start of every query (bytelm.md "FIM").

        The memo is keyed by the prefix after the context, so it is dropped when the context changes; the KV
        cache is kept and cropped to the longest common prefix at the next call (tasks share [bos, <PRE>, ...]).
        `bos_id` stays the first context id, or None without a context, for callers that read it."""
        if context is None:
            ids: tuple[int, ...] = ()
        elif isinstance(context, (int, np.integer)):
            ids = (int(context),)
        else:
            ids = tuple(int(t) for t in context)
        if ids != self.context_ids:
            self._memo.clear()
        self.context_ids = ids
        self.bos_id = ids[0] if ids else None

    def forget_results(self) -> None:
        """Drop the memoised next-token results but keep the KV cache, so the next caller pays for its own calls."""
        self._memo.clear()

    def reset(self) -> None:
        """Drop the KV caches and memo (e.g. between unrelated prompts, to free memory)."""
        self._ids, self._cache = [], None
        self._memo.clear()
        if self._batch is not None:
            self._batch.clear()

    def _context(self, prefix: Sequence[int]) -> list[int]:
        ctx = list(self.context_ids) + [int(t) for t in prefix]
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
        self.forwards += 1
        self.tokens_run += len(new)
        self._cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        self._ids = list(ctx)
        logits = out.logits[0, first_needed - keep :, : self.vocab_size].double()
        return torch.log_softmax(logits, dim=-1).cpu().numpy()

    def _remember(self, key: tuple[int, ...], logp: np.ndarray) -> None:
        self._memo[key] = logp
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def next_token_logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        """(V,) float64 log P(next token | context + prefix)."""
        key = tuple(int(t) for t in prefix)
        hit = self._memo.get(key)
        if hit is not None:
            self._memo.move_to_end(key)
            return hit
        ctx = self._context(key)
        logp = self._run(ctx, len(ctx) - 1)[-1]
        self._remember(key, logp)
        return logp

    def batch_engine(self):
        """The batched forward (kv_batch.KVBatch) of this model, None for a model it does not mirror."""
        if not self._batch_checked:
            from .kv_batch import KVBatch

            self._batch_checked = True
            if KVBatch.supports(self.model):
                self._batch = KVBatch(self.model)
        return self._batch

    def query_batch(self, prefixes: Sequence[Sequence[int]]) -> tuple[list[np.ndarray], list[bool]]:
        """(V,) float64 log P(next token | context + prefix) for every prefix, the ones not memoised in one
        forward pass, and which of them were computed (bytelm.md "Batched decoding"). A prefix asked for twice in
        one batch is evaluated once (`calls` counts it once) and reported as computed for both, so that callers
        count per prompt what the prompt would cost alone."""
        keys = [tuple(int(t) for t in p) for p in prefixes]
        out: list[np.ndarray | None] = [self._memo.get(k) for k in keys]
        todo = list(dict.fromkeys(k for k, o in zip(keys, out) if o is None))
        computed = [False] * len(keys)
        if todo:
            engine = self.batch_engine()
            if engine is None:
                got = {k: self.next_token_logprobs(k) for k in todo}
            else:
                got = {}
                for c in range(0, len(todo), self.max_batch):
                    chunk = todo[c : c + self.max_batch]
                    logits = engine.run([self._context(k) for k in chunk])[:, : self.vocab_size]
                    got.update(zip(chunk, self._torch.log_softmax(logits, dim=-1).cpu().numpy()))
                    self.forwards += 1
                for k in todo:
                    self._remember(k, got[k])
                self.calls += len(todo)
            for i, k in enumerate(keys):
                if out[i] is None:
                    out[i], computed[i] = got[k], True
        return out, computed  # type: ignore[return-value]

    def next_token_logprobs_batch(self, prefixes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """next_token_logprobs for many prefixes, in one forward pass where supported (query_batch)."""
        return self.query_batch(prefixes)[0]

    def prefill(self, prefix: Sequence[int], margin: int = 2) -> int:
        """Cache context + prefix minus its last `margin` tokens as a shared prefix of later queries (the batched
        path's anchor; queries that back off up to `margin` tokens still extend it); returns the tokens run.
        Without a batched forward, runs the single-sequence path on context + prefix instead."""
        engine = self.batch_engine()
        if engine is None:
            before = self.tokens_run
            self.next_token_logprobs(prefix)
            return self.tokens_run - before
        ctx = self._context(tuple(int(t) for t in prefix))
        return engine.add_anchor(ctx[: max(0, len(ctx) - margin)])

    def sequence_logprobs(self, prefix: Sequence[int], ids: Sequence[int]) -> np.ndarray:
        """(len(ids),) log P(ids[i] | context + prefix + ids[:i]) by one teacher-forced forward."""
        ids = [int(t) for t in ids]
        if not ids:
            return np.zeros(0)
        ctx = self._context(list(prefix) + ids)
        start = len(ctx) - len(ids) - 1
        logp = self._run(ctx, start)  # (len(ids)+1, V)
        return logp[np.arange(len(ids)), ids]


class TableTokenLM:
    """Exact token LM from a table {token prefix: (V,) next-token probabilities} (bytelm.md "Oracle").

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


def torch_dtype(name: str, device):
    """The weights' dtype: "auto" is bfloat16 on CUDA and float32 on CPU; else float32 | bfloat16 | float16."""
    import torch

    if name == "auto":
        return torch.bfloat16 if getattr(device, "type", str(device)) == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}") from None


def load_causal_lm(model_dir, dtype: str = "float32", device="cpu"):
    """(model in eval mode without gradients, HF tokenizer) from a local checkpoint directory, offline."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json (fetch the hub model or convert the GGUF first)")
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch_dtype(dtype, device))
    model.to(device).eval()
    for w in model.parameters():
        w.requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
