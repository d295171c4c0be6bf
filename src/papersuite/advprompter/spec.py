"""What differs between the tiny world and the paper's hub models (the original's conf/prompter and conf/target_llm
configs, docs/papers/advprompter.md "Full scale"): a tokenizer's special ids, the target's chat template and refusal
keywords, LoRA's target modules, and the device tensors are made on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FULL_INSTRUCT = "{full_instruct}"  # where x ⊕ q goes in a template piece (the original's prompt_template key)
# LoRA target modules per architecture (paper Sec. 4: q_proj, v_proj and lm_head of Llama-2). GPT-2 fuses q/k/v in
# c_attn, so adapting it covers q_proj and v_proj (plus k).
LORA_MODULES = {
    "gpt2": ("c_attn", "lm_head"),
    "llama": ("q_proj", "v_proj", "lm_head"),
    "mistral": ("q_proj", "v_proj", "lm_head"),
}


@dataclass(frozen=True, eq=False)
class Vocab:
    """A tokenizers.Tokenizer with the special ids that prompts use; a tokenizer without a pad token pads with unk,
    else eos (the original's LLM wrapper: Llama has <s>, </s>, <unk> and no <pad>)."""

    tok: Any  # tokenizers.Tokenizer (a transformers tokenizer's .backend_tokenizer at full scale)
    bos_id: int
    eos_id: int
    pad_id: int
    special_ids: frozenset[int]  # never emitted by the prompter (the original's get_nonascii_toks adds them)
    clean_up_spaces: bool = False  # transformers' clean_up_tokenization on decoded text (the original decodes so)

    def encode(self, text: str) -> list[int]:
        """Token ids of a text without added special tokens (each piece is tokenized on its own, as in the original);
        special-token strings inside the text ("<s>" in Vicuna's template) still map to their ids."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """The text of ids, special tokens skipped (and the spaces before punctuation and English contractions
        removed when clean_up_spaces is set)."""
        text = self.tok.decode(list(ids))
        return clean_up_spaces(text) if self.clean_up_spaces else text

    @property
    def size(self) -> int:
        """Vocabulary size, added tokens included."""
        return self.tok.get_vocab_size()


# transformers' clean_up_tokenization: these spaced forms are joined when text is decoded
CLEANUPS = (" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're")


def clean_up_spaces(text: str) -> str:
    """Join punctuation and English contractions to the preceding word ("Sure , here" -> "Sure, here")."""
    for spaced in CLEANUPS:
        text = text.replace(spaced, spaced.lstrip(" ") if spaced != " ' " else "'")
    return text


def vocab_from_tokens(tok, bos: str, eos: str, pad: str | None = None, unk: str | None = None) -> Vocab:
    """A Vocab from special-token strings of a tokenizers.Tokenizer (pad falls back to unk, then eos)."""
    ids = {name: tok.token_to_id(s) for name, s in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)) if s}
    if ids.get("bos") is None or ids.get("eos") is None:
        raise ValueError(f"tokenizer lacks {bos!r} or {eos!r}")
    pad_id = next(ids[k] for k in ("pad", "unk", "eos") if ids.get(k) is not None)
    specials = frozenset(i for i in ids.values() if i is not None)
    return Vocab(tok, ids["bos"], ids["eos"], pad_id, specials)


def vocab_from_transformers(tokenizer) -> Vocab:
    """A Vocab from a transformers tokenizer (AutoTokenizer): its backend and its special-token attributes; decoded
    text is cleaned up as the original's batch_decode(clean_up_tokenization_spaces=True)."""
    pad = next(i for i in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id) if i is not None)
    named = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__}: no bos or eos token")
    specials = frozenset(i for i in (*named, pad) if i is not None)
    return Vocab(tokenizer.backend_tokenizer, tokenizer.bos_token_id, tokenizer.eos_token_id, pad, specials, True)


@dataclass(frozen=True)
class TargetSpec:
    """The target's prompt as template pieces, each tokenized on its own and concatenated (the original's
    prompt_template: system message, {full_instruct}, separator), and the keyword judge's refusal strings."""

    template: tuple[str, ...]
    refusal_keywords: tuple[str, ...]
    trigger: str | None = None  # the tiny world's trigger word, reported as the fraction of suffixes holding it

    def __post_init__(self):
        if sum(FULL_INSTRUCT in piece for piece in self.template) != 1:
            raise ValueError(f"exactly one template piece must hold {FULL_INSTRUCT}: {self.template}")
        if not self.refusal_keywords:
            raise ValueError("no refusal keyword")

    def prompt_text(self, full_instruct: str) -> str:
        """The prompt as one string (for reading; the ids come from prompt_ids)."""
        return "".join(piece.replace(FULL_INSTRUCT, full_instruct) for piece in self.template)

    def prompt_ids(self, vocab: Vocab, full_instruct: str) -> list[int]:
        """Target token ids of the prompt: each piece tokenized separately, no separator added (paper Sec. 3)."""
        return [i for piece in self.template for i in vocab.encode(piece.replace(FULL_INSTRUCT, full_instruct))]

    def is_jailbroken(self, response: str) -> bool:
        """Keyword judge: no refusal keyword occurs in the response (case-sensitive substring, the original's)."""
        return not any(k in response for k in self.refusal_keywords)


def read_keywords(path) -> tuple[str, ...]:
    """The refusal keywords of a data dir's refusal_keywords.csv (header `prefix`, one keyword a line)."""
    from pathlib import Path

    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != "prefix":
        raise ValueError(f"{path}: expected the header 'prefix'")
    return tuple(line for line in lines[1:] if line)


def full_instruct(ptok: Vocab, instruct: str, suffix: list[int]) -> str:
    """x ⊕ q as text: the prompter's ids of x then q, decoded together (the original's MergedSeq of instruct and
    suffix), so a suffix's leading space survives a decoder that strips it from a lone piece (Llama's)."""
    return ptok.decode(ptok.encode(instruct) + list(suffix))


def model_device(model):
    """The device of a model's parameters (where every tensor fed to it is made)."""
    return next(model.parameters()).device


def lora_modules(model) -> tuple[str, ...]:
    """LoRA's target modules for the model's architecture (config.model_type)."""
    kind = model.config.model_type
    if kind not in LORA_MODULES:
        raise ValueError(f"no LoRA target modules known for model_type {kind!r}; name them in config lora.modules")
    return LORA_MODULES[kind]
