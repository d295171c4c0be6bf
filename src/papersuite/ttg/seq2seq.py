"""The tiny translator: a word-level tokenizer and a T5 (or BART) from a config, trained from scratch.

The tokenizer (a ``tokenizers`` WordLevel model) is trained on the run's own training text,
lower-cased, with digits split into single tokens so numbers are copied digit by digit. The T5 is
:class:`papersuite.ttg.t5.T5`, plain torch with transformers' parameter names and files; a BART is
built with transformers from a config. Either is trained with AdamW through
:func:`papersuite.ttg.training.run_loop` and saved with ``save_pretrained``. The paper's translator
is a fine-tuned Llama-3 70B (:mod:`.hub_lora`); why the tiny scale trains a small model instead is
in ``docs/papers/ttg.md``, "Scales".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from papersuite.core import checkpoint, io, runtime

from .batching import seq2seq_batches
from .training import fingerprint, run_loop, save_translator

__all__ = [
    "SPECIALS",
    "WordTokenizer",
    "build_seq2seq",
    "build_tokenizer",
    "droppable_ids",
    "encode",
    "words_of",
    "load_seq2seq",
    "train_seq2seq",
]

log = logging.getLogger("papersuite.ttg.translator")  # one logger for the translator's modules

SPECIALS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}


class WordTokenizer:
    """A ``tokenizers.Tokenizer`` with the part of transformers' tokenizer interface the translator
    uses (ids of texts, tokens, the vocabulary, the special tokens), saved as ``tokenizer.json``
    with a ``tokenizer_config.json`` that transformers' ``PreTrainedTokenizerFast`` also reads."""

    def __init__(self, tokenizer):
        self.backend = tokenizer
        self._vocab = tokenizer.get_vocab()
        self.pad_token_id, self.unk_token_id, self.bos_token_id, self.eos_token_id = (
            self._vocab[SPECIALS[k]] for k in ("pad_token", "unk_token", "bos_token", "eos_token")
        )
        self.all_special_tokens = list(SPECIALS.values())
        self._inverse = {i: t for t, i in self._vocab.items()}

    def __len__(self) -> int:
        return len(self._vocab)

    def __call__(self, texts, add_special_tokens: bool = False) -> dict[str, list]:
        """{"input_ids": ids} of one text or a list of texts (no special tokens are ever added)."""
        if isinstance(texts, str):
            return {"input_ids": self.backend.encode(texts, add_special_tokens=False).ids}
        return {"input_ids": [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]}

    def tokenize(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._inverse[int(i)] for i in ids]

    def save_pretrained(self, out_dir) -> None:
        self.backend.save(str(Path(out_dir) / "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **SPECIALS}
        io.write_json(Path(out_dir) / "tokenizer_config.json", config)

    @classmethod
    def from_pretrained(cls, model_dir) -> WordTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json")))


# Characters a WordPiece vocabulary always holds (alone and as "##" continuations), so a word of them is
# never [UNK], even one the training text never had.
ALPHABET = list("abcdefghijklmnopqrstuvwxyz0123456789$€£.,:;!?'()+-/&")


def build_tokenizer(texts: Sequence[str], kind: str = "word", keep=()) -> WordTokenizer:
    """A ``tokenizers`` tokenizer of ``texts``, lower-cased, digits one per token.

    ``word``: one token per word seen in ``texts``; any other word is [UNK]. ``wordpiece`` (issue #19,
    item 1): a WordPiece model whose vocabulary is every word of ``texts`` and ``keep`` (the targets'
    words: cities, months, keys) whole, plus the alphabet alone and as "##" continuations, so an unseen
    word is spelt in pieces ("zanzibar" -> "z ##a ##n ...") instead of [UNK] and a city or month is one
    token in source and target. Built, not trained: ``tokenizers``' WordPiece trainer picks different
    pieces in different processes, and the vocabulary must be a function of the text.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    specials = list(SPECIALS.values())
    normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token=SPECIALS["unk_token"]))
        tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
        trainer = trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1, show_progress=False)
        tok.train_from_iterator(list(texts), trainer=trainer)
    elif kind == "wordpiece":
        words = {w for text in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))}
        words |= {w for text in keep for w in text.split()} | set(ALPHABET) | {f"##{c}" for c in ALPHABET}
        vocab = {w: i for i, w in enumerate(specials + sorted(words - set(specials)))}
        tok = Tokenizer(models.WordPiece(vocab, unk_token=SPECIALS["unk_token"], max_input_chars_per_word=64))
        tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    else:
        raise ValueError(f"tokenizer must be 'word' or 'wordpiece', got {kind!r}")
    return WordTokenizer(tok)


def words_of(text: str) -> list[str]:
    """The lower-cased alphabetic words of ``text`` (what "a word the translator has seen" counts)."""
    import re

    return re.findall(r"[^\W\d_]+", text.lower())


def _t5(model: Mapping[str, Any], tokenizer):
    from .t5 import T5, t5_config

    net = T5(t5_config(model, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id))
    net.init_weights()
    return net


def _bart(model: Mapping[str, Any], tokenizer):
    from transformers import BartConfig, BartForConditionalGeneration

    from .hf_seq2seq import HFSeq2Seq

    config = BartConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
        d_model=int(model["d_model"]),
        encoder_layers=int(model["layers"]),
        decoder_layers=int(model["layers"]),
        encoder_attention_heads=int(model["heads"]),
        decoder_attention_heads=int(model["heads"]),
        encoder_ffn_dim=int(model["ffn"]),
        decoder_ffn_dim=int(model["ffn"]),
        max_position_embeddings=max(int(model["max_source_len"]), int(model["max_target_len"])) + 2,
        dropout=float(model["dropout"]),
        attention_dropout=0.0,
        activation_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id,
        forced_eos_token_id=None,
        scale_embedding=False,
    )
    return HFSeq2Seq(BartForConditionalGeneration(config))


def build_seq2seq(tokenizer, model: Mapping[str, Any]):
    """A T5 (:class:`papersuite.ttg.t5.T5`) or a BART (transformers) encoder-decoder from a tiny
    config, randomly initialised from the global torch RNG; both have ``loss``, ``greedy`` and
    ``save_pretrained``."""
    arch = model.get("arch", "t5")
    if arch == "t5":
        return _t5(model, tokenizer)
    if arch == "bart":
        return _bart(model, tokenizer)
    raise ValueError(f"model.arch must be 't5' or 'bart', got {arch!r}")


def load_seq2seq(model_dir):
    """A saved seq2seq translator: the T5 class here for a T5, transformers for anything else."""
    if io.read_json(Path(model_dir) / "config.json").get("model_type") == "t5":
        from .t5 import T5

        return T5.from_pretrained(model_dir)
    from .hf_seq2seq import HFSeq2Seq

    return HFSeq2Seq.from_pretrained(model_dir)


def encode(tokenizer, texts: Sequence[str], max_len: int, eos: bool = False) -> list[list[int]]:
    """Token ids of each text, truncated to ``max_len`` (an end token included with ``eos``)."""
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    tail = [tokenizer.eos_token_id] if eos else []
    return [x[: max_len - len(tail)] + tail for x in ids]


def droppable_ids(tokenizer, targets: Sequence[str]):
    """Bool mask over the vocabulary: the filler words word dropout may hide. Never a token of the
    targets (cities, digits, keys), a month or a number word: those carry the request."""
    import torch

    from .render import MONTH_NAMES, NUMBER_WORDS

    vocab = tokenizer.get_vocab()
    keep = {t for text in targets for t in tokenizer.tokenize(text)}
    keep |= {m.lower() for m in MONTH_NAMES} | {m[:3].lower() for m in MONTH_NAMES} | set(NUMBER_WORDS)
    keep |= set(tokenizer.all_special_tokens)
    mask = torch.zeros(len(tokenizer), dtype=torch.bool)
    for token, i in vocab.items():
        mask[i] = token not in keep and token.isalpha()
    return mask


def train_seq2seq(
    pairs, mcfg, tcfg, seed, train_jsonl, out_dir, out_curve_csv, ckpt_dir, threads, after_checkpoint: Callable
) -> dict:
    """Train the tiny seq2seq translator on ``pairs``; write it and its curve; return its metadata."""
    import torch

    device = runtime.choose_device(threads)
    runtime.seed_everything(seed)
    texts = [p["text"] for p in pairs]
    targets = [p["target"] for p in pairs]
    kind = str(mcfg.get("tokenizer", "word"))
    tokenizer = build_tokenizer(texts + targets, kind, keep=targets)
    src = encode(tokenizer, texts, int(mcfg["max_source_len"]))
    tgt = encode(tokenizer, targets, int(mcfg["max_target_len"]), eos=True)
    model = build_seq2seq(tokenizer, mcfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "seq2seq translator: %d pairs, vocabulary %d, %.2fM parameters, source length %d, target %d",
        len(pairs),
        len(tokenizer),
        n_params / 1e6,
        max(map(len, src)),
        max(map(len, tgt)),
    )
    # fused: one kernel for every tensor (the per-tensor loop costs about 1 ms a step at this size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]), fused=True
    )
    batch = int(tcfg["batch"])
    droppable = droppable_ids(tokenizer, targets) if float(tcfg["unk_prob"]) > 0 else None
    batches_for_epoch = seq2seq_batches(src, tgt, batch, seed, tokenizer, droppable, float(tcfg["unk_prob"]))

    def loss_fn(b):
        input_ids, mask, labels = (t.to(device) for t in b)
        return model.loss(input_ids, mask, labels)

    rows, wall = run_loop(
        model,
        optimizer,
        batches_for_epoch,
        math.ceil(len(pairs) / batch),
        tcfg,
        ckpt_dir,
        fingerprint(pairs, mcfg, tcfg, seed, train_jsonl),
        loss_fn,
        after_checkpoint,
    )
    meta = {
        "kind": "seq2seq",
        "train_pairs": len(pairs),
        "parameters": n_params,
        "vocabulary": len(tokenizer),
        "train_wall_s": wall,
        "steps": int(rows[-1][0]) if rows else 0,
        "device": str(device),
        "max_source_len": int(mcfg["max_source_len"]),
        "max_target_len": int(mcfg["max_target_len"]),
        "seed": int(seed),
        "final_loss": rows[-1][2] if rows else None,
        "tokenizer": kind,
        # the words of the training text, for the planner's "new words" warning (decoding.unknown_fraction)
        "known_words": sorted({w for text in texts for w in words_of(text)}),
    }
    save_translator(out_dir, out_curve_csv, rows, meta, model=model.cpu(), tokenizer=tokenizer)
    checkpoint.clear_checkpoints(ckpt_dir)
    log.info("trained in %.1f s, final loss %.4f", wall, meta["final_loss"] or float("nan"))
    return meta
