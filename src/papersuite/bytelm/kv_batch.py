"""Next-token log-probabilities of many token sequences in one forward pass, with shared KV caches
(docs/papers/bytelm.md "Batched decoding").

The byte-level recursion asks, after every byte and for every prompt, for P(t | f) of each flush cover f; the
token baselines ask for P(t | ids) of their greedy prefixes. These sequences are long (a prompt of a few hundred
tokens) and differ from the previous step's in their last one or two tokens. `KVBatch.run` evaluates many of
them at once from two key/value stores:

- anchors: long shared prefixes (e.g. a prompt up to its stable boundary, `add_anchor`), computed once and
  read in place by every sequence that extends them (grouped per anchor, never copied per row);
- suffixes: the tokens after a sequence's anchor, cached per anchor by token tuple, so a sequence that extends
  or re-merges the end of a cached one runs only its new tokens.

One step stacks every sequence's cached suffix (short) into a padded buffer and runs all new tokens, right-padded,
through the model once. A row attends to its anchor, its cached suffix and its own new tokens (causal); its
positions continue after the anchor. The two key blocks are merged with a log-sum-exp, so the result is the
model's causal attention over the whole sequence, up to float rounding. A suffix longer than `max_suffix` gets
its own anchor (the sequence minus its last `anchor_margin` tokens), so suffixes stay short.

The forward re-uses the model's own modules (embeddings, norms, projections, rotary embedding, MLPs, head) for the
two families this wing runs: Llama (SmolLM2, CodeLlama) and GPT-2 (the tiny trained LMs, the tests' models).
`KVBatch.supports(model)` says whether a model is one of them; callers fall back to one forward per sequence.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["KVBatch"]


class _Llama:
    """Llama-family decoder (LlamaForCausalLM: SmolLM2, CodeLlama) as embed / attention-in / attention-out / head."""

    def __init__(self, model: Any):
        self.model, self.base = model, model.model
        cfg = model.config
        self.n_layers = cfg.num_hidden_layers
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.max_positions = getattr(cfg, "max_position_embeddings", None)
        self._rope = sys.modules[type(self.base.layers[0].self_attn).__module__].apply_rotary_pos_emb
        self._cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None

    def embed(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        h = self.base.embed_tokens(ids)
        self._cos_sin = self.base.rotary_emb(h, position_ids=pos)
        return h

    def attn_in(self, i: int, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        layer = self.base.layers[i]
        a = layer.self_attn
        x = layer.input_layernorm(h)
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = a.q_proj(x).view(shape).transpose(1, 2)
        k = a.k_proj(x).view(shape).transpose(1, 2)
        v = a.v_proj(x).view(shape).transpose(1, 2)
        cos, sin = self._cos_sin
        q, k = self._rope(q, k, cos, sin)
        return q, k, v, a.scaling

    def attn_out(self, i: int, h: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        layer = self.base.layers[i]
        h = h + layer.self_attn.o_proj(o)
        return h + layer.mlp(layer.post_attention_layernorm(h))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(self.base.norm(h))


class _GPT2:
    """GPT-2 (GPT2LMHeadModel) as embed / attention-in / attention-out / head."""

    def __init__(self, model: Any):
        self.model, self.base = model, model.transformer
        cfg = model.config
        self.n_layers = cfg.n_layer
        self.n_heads = self.n_kv = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.max_positions = cfg.n_positions

    def embed(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return self.base.wte(ids) + self.base.wpe(pos)

    def attn_in(self, i: int, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        blk = self.base.h[i]
        x = blk.ln_1(h)
        q, k, v = blk.attn.c_attn(x).split(x.shape[-1], dim=2)
        shape = (*x.shape[:-1], -1, self.head_dim)
        return (
            q.view(shape).transpose(1, 2),
            k.view(shape).transpose(1, 2),
            v.view(shape).transpose(1, 2),
            blk.attn.scaling,
        )

    def attn_out(self, i: int, h: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        blk = self.base.h[i]
        h = h + blk.attn.c_proj(o)
        return h + blk.mlp(blk.ln_2(h))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(self.base.ln_f(h))


def _anchor_key(row: Any) -> tuple[int, ...] | None:
    return row.anchor.ids if row.anchor is not None else None


def _arch(model: Any) -> _Llama | _GPT2 | None:
    """The adapter of a supported model, None for any other (or a GPT-2 variant with features not mirrored here)."""
    cfg = getattr(model, "config", None)
    kind = getattr(cfg, "model_type", None)
    if kind == "llama" and hasattr(model, "model") and hasattr(model.model, "rotary_emb"):
        return _Llama(model)
    plain_gpt2 = not getattr(cfg, "add_cross_attention", False) and not getattr(cfg, "reorder_and_upcast_attn", False)
    if kind == "gpt2" and hasattr(model, "transformer") and plain_gpt2:
        return _GPT2(model)
    return None


@dataclass
class _Anchor:
    """Keys and values of a shared prefix: kv (layers, 2, kv heads, length, head dim)."""

    ids: tuple[int, ...]
    kv: torch.Tensor


@dataclass
class _Entry:
    """Cached keys and values of the suffix `ids` after an anchor: kv (layers, 2, kv heads, len(ids), head dim)."""

    anchor: tuple[int, ...] | None
    ids: tuple[int, ...]
    kv: torch.Tensor


@dataclass
class _Row:
    """One sequence of a step: its anchor (None: none), the cached suffix entry it extends by `past` tokens, its
    new tokens, and whether it gets a new anchor afterwards."""

    seq: tuple[int, ...]
    anchor: _Anchor | None
    entry: _Entry | None
    past: int
    new: tuple[int, ...]
    new_anchor: int = 0  # length of the anchor to create from this row (0: none)

    @property
    def start(self) -> int:
        """Position of the first suffix token (the anchor's length)."""
        return len(self.anchor.ids) if self.anchor is not None else 0


class KVBatch:
    """Batched next-token logits of token sequences with shared anchor and suffix KV caches (module docstring).

    `run(seqs)` returns the (len(seqs), V) logits of the token after each sequence (full token ids, any context
    included), as float64; `add_anchor(seq)` caches a shared prefix. Memory is bounded by `max_anchor_tokens`
    and `max_suffix_tokens` (least recently used anchors and suffixes are dropped first)."""

    def __init__(
        self,
        model: Any,
        max_suffix: int = 32,
        anchor_margin: int = 8,
        max_anchor_tokens: int = 32768,
        max_suffix_tokens: int = 8192,
    ):
        arch = _arch(model)
        if arch is None:
            raise ValueError(f"KVBatch supports Llama and GPT-2 models, not {type(model).__name__}")
        if not 0 < anchor_margin < max_suffix:
            raise ValueError(f"need 0 < anchor_margin < max_suffix, got {anchor_margin}, {max_suffix}")
        self.arch = arch
        self.max_suffix, self.anchor_margin = int(max_suffix), int(anchor_margin)
        self.max_anchor_tokens, self.max_suffix_tokens = int(max_anchor_tokens), int(max_suffix_tokens)
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype
        self._anchors: OrderedDict[tuple[int, ...], _Anchor] = OrderedDict()
        self._lengths: list[int] = []  # distinct anchor lengths, longest first
        self._entries: OrderedDict[tuple[tuple[int, ...] | None, tuple[int, ...]], _Entry] = OrderedDict()
        self._index: dict[tuple[tuple[int, ...] | None, tuple[int, ...]], _Entry] = {}  # every prefix of an entry
        self._anchor_tokens = 0
        self._suffix_tokens = 0
        self.forwards = 0  # forward passes
        self.tokens_run = 0  # tokens fed through the model

    @staticmethod
    def supports(model: Any) -> bool:
        """Whether `model` is a Llama or GPT-2 model this forward mirrors."""
        return _arch(model) is not None

    def clear(self) -> None:
        """Drop every anchor and cached suffix."""
        self._anchors.clear()
        self._lengths = []
        self._entries.clear()
        self._index.clear()
        self._anchor_tokens = self._suffix_tokens = 0

    # ---------------------------------------------------------------- stores
    def _find_anchor(self, seq: tuple[int, ...]) -> _Anchor | None:
        """The longest anchor that is a proper prefix of seq."""
        n = len(seq)
        for length in self._lengths:
            if length < n:
                a = self._anchors.get(seq[:length])
                if a is not None:
                    self._anchors.move_to_end(a.ids)
                    return a
        return None

    def _store_anchor(self, ids: tuple[int, ...], kv: torch.Tensor) -> None:
        if ids in self._anchors:
            return
        self._anchors[ids] = _Anchor(ids, kv)
        self._anchor_tokens += len(ids)
        while self._anchor_tokens > self.max_anchor_tokens and len(self._anchors) > 1:
            old_ids, _ = self._anchors.popitem(last=False)
            self._anchor_tokens -= len(old_ids)
            for key in [k for k in self._entries if k[0] == old_ids]:
                self._drop_entry(key)
        self._lengths = sorted({len(k) for k in self._anchors}, reverse=True)

    def _lookup(self, anchor: tuple[int, ...] | None, suffix: tuple[int, ...]) -> tuple[_Entry | None, int]:
        """The cached entry sharing the longest proper prefix with suffix, and that prefix's length."""
        for k in range(len(suffix) - 1, 0, -1):
            e = self._index.get((anchor, suffix[:k]))
            if e is not None:
                self._entries.move_to_end((anchor, e.ids))
                return e, k
        return None, 0

    def _store_entry(self, anchor: tuple[int, ...] | None, ids: tuple[int, ...], kv: torch.Tensor) -> None:
        key = (anchor, ids)
        if key in self._entries:
            self._drop_entry(key)
        e = _Entry(anchor, ids, kv)
        self._entries[key] = e
        self._suffix_tokens += len(ids)
        for k in range(1, len(ids) + 1):
            self._index[(anchor, ids[:k])] = e
        while self._suffix_tokens > self.max_suffix_tokens and len(self._entries) > 1:
            self._drop_entry(next(iter(self._entries)))

    def _drop_entry(self, key: tuple[tuple[int, ...] | None, tuple[int, ...]]) -> None:
        e = self._entries.pop(key)
        self._suffix_tokens -= len(e.ids)
        for k in range(1, len(e.ids) + 1):
            pk = (e.anchor, e.ids[:k])
            if self._index.get(pk) is e:
                del self._index[pk]

    # ---------------------------------------------------------------- step
    def _plan(self, seq: tuple[int, ...]) -> _Row:
        anchor = self._find_anchor(seq)
        start = len(anchor.ids) if anchor is not None else 0
        suffix = seq[start:]
        entry, past = self._lookup(anchor.ids if anchor is not None else None, suffix)
        row = _Row(seq, anchor, entry, past, suffix[past:])
        if len(suffix) > self.max_suffix:
            row.new_anchor = len(seq) - self.anchor_margin
        return row

    def add_anchor(self, seq: Sequence[int]) -> int:
        """Cache the keys and values of `seq` as a shared prefix; returns the number of tokens run (0 if cached)."""
        seq = tuple(int(t) for t in seq)
        if not seq or seq in self._anchors:
            return 0
        row = self._plan(seq)
        row.new_anchor = len(seq)  # the whole suffix joins the anchor
        n_before = self.tokens_run
        self._step([row], need_logits=False)
        return self.tokens_run - n_before

    def run(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        """(len(seqs), V) float64 logits of the next token after each sequence, in one forward pass."""
        seqs = [tuple(int(t) for t in s) for s in seqs]
        if any(not s for s in seqs):
            raise ValueError("KVBatch.run needs non-empty sequences (give the model a context token)")
        unique = list(dict.fromkeys(seqs))
        rows = [self._plan(s) for s in unique]
        # rows of one anchor next to each other: each anchor's attention then reads a slice of the batch
        first: dict[tuple[int, ...] | None, int] = {}
        order = sorted(range(len(rows)), key=lambda r: first.setdefault(_anchor_key(rows[r]), r))
        logits = self._step([rows[r] for r in order], need_logits=True)
        where = {unique[r]: i for i, r in enumerate(order)}
        return logits[[where[s] for s in seqs]]

    def _past_buffer(self, rows: list[_Row], width: int) -> torch.Tensor:
        """(layers, 2, rows, kv heads, width, head dim) with each row's cached suffix at its start."""
        a = self.arch
        buf = torch.zeros((a.n_layers, 2, len(rows), a.n_kv, width, a.head_dim), dtype=self.dtype, device=self.device)
        for r, row in enumerate(rows):
            if row.past:
                buf[:, :, r, :, : row.past] = row.entry.kv[:, :, :, : row.past]
        return buf

    def _step(self, rows: list[_Row], need_logits: bool) -> torch.Tensor | None:
        a = self.arch
        B = len(rows)
        T = max(len(r.new) for r in rows)
        width = max(r.past + len(r.new) for r in rows)
        dev = self.device
        ids = torch.zeros((B, T), dtype=torch.long, device=dev)
        pos = torch.zeros((B, T), dtype=torch.long, device=dev)
        past = torch.tensor([r.past for r in rows], device=dev)
        n_new = torch.tensor([len(r.new) for r in rows], device=dev)
        starts = torch.tensor([r.start for r in rows], device=dev)
        for r, row in enumerate(rows):
            ids[r, : len(row.new)] = torch.tensor(row.new, dtype=torch.long)
        j = torch.arange(T, device=dev)
        pos = starts[:, None] + past[:, None] + torch.minimum(j[None, :], n_new[:, None] - 1)
        if a.max_positions is not None and int(pos.max()) >= a.max_positions:
            raise ValueError(f"context of {int(pos.max()) + 1} tokens exceeds the model's {a.max_positions} positions")
        buf = self._past_buffer(rows, width)
        valid = j[None, :] < n_new[:, None]  # (B, T) real new tokens
        rr, jj = valid.nonzero(as_tuple=True)
        cols = past[rr] + jj  # where each new token's keys go in its row's buffer
        keys = torch.arange(width, device=dev)
        visible = keys[None, None, :] <= (past[:, None] + j[None, :])[:, :, None]  # (B, T, width)
        G = a.n_heads // a.n_kv
        hidden = ~visible[:, None, None].expand(B, 1, G, T, width).reshape(B, 1, G * T, width)  # per query row
        groups = self._groups(rows)
        with torch.no_grad():
            h = a.embed(ids, pos)
            for i in range(a.n_layers):
                q, k, v, scale = a.attn_in(i, h)
                kb, vb = buf[i, 0], buf[i, 1]
                kb[rr, :, cols] = k.transpose(1, 2)[rr, jj]
                vb[rr, :, cols] = v.transpose(1, 2)[rr, jj]
                o = self._attend(q, kb, vb, hidden, groups, i, scale)
                h = a.attn_out(i, h, o)
            logits = None
            if need_logits:
                last = h[torch.arange(B, device=dev), n_new - 1]  # (B, d)
                logits = a.head(last).double()
        self.forwards += 1
        self.tokens_run += int(n_new.sum())
        self._remember(rows, buf)
        return logits

    @staticmethod
    def _groups(rows: list[_Row]) -> list[tuple[_Anchor, int, int]]:
        """Runs of rows with the same anchor: (anchor, first row, end row); rows come sorted by anchor."""
        out: list[tuple[_Anchor, int, int]] = []
        for r, row in enumerate(rows):
            if row.anchor is None:
                continue
            if out and out[-1][0] is row.anchor and out[-1][2] == r:
                out[-1] = (row.anchor, out[-1][1], r + 1)
            else:
                out.append((row.anchor, r, r + 1))
        return out

    @staticmethod
    def _attend(
        q: torch.Tensor,
        kb: torch.Tensor,
        vb: torch.Tensor,
        hidden: torch.Tensor,
        groups: list[tuple[_Anchor, int, int]],
        layer: int,
        scale: float,
    ) -> torch.Tensor:
        """Causal attention of q (B, H, T, d) over each row's anchor and its suffix buffer kb/vb (B, kvH, W, d);
        `hidden` (B, 1, G·T, W) marks the buffer keys a query may not see. Returns (B, T, H·d)."""
        B, H, T, d = q.shape
        kv = kb.shape[1]
        G = H // kv
        acc = torch.promote_types(q.dtype, torch.float32)  # softmax statistics of 16-bit models in float32
        qg = q.reshape(B, kv, G * T, d)  # head h = kv head h // G, as repeat_kv
        s = torch.matmul(qg, kb.transpose(-1, -2)).to(acc) * scale  # (B, kv, G·T, W)
        s.masked_fill_(hidden, float("-inf"))
        m = s.amax(-1)  # (B, kv, G·T)
        e = torch.exp(s - m[..., None])
        lsum = e.sum(-1)
        o = torch.matmul(e.to(vb.dtype), vb).to(acc)  # (B, kv, G·T, d)
        for anchor, a, b in groups:  # merge each anchor block (log-sum-exp), in place on the group's rows
            ka, va = anchor.kv[layer, 0], anchor.kv[layer, 1]  # (kv, L, d)
            n = b - a
            qa = qg[a] if n == 1 else qg[a:b].transpose(0, 1).reshape(kv, n * G * T, d)
            sa = torch.matmul(qa, ka.transpose(-1, -2)).to(acc) * scale  # (kv, n·G·T, L)
            ma = sa.amax(-1)
            ea = torch.exp(sa - ma[..., None])
            la = ea.sum(-1).view(kv, n, G * T).transpose(0, 1)
            oa = torch.matmul(ea.to(va.dtype), va).to(acc).view(kv, n, G * T, d).transpose(0, 1)  # (n, kv, G·T, d)
            ma = ma.view(kv, n, G * T).transpose(0, 1)
            mb = m[a:b]
            mm = torch.maximum(mb, ma)
            wa, wb = torch.exp(ma - mm), torch.exp(mb - mm)
            o[a:b] = oa * wa[..., None] + o[a:b] * wb[..., None]
            lsum[a:b] = la * wa + lsum[a:b] * wb
        o = (o / lsum[..., None]).to(q.dtype)
        return o.view(B, kv, G, T, d).permute(0, 3, 1, 2, 4).reshape(B, T, H * d)

    def _remember(self, rows: list[_Row], buf: torch.Tensor) -> None:
        """Cache every row's suffix (cached part + new tokens), and the anchors rows asked for."""
        for r, row in enumerate(rows):
            n = row.past + len(row.new)
            anchor_ids = row.anchor.ids if row.anchor is not None else None
            suffix = row.seq[row.start : row.start + n]
            if row.new_anchor:
                cut = row.new_anchor - row.start  # suffix tokens that join the new anchor
                parts = [row.anchor.kv] if row.anchor is not None else []
                kv = torch.cat(parts + [buf[:, :, r, :, :cut]], dim=3)
                self._store_anchor(row.seq[: row.new_anchor], kv)
                if n > cut:
                    self._store_entry(row.seq[: row.new_anchor], suffix[cut:], buf[:, :, r, :, cut:n].clone())
            else:
                self._store_entry(anchor_ids, suffix, buf[:, :, r, :, :n].clone())
