"""Tiny language models for the benign world (docs/papers/advprompter.md "Tiny world"): byte-level BPE tokenizers
trained offline (the prompter's differs from the target's, so the suffix crosses as text, paper Sec. 3) and small
GPT-2s built from config and trained from scratch."""

from __future__ import annotations

import random

BOS, EOS, PAD = "<s>", "</s>", "<pad>"  # ids 0, 1, 2 (the trainer adds special tokens first)


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE (lossless on any text) with <s>, </s>, <pad>; different corpora/sizes give different merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def encode(tok, text: str) -> list[int]:
    """Token ids of a text, without special tokens (each string is tokenized separately, as in the original)."""
    return tok.encode(text, add_special_tokens=False).ids


def build_gpt2(vocab_size: int, n_layer: int, n_embd: int, n_head: int, n_positions: int, seed: int):
    """A GPT-2 from config with untied embeddings (so LoRA can adapt lm_head alone)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions,
        tie_word_embeddings=False, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=1,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def pad_batch(seqs: list[list[int]], pad_id: int, device=None):
    """Right-pad id lists: ids (B, L) and mask (B, L), 1 on real tokens, made on `device` (default CPU)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


def train_lm(model, seqs: list[list[int]], loss_from: list[int], pad_id: int, cfg: dict, seed: int) -> list[float]:
    """Next-token training from scratch with Adam; seqs[i] contributes loss only on tokens at >= loss_from[i]."""
    import torch

    rng = random.Random(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    model.train()
    losses = []
    for _ in range(cfg["steps"]):
        idx = rng.sample(range(len(seqs)), min(cfg["batch_size"], len(seqs)))
        ids, mask = pad_batch([seqs[i] for i in idx], pad_id)  # (B, L)
        labels = ids.masked_fill(mask == 0, -100)
        for row, i in enumerate(idx):
            labels[row, : loss_from[i]] = -100
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def train_target(dialogs: list[tuple[str, str]], tok, cfg: dict, seed: int):
    """The tiny target LM: trained on (prompt, response</s>) dialogs, loss on the response only."""
    eos = tok.token_to_id(EOS)
    model = build_gpt2(tok.get_vocab_size(), **cfg["arch"], seed=seed)
    seqs, starts = [], []
    for prompt, response in dialogs:
        p = encode(tok, prompt)
        seqs.append(p + encode(tok, response) + [eos])
        starts.append(len(p))
    losses = train_lm(model, seqs, starts, tok.token_to_id(PAD), cfg, seed)
    return model, losses


def train_prompter_base(texts: list[str], tok, cfg: dict, seed: int):
    """The prompter's base LM: next-token model of <s> instruction + suffix texts."""
    bos = tok.token_to_id(BOS)
    model = build_gpt2(tok.get_vocab_size(), **cfg["arch"], seed=seed)
    seqs = [[bos] + encode(tok, t) for t in texts]
    losses = train_lm(model, seqs, [1] * len(seqs), tok.token_to_id(PAD), cfg, seed)
    return model, losses


def greedy_generate(model, vocab, prompts: list[list[int]], max_new_tokens: int) -> list[str]:
    """Greedy decoding of a batch of prompt ids (left-padded with vocab.pad_id on the model's device), stopping at
    vocab.eos_id; returns the decoded continuations."""
    import torch

    eos, pad = vocab.eos_id, vocab.pad_id
    device = next(model.parameters()).device
    width = max(len(e) for e in prompts)
    ids = torch.tensor([[pad] * (width - len(e)) + e for e in prompts], device=device)  # (B, L) left-padded
    starts = torch.tensor([width - len(e) for e in prompts], device=device)
    mask = (torch.arange(width, device=device)[None] >= starts[:, None]).long()  # (B, L)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=eos, pad_token_id=pad,
        )  # fmt: skip
    return [vocab.decode([t for t in row.tolist() if t not in (eos, pad)]) for row in out[:, width:]]
