"""Next-token training of a parametrized GPT on random windows of the token stream (Lotfi et al., NeurIPS 2024,
Section 5, nanoGPT-style: AdamW betas (0.9, 0.95), warmup then cosine decay, gradient clipping;
docs/papers/tokenbounds.md "Training"). Resumable through ``core.checkpoint``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papersuite.core.checkpoint import TrainingCheckpoints, data_digest, resume_training, save_training
from papersuite.core.progress import progress
from papersuite.core.runtime import seed_everything

__all__ = ["TRAIN_DEFAULTS", "learning_rate", "train_model"]

log = logging.getLogger("papersuite.tokenbounds.train")

TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 300,  # optimizer steps
    "batch": 16,  # windows per step
    "lr": 3e-3,  # peak learning rate (the paper's nanoGPT default is 6e-4 at 12 layers; SubLoRA uses 5e-3)
    "warmup": 30,  # linear warmup steps
    "min_lr_frac": 0.1,  # cosine decay to min_lr_frac * lr
    "weight_decay": 0.1,  # on matrices only
    "grad_clip": 1.0,
    "ckpt_every": 0,  # 0 = no checkpoints
}


def learning_rate(step: int, p: Mapping[str, Any]) -> float:
    """Linear warmup then cosine decay to ``min_lr_frac`` lr at ``steps`` (nanoGPT)."""
    if step < p["warmup"]:
        return p["lr"] * (step + 1) / p["warmup"]
    frac = min(1.0, (step - p["warmup"]) / max(1, p["steps"] - p["warmup"]))
    return p["lr"] * (p["min_lr_frac"] + (1 - p["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * frac)))


def train_model(
    model: torch.nn.Module,
    stream: np.ndarray,
    block_size: int,
    params: Mapping[str, Any] | None,
    seed: int,
    ckpt_dir: str | Path | None = None,
) -> list[float]:
    """Train the model's trainable tensors on random (block_size + 1)-token windows of ``stream``; per-step losses."""
    p = {**TRAIN_DEFAULTS, **dict(params or {})}
    unknown = sorted(set(p) - set(TRAIN_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown training key(s) {unknown}; allowed: {sorted(TRAIN_DEFAULTS)}")
    seed_everything(seed)
    trainable = [(n, w) for n, w in model.named_parameters() if w.requires_grad]
    groups = [
        {"params": [w for _, w in trainable if w.dim() >= 2], "weight_decay": p["weight_decay"]},
        {"params": [w for _, w in trainable if w.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=p["lr"], betas=(0.9, 0.95))
    fingerprint = {"train": p, "seed": int(seed), "block": block_size, "data": data_digest(stream)}
    run = TrainingCheckpoints(ckpt_dir, fingerprint, p["ckpt_every"])
    start, losses = resume_training(run, model, opt)
    model.train()
    for step in progress(range(start, p["steps"]), total=p["steps"] - start, desc="tokenbounds train", logger=log):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, p)
        starts = torch.randint(0, len(stream) - block_size - 1, (p["batch"],))
        idx = (starts[:, None] + torch.arange(block_size + 1)).numpy()  # (B, T + 1)
        win = torch.from_numpy(np.asarray(stream[idx], dtype=np.int64))  # a memory-mapped stream is read per window
        logits = model(win[:, :-1])  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([w for _, w in trainable], p["grad_clip"])
        opt.step()
        losses.append(float(loss.detach()))
        save_training(run, step + 1, p["steps"], model, opt, losses)
    model.eval()
    return losses
