"""A trained translator at inference: load it, and decode English requests greedily.

The seq2seq kind can also decode constrained to the grammar of the linearised target
(:mod:`papersuite.ttg.grammar`): our addition for the planner and the "translator_constrained"
evaluation row; the paper's decoding is not known (``docs/papers/ttg.md``, "Reconstructions").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from papersuite.core import io, runtime

__all__ = ["Translator"]


class Translator:
    """A trained translator: ``translate(texts)`` -> linearised targets (greedy decoding)."""

    def __init__(self, model_dir, threads: int | None = None, device: str = "auto"):
        self.model_dir = Path(model_dir)
        meta_path = self.model_dir / "translator.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.model_dir}: no trained translator here (translator.json missing)")
        self.meta = io.read_json(meta_path)
        self.device = runtime.choose_device(threads, prefer=device)
        self.kind = self.meta["kind"]
        if self.kind == "seq2seq":
            self._load_seq2seq()
        elif self.kind == "hub_lora":
            self._load_hub_lora()
        else:
            raise ValueError(f"{meta_path}: unknown translator kind {self.kind!r}")
        self.model.eval()

    def _load_seq2seq(self) -> None:
        from .seq2seq import WordTokenizer, load_seq2seq

        self.tokenizer = WordTokenizer.from_pretrained(self.model_dir)
        self.model = load_seq2seq(self.model_dir).to(self.device)

    def _load_hub_lora(self) -> None:
        import os

        from peft import PeftModel

        from .hub_lora import load_base_model

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.tokenizer.padding_side = "left"
        base = load_base_model(self.meta["base_dir"], self.device)
        self.model = PeftModel.from_pretrained(base, self.model_dir)

    def unknown_fraction(self, text: str) -> float:
        """Share of the words of ``text`` the tokenizer has never seen (seq2seq only; 0 otherwise): words
        outside the training text where it was recorded (any tokenizer), else [UNK] tokens (word-level)."""
        if self.kind != "seq2seq":
            return 0.0
        if "known_words" in self.meta:
            from .seq2seq import words_of

            known, words = set(self.meta["known_words"]), words_of(text)
            return sum(w not in known for w in words) / max(len(words), 1)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return sum(i == self.tokenizer.unk_token_id for i in ids) / max(len(ids), 1)

    def _constraint(self, texts: Sequence[str], cities: Sequence[str]):
        """``allowed(rows, prefixes)`` of the target grammar for :meth:`papersuite.ttg.t5.T5.greedy`,
        cities restricted to those each text names."""
        from .grammar import END, allowed_next, mentioned_cities
        from .seq2seq import SPECIALS

        vocab = self.tokenizer.get_vocab()
        inverse = {i: t for t, i in vocab.items()}
        known = [c.lower() for c in cities if c.lower() in vocab]
        per_text = [[c for c in mentioned_cities(t, known)] or known for t in texts]
        eos, pad_id = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        skip = {self.tokenizer.bos_token_id, pad_id}

        def allowed_one(row: int, ids: list[int]) -> list[int]:
            prefix = [inverse[i] for i in ids if i not in skip]
            if prefix and prefix[-1] == SPECIALS["eos_token"]:
                return [pad_id, eos]
            tokens = allowed_next(prefix, per_text[row])
            allowed_ids = [eos if t == END else vocab[t] for t in tokens if t == END or t in vocab]
            return allowed_ids or [eos]

        def allowed(rows: list[int], prefixes: list[list[int]]) -> list[list[int]]:
            return [allowed_one(row, ids) for row, ids in zip(rows, prefixes)]

        return allowed

    def _translate_seq2seq(self, chunk: list[str], cities: Sequence[str] | None) -> list[str]:
        from .batching import pad
        from .seq2seq import SPECIALS, encode

        src = encode(self.tokenizer, chunk, int(self.meta["max_source_len"]))
        ids = pad([s or [self.tokenizer.unk_token_id] for s in src], self.tokenizer.pad_token_id)
        constraint = self._constraint(chunk, cities) if cities is not None else None
        gen = self.model.greedy(
            ids.to(self.device),
            (ids != self.tokenizer.pad_token_id).to(self.device),
            int(self.meta["max_target_len"]),
            allowed=constraint,
        )
        skip = (SPECIALS["bos_token"], SPECIALS["pad_token"])
        out = []
        for row in gen.tolist():
            words = []
            for t in self.tokenizer.convert_ids_to_tokens(row):
                if t == SPECIALS["eos_token"]:
                    break
                if t not in skip:
                    words.append(t)
            out.append(" ".join(words))
        return out

    def _translate_causal(self, chunk: list[str]) -> list[str]:
        from .hub_lora import PROMPT

        prompts = [PROMPT.format(text=t) for t in chunk]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
        gen = self.model.generate(
            **enc,
            max_new_tokens=int(self.meta["max_target_len"]) * 2,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = gen[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def translate(self, texts: Sequence[str], batch_size: int = 64, cities: Sequence[str] | None = None) -> list[str]:
        """Greedy decoding; with ``cities`` (the world's), constrained to the target grammar
        (:mod:`papersuite.ttg.grammar`; seq2seq only)."""
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunk = list(texts[i : i + batch_size])
                if self.kind == "seq2seq":
                    out.extend(self._translate_seq2seq(chunk, cities))
                else:
                    out.extend(self._translate_causal(chunk))
        return out
