"""Shared tiny fixtures: the two tokenizers (different merges), small random GPT-2s, the benign rows, the tiny
target's spec."""

from __future__ import annotations

import pytest
import torch

from papersuite.advprompter import lms, prompter, spec, world

ARCH = {"n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 96}


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Single-threaded (tests/conftest.py)."""


@pytest.fixture(scope="session")
def rows():
    return world.split_behaviours(world.make_behaviours(0))


@pytest.fixture(scope="session")
def tokenizers(rows):
    """(prompter, target) Vocabs: byte-level BPEs of different sizes on different corpora, <s> </s> <pad> first."""
    every = rows["train"] + rows["validation"] + rows["test"]
    ttok = lms.train_tokenizer([p + r for p, r in world.target_dialogs(every, 600, 0)], 400)
    ptok = lms.train_tokenizer(world.prompter_corpus(every, 600, 0), 300)
    return tuple(spec.vocab_from_tokens(t, lms.BOS, lms.EOS, pad=lms.PAD) for t in (ptok, ttok))


@pytest.fixture(scope="session")
def target_spec():
    """The tiny target's one-piece USER/ASSISTANT template, the 8 refusal keywords and the trigger."""
    return world.target_spec()


@pytest.fixture(scope="session")
def models(tokenizers):
    """(LoRA prompter with non-zero B, so adapter != base; random target), both in eval mode."""
    ptok, ttok = tokenizers
    target = lms.build_gpt2(ttok.size, **ARCH, seed=1)
    lora = prompter.add_lora(lms.build_gpt2(ptok.size, **ARCH, seed=2))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.3)
    return lora.eval(), target


@pytest.fixture(scope="session")
def trained_target(rows, tokenizers):
    """A target trained 100 Adam steps on refusal/compliance dialogs, with its loss curve (about 8 s wall)."""
    _, ttok = tokenizers
    cfg = {"arch": ARCH, "lr": 3e-3, "steps": 100, "batch_size": 16}
    return lms.train_target(world.target_dialogs(rows["train"], 400, 0), ttok.tok, cfg, seed=0)
