"""A nanoGPT-style GPT with the paper's four parametrizations (Lotfi et al., NeurIPS 2024, Section 5 and Table 1;
docs/papers/tokenbounds.md "Models").

- ``dense``: every weight trained; the LM head is tied to the token embedding (nanoGPT).
- ``monarch``: attention (c_attn, c_proj) and the LM head are Monarch matrices; embeddings, MLPs and LayerNorms stay
  at their seeded initialisation (0 bits).
- ``kronecker``: the same layers are Kronecker products; the token embedding is tied to the Kronecker head.
- ``sublora``: LoRA (rank r) on the attention and the head of a seeded random model, its parameters in a random
  subspace of dimension d (``subspace.SubspaceModel``).
Frozen parts are reproducible from ``seed``, so only ``compress.trainable_vector`` is coded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from papersuite.tokenbounds.structured import KroneckerLinear, MonarchLinear
from papersuite.tokenbounds.subspace import LoRALinear, SubspaceModel

__all__ = ["PARAMETRIZATIONS", "ARCH_DEFAULTS", "GPT", "build_model", "n_trainable", "log_probs_at"]

PARAMETRIZATIONS = ("dense", "monarch", "kronecker", "sublora")

# nanoGPT shape keys; the structure keys: monarch_nblocks 4, kron_mode 4, LoRA rank 4 / alpha 32, intrinsic dim
ARCH_DEFAULTS: dict[str, Any] = {
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 128,
    "block_size": 256,
    "monarch_nblocks": 4,
    "kron_mode": 4,
    "lora_rank": 4,
    "lora_alpha": 32.0,
    "intrinsic_dim": 10_000,
}


def _linear(kind: str, d_in: int, d_out: int, arch: Mapping[str, Any]) -> nn.Module:
    """A d_in -> d_out map of the given kind (no bias, as nanoGPT with bias=False)."""
    if kind == "monarch":
        return MonarchLinear(d_in, d_out, arch["monarch_nblocks"])
    if kind == "kronecker":
        return KroneckerLinear(d_in, d_out, arch["kron_mode"])
    layer = nn.Linear(d_in, d_out, bias=False)
    nn.init.normal_(layer.weight, std=0.02)
    if kind == "sublora":
        return LoRALinear(layer, d_in, d_out, arch["lora_rank"], arch["lora_alpha"])
    return layer


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal self-attention then a GELU MLP."""

    def __init__(self, kind: str, arch: Mapping[str, Any]):
        super().__init__()
        d = arch["n_embd"]
        self.n_head = arch["n_head"]
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = _linear(kind, d, 3 * d, arch)
        self.c_proj = _linear(kind, d, d, arch)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d, bias=False), nn.GELU(), nn.Linear(4 * d, d, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, d) -> (B, T, d)."""
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)  # each (B, T, d)
        shape = (b, t, self.n_head, d // self.n_head)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))  # (B, H, T, d/H)
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token + position embeddings, blocks, final LayerNorm, LM head; forward gives logits (B, T, V)."""

    def __init__(self, vocab_size: int, kind: str, arch: Mapping[str, Any]):
        super().__init__()
        d = arch["n_embd"]
        self.kind, self.vocab_size = kind, vocab_size
        self.wpe = nn.Embedding(arch["block_size"], d)
        self.blocks = nn.ModuleList(Block(kind, arch) for _ in range(arch["n_layer"]))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = _linear(kind, d, vocab_size, arch)
        self.wte = nn.Embedding(vocab_size, d) if kind in ("monarch", "sublora") else None
        for emb in (self.wpe, self.wte):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.02)
        if kind == "dense":
            nn.init.normal_(self.lm_head.weight, std=0.02)

    def embed(self, idx: Tensor) -> Tensor:
        """Token embeddings (B, T, d): tied to the head for dense (its weight rows) and kronecker (its columns)."""
        if self.kind == "dense":
            return nn.functional.embedding(idx, self.lm_head.weight)
        if self.kind == "kronecker":
            return nn.functional.embedding(idx, self.lm_head.dense())  # (V, d): column t of U kron V
        return self.wte(idx)

    def forward(self, idx: Tensor) -> Tensor:
        """idx (B, T) int -> logits (B, T, V)."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.embed(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def build_model(vocab_size: int, kind: str, arch: Mapping[str, Any] | None = None, seed: int = 0) -> nn.Module:
    """A seeded model of one parametrization with everything outside its trainable part frozen."""
    if kind not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {kind!r}")
    a = {**ARCH_DEFAULTS, **dict(arch or {})}
    unknown = sorted(set(a) - set(ARCH_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown architecture key(s) {unknown}; allowed: {sorted(ARCH_DEFAULTS)}")
    torch.manual_seed(seed)
    model = GPT(vocab_size, kind, a)
    if kind in ("monarch", "kronecker"):  # only the structured layers are trained (Section 5)
        structured = (MonarchLinear, KroneckerLinear)
        keep = {id(p) for m in model.modules() if isinstance(m, structured) for p in m.parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in keep)
    if kind == "sublora":
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
        model = SubspaceModel(model, int(a["intrinsic_dim"]), seed=seed + 137)
    return model


def n_trainable(model: nn.Module) -> int:
    """Number of coded (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def log_probs_at(model: nn.Module, contexts: list[Tensor], targets: Tensor) -> tuple[Tensor, Tensor]:
    """log p(target | its context) (n,) and the target's rank (n,) (0 = argmax), for contexts of varying length.

    Contexts are right-padded: with causal attention the logits at each context's last position are unaffected.
    """
    device = next(model.parameters()).device
    lengths = torch.tensor([len(c) for c in contexts])
    batch = torch.zeros(len(contexts), int(lengths.max()), dtype=torch.long)  # (n, T)
    for i, c in enumerate(contexts):
        batch[i, : len(c)] = c
    rows = torch.arange(len(contexts), device=device)
    logits = model(batch.to(device))[rows, lengths.to(device) - 1]  # (n, V)
    logp = torch.log_softmax(logits.double(), dim=-1)
    target_logp = logp[rows, targets.to(device)]  # (n,)
    ranks = (logp > target_logp[:, None]).sum(dim=1)  # (n,)
    return target_logp.cpu(), ranks.cpu()
