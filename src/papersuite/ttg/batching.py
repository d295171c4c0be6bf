"""Training pairs and their batches: the seeded subset of a run, padding, and the batches of an epoch.

The data order of an epoch depends on (seed, epoch) only, so a resumed run sees the same batches as
an uninterrupted one (:func:`papersuite.ttg.training.run_loop`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["causal_lm_batches", "length_batches", "pad", "read_pairs", "seq2seq_batches", "subset_pairs"]


def read_pairs(path) -> list[dict]:
    """Rows of a pairs JSONL file (:func:`papersuite.ttg.render.render_requests`)."""
    from .sampling import read_requests

    return read_requests(path)


def subset_pairs(pairs: Sequence[dict], n: int | None, seed: int) -> list[dict]:
    """A seeded random subset of ``n`` training pairs (all of them for None or n >= len)."""
    if n is None or n >= len(pairs):
        return list(pairs)
    idx = np.sort(np.random.default_rng([int(seed), int(n)]).choice(len(pairs), size=int(n), replace=False))
    return [pairs[i] for i in idx]


def pad(seqs: Sequence[Sequence[int]], value: int):
    """A (len(seqs), longest) long tensor, right-padded with ``value``."""
    import torch

    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.full((len(seqs), int(lengths.max(initial=0))), value, dtype=np.int64)
    out[np.arange(out.shape[1]) < lengths[:, None]] = np.fromiter(
        (t for s in seqs for t in s), dtype=np.int64, count=int(lengths.sum())
    )  # row-major: row by row, each row's tokens in order
    return torch.from_numpy(out)


def length_batches(src: Sequence[Sequence[int]], batch: int, seed: int, pool: int = 16) -> list[list[int]]:
    """Batches of similar source length (less padding): shuffle, sort within pools of ``pool``
    batches, then shuffle the batches; depends on ``seed`` only."""
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(src), generator=g).tolist()
    batches = []
    for i in range(0, len(perm), batch * pool):
        chunk = sorted(perm[i : i + batch * pool], key=lambda j: len(src[j]))
        batches += [chunk[k : k + batch] for k in range(0, len(chunk), batch)]
    order = torch.randperm(len(batches), generator=g).tolist()
    return [batches[k] for k in order]


def seq2seq_batches(
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    batch: int,
    seed: int,
    tokenizer,
    droppable,
    unk_prob: float,
) -> Callable[[int], list]:
    """``epoch -> [(input_ids, attention_mask, labels)]`` of the seq2seq: length-bucketed batches;
    with a ``droppable`` vocabulary mask, word dropout hides those source tokens as [UNK] with
    probability ``unk_prob`` (its own generator per epoch)."""
    import torch

    pad_id = tokenizer.pad_token_id

    def batches_for_epoch(epoch: int):
        out = []
        g = torch.Generator().manual_seed(int(seed) * 7919 + epoch)
        for idx in length_batches(src, batch, int(seed) * 100003 + epoch):
            input_ids = pad([src[j] for j in idx], pad_id)
            if droppable is not None:
                drop = (torch.rand(input_ids.shape, generator=g) < unk_prob) & droppable[input_ids]
                input_ids = input_ids.masked_fill(drop, tokenizer.unk_token_id)
            labels = pad([tgt[j] for j in idx], -100)
            out.append((input_ids, input_ids != pad_id, labels))
        return out

    return batches_for_epoch


def causal_lm_batches(examples: Sequence[tuple[list[int], list[int]]], batch: int, seed: int, pad_id: int):
    """``epoch -> [(input_ids, attention_mask, labels)]`` of a causal LM: a seeded shuffle per epoch,
    right-padded (labels with -100)."""
    import torch

    def batches_for_epoch(epoch: int):
        perm = torch.randperm(len(examples), generator=torch.Generator().manual_seed(int(seed) * 100003 + epoch))
        out = []
        for i in range(0, len(examples), batch):
            idx = perm[i : i + batch].tolist()
            ids = pad([examples[j][0] for j in idx], pad_id)
            labels = pad([examples[j][1] for j in idx], -100)
            mask = pad([[1] * len(examples[j][0]) for j in idx], 0)
            out.append((ids, mask, labels))
        return out

    return batches_for_epoch
