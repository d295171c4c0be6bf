"""The Instruction Translator: English request -> linearised symbolic request (paper: abstract, Fig. 2).

Two kinds, one interface (:func:`train_translator`, :class:`Translator`):

- ``seq2seq`` (tiny, :mod:`.seq2seq`): a small T5 or BART built with ``transformers`` from a
  config (no download) and a word-level tokenizer trained on the run's own training text, trained
  from scratch with AdamW.
- ``hub_lora`` (full, :mod:`.hub_lora`): the pretrained instruction LLM named in the config (the
  paper fine-tuned Llama-3 70B per a secondary source; the recipe is not retrievable), fine-tuned
  with LoRA on a GPU as a causal LM on "prompt + target".

Both train through the resumable loop of :mod:`.training` (checkpoints of model, optimizer,
scheduler position, data order and RNG state resume to the same weights as an uninterrupted run),
on batches from :mod:`.batching`; :mod:`.decoding` loads a trained translator and decodes. The
names of those modules that callers use are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from papersuite.core import runtime

from .batching import read_pairs, subset_pairs
from .decoding import Translator
from .hub_lora import PROMPT, causal_lm_example, train_hub_lora
from .seq2seq import SPECIALS, build_seq2seq, build_tokenizer, train_seq2seq
from .seq2seq import droppable_ids as _droppable_ids  # noqa: F401 - re-exported, tests import it from here
from .training import CURVE_COLUMNS

__all__ = [
    "CURVE_COLUMNS",
    "MODEL_DEFAULTS",
    "PROMPT",
    "SPECIALS",
    "TRAIN_DEFAULTS",
    "Translator",
    "build_seq2seq",
    "build_tokenizer",
    "causal_lm_example",
    "read_pairs",
    "subset_pairs",
    "train_translator",
]

MODEL_DEFAULTS: dict[str, Any] = {
    "kind": "seq2seq",
    "arch": "t5",  # t5 | bart
    "d_model": 64,
    "layers": 2,  # encoder and decoder layers each
    "heads": 4,
    "ffn": 128,
    "dropout": 0.0,
    "max_source_len": 160,
    "max_target_len": 64,
    "tokenizer": "word",  # word | wordpiece (seq2seq only; seq2seq.build_tokenizer)
    # hub_lora only
    "hub_model": None,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "lora_targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 15,
    "batch": 32,
    "lr": 2e-3,
    "weight_decay": 0.01,
    "warmup_steps": 100,
    "grad_accum": 1,
    "clip": 1.0,
    "checkpoint_every": 200,  # optimizer steps between resumable checkpoints (0: none)
    "log_every": 50,
    "min_steps": 0,  # small training subsets repeat epochs until this many steps (EM-vs-size curve)
    "unk_prob": 0.0,  # word dropout: replace source filler words by [UNK] with this probability
}


def _after_checkpoint(step: int) -> None:
    """Hook called after each checkpoint is written; tests patch it (here) to interrupt training."""


def _checkpoint_hook(step: int) -> None:
    _after_checkpoint(step)  # looked up at call time, so a patched hook takes effect


def train_translator(
    train_jsonl,
    model: Mapping[str, Any],
    train: Mapping[str, Any],
    seed: int,
    n_pairs: int | None,
    out_dir,
    out_curve_csv,
    ckpt_dir,
    threads: int = 1,
    log_path=None,
    hub_dir=None,
) -> dict:
    """Train a translator on ``n_pairs`` of a seeded subset of the training pairs (all for None);
    write it to ``out_dir`` (save_pretrained + translator.json) and its loss curve."""
    runtime.setup_logging(log_path)
    mcfg = {**MODEL_DEFAULTS, **dict(model)}
    tcfg = {**TRAIN_DEFAULTS, **dict(train)}
    pairs = subset_pairs(read_pairs(train_jsonl), n_pairs, seed)
    if not pairs:
        raise ValueError(f"{train_jsonl}: no training pairs")
    common = (pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads)
    if mcfg["kind"] == "seq2seq":
        return train_seq2seq(*common, after_checkpoint=_checkpoint_hook)
    if mcfg["kind"] == "hub_lora":
        if hub_dir is None:
            raise ValueError("a hub_lora translator needs hub_dir, the downloaded model snapshot")
        return train_hub_lora(*common, hub_dir, after_checkpoint=_checkpoint_hook)
    raise ValueError(f"model.kind must be 'seq2seq' or 'hub_lora', got {mcfg['kind']!r}")
