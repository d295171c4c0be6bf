"""Tiny GPT-2 token LMs trained from scratch (the learned toy and the
ensemble, docs/papers/bytelm.md "Experiments"): build, train, save, load.

No download: the architecture comes from ``transformers.GPT2Config``. A training example is a window of
``n_ctx`` tokens of a document stream that always starts at a document's leading end-of-text token, so
position 0 holds the BOS exactly as when the byte-level wrapper (``HFTokenLM(model, bos_id)``) scores a
document. Batches are drawn from torch's global RNG, which ``core.checkpoint`` saves, so an interrupted
run resumes bit-identically.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from papersuite.core import io
from papersuite.core.checkpoint import TrainingCheckpoints, resume_training, save_training
from papersuite.core.progress import progress
from papersuite.core.runtime import seed_everything

__all__ = [
    "ARCH_DEFAULTS",
    "TRAIN_DEFAULTS",
    "DocStream",
    "build_gpt2",
    "train_lm",
    "save_model",
    "load_model",
    "load_tokenizer",
]

log = logging.getLogger("papersuite.bytelm.models")

# Learned-toy size (bytelm.md "Scales": 2 layers, d=64, 2 heads, ctx 32); the ensemble overrides it (4 layers, d=128,
# ctx 256).
ARCH_DEFAULTS: dict[str, int] = {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_ctx": 32}

# AdamW with linear warmup then cosine decay to min_lr_frac·lr; the schedule depends on `steps` only.
TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 1000,
    "batch": 32,
    "lr": 3e-3,
    "warmup": 50,
    "min_lr_frac": 0.1,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "ckpt_every": 0,
}

MODEL_META = "papersuite_meta.json"
TOKENIZER_FILE = "tokenizer.json"


def merge_params(defaults: Mapping[str, Any], params: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``params`` over ``defaults``; an unknown key fails, naming ``what`` and the allowed keys."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {what} parameter(s) {unknown}; allowed: {sorted(defaults)}")
    return {**defaults, **params}


def build_gpt2(
    vocab_size: int, arch: Mapping[str, int] | None = None, seed: int | None = None, eos_id: int | None = None
) -> torch.nn.Module:
    """A randomly initialised ``GPT2LMHeadModel`` (no dropout); seeded when ``seed`` is given."""
    from transformers import GPT2Config, GPT2LMHeadModel

    a = merge_params(ARCH_DEFAULTS, arch, "architecture")
    if a["n_embd"] % a["n_head"]:
        raise ValueError(f"n_embd={a['n_embd']} is not divisible by n_head={a['n_head']}")
    config = GPT2Config(
        vocab_size=int(vocab_size),
        n_positions=a["n_ctx"],
        n_embd=a["n_embd"],
        n_layer=a["n_layer"],
        n_head=a["n_head"],
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        # GPT-2's tanh GELU as one fused kernel (torch's gelu(approximate="tanh")) instead of transformers'
        # "gelu_new", the same formula in five elementwise ops: equal within 1e-15 in float64, 5e-7 in float32;
        # a toy training step 35 -> 24 ms (bytelm.md "Tiny scale: sizes and speed")
        activation_function="gelu_pytorch_tanh",
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    if seed is not None:
        seed_everything(seed)
    model = GPT2LMHeadModel(config)
    model.eval()
    return model


class DocStream:
    """Documents concatenated as ``EOT d_1 EOT d_2 ... EOT`` (token ids); windows start at a document's EOT.

    ``sample(batch)`` draws ``batch`` document starts with ``torch.randint`` (the global RNG) and returns
    (batch, n_ctx) int64 windows; the stream is cycled so every window is full.
    """

    def __init__(self, docs: Sequence[Sequence[int]], eot_id: int, n_ctx: int) -> None:
        if not docs:
            raise ValueError("DocStream needs at least one document")
        parts, starts, pos = [], [], 0
        for d in docs:
            starts.append(pos)
            parts.append(np.asarray([eot_id, *d], dtype=np.int64))
            pos += len(d) + 1
        parts.append(np.asarray([eot_id], dtype=np.int64))
        stream = np.concatenate(parts)  # (N,)
        body = stream[:-1]  # EOT d_1 ... d_n; copies of it chain into EOT d_1 ... d_n EOT d_1 ...
        copies = 1 + -(-(n_ctx + 1) // len(body))  # a window from the last start stays inside the copies
        self.tokens = torch.from_numpy(np.concatenate([body] * copies + [stream[-1:]]))  # (copies·(N-1)+1,)
        self.starts = torch.as_tensor(starts, dtype=torch.int64)  # (n_docs,)
        self.n_ctx = int(n_ctx)
        self.n_tokens = int(len(stream))

    def sample(self, batch: int) -> Tensor:
        """(batch, n_ctx) windows starting at uniformly drawn document starts."""
        idx = torch.randint(len(self.starts), (batch,))
        offsets = self.starts[idx].unsqueeze(1) + torch.arange(self.n_ctx).unsqueeze(0)  # (B, n_ctx)
        return self.tokens[offsets]


def _lr(step: int, p: Mapping[str, Any]) -> float:
    """Learning rate at 0-based ``step``: linear warmup, cosine decay to ``min_lr_frac``·lr at ``steps``."""
    if step < p["warmup"]:
        return p["lr"] * (step + 1) / p["warmup"]
    frac = (step - p["warmup"]) / max(1, p["steps"] - p["warmup"])
    return p["lr"] * (p["min_lr_frac"] + (1 - p["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train_lm(
    model: torch.nn.Module,
    sample_batch: Callable[[int], Tensor],
    params: Mapping[str, Any] | None,
    seed: int,
    ckpt_dir: str | Path | None = None,
    desc: str = "bytelm lm",
    data_fingerprint: str = "",
) -> dict[str, Any]:
    """Next-token cross-entropy training of ``model`` on windows from ``sample_batch(batch) -> (B, T)``.

    Seeds the global RNGs with ``seed`` (call after building the model), resumes from ``ckpt_dir`` when a
    checkpoint of the same configuration (``params``, seed, architecture, ``data_fingerprint``) exists
    and saves every ``ckpt_every`` steps. Returns {"losses", "resumed_from", "wall_s"}.
    """
    p = merge_params(TRAIN_DEFAULTS, params, "training")
    seed_everything(seed)
    decay = [w for n, w in model.named_parameters() if w.dim() >= 2]
    no_decay = [w for n, w in model.named_parameters() if w.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": p["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=p["lr"],
        betas=(0.9, 0.95),
    )
    architecture = {name: list(w.shape) for name, w in model.named_parameters()}
    fingerprint = {"train": p, "seed": int(seed), "architecture": architecture, "data": data_fingerprint}
    run = TrainingCheckpoints(ckpt_dir, fingerprint, p["ckpt_every"])
    start, losses = resume_training(run, model, opt)
    if start:
        log.info("%s: resumed at step %d of %d", desc, start, p["steps"])
    t0 = time.perf_counter()
    model.train()
    for step in progress(range(start, p["steps"]), total=p["steps"] - start, desc=desc, logger=log):
        for group in opt.param_groups:
            group["lr"] = _lr(step, p)
        x = sample_batch(p["batch"])  # (B, T)
        loss = model(input_ids=x, labels=x).loss  # HF shifts the labels by one
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if p["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), p["grad_clip"])
        opt.step()
        losses.append(float(loss.detach()))
        save_training(run, step + 1, p["steps"], model, opt, losses)
    model.eval()
    return {"losses": losses, "resumed_from": start, "wall_s": time.perf_counter() - t0}


def save_model(out_dir: str | Path, model: torch.nn.Module, tokenizer: Any | None, meta: Mapping[str, Any]) -> Path:
    """Write ``save_pretrained`` weights (safetensors), ``tokenizer.json`` (a ``tokenizers.Tokenizer``; None for
    a tokenizer described by the metadata, e.g. the toy's MPE vocabulary) and our metadata as one atomic dir."""
    with io.atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save(str(Path(tmp) / TOKENIZER_FILE))
        io.write_json(Path(tmp) / MODEL_META, dict(meta))
    return Path(out_dir)


def load_tokenizer(model_dir: str | Path) -> Any | None:
    """The ``tokenizers.Tokenizer`` saved next to a model, None when there is none."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / TOKENIZER_FILE
    return Tokenizer.from_file(str(path)) if path.is_file() else None


def load_model(model_dir: str | Path) -> tuple[torch.nn.Module, Any, dict]:
    """(model in eval mode on CPU, tokenizers.Tokenizer or None, metadata) of a directory written by ``save_model``."""
    from transformers import GPT2LMHeadModel

    model_dir = Path(model_dir)
    if not (model_dir / MODEL_META).is_file():
        raise FileNotFoundError(f"{model_dir}: not a bytelm model directory (no {MODEL_META})")
    model = GPT2LMHeadModel.from_pretrained(model_dir)
    model.eval()
    return model, load_tokenizer(model_dir), io.read_json(model_dir / MODEL_META)
