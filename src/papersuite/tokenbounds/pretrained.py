"""Pretrained GPT-2 for the post-training-quantization rows (Lotfi et al., NeurIPS 2024, Section 5.3 and Table 2:
OpenAI's GPT-2 124M/355M/774M quantized and coded, bounded on OpenWebText as a stand-in for WebText;
docs/papers/tokenbounds.md "Full scale").

A hub snapshot (fetched by the shared download_model rule on the login node) is loaded offline from safetensors,
and wrapped so that it looks like our GPT to the bound code: ``model(idx)`` returns logits (B, T, V). Every parameter
is trainable from the coder's point of view (none comes from a seed), so the whole model is quantized and coded;
tied weights (GPT-2's token embedding and head) are one parameter and are coded once.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["CausalLM", "load_pretrained"]


class CausalLM(nn.Module):
    """A transformers causal LM seen as ``idx (B, T) -> logits (B, T, V)`` in float32."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    def forward(self, idx: Tensor) -> Tensor:
        return self.hf(input_ids=idx).logits.float()


def load_pretrained(snapshot_dir: str | Path, device: torch.device | str = "cpu") -> CausalLM:
    """The snapshot's causal LM in eval mode on ``device``, read offline from safetensors (no pickle)."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(
        str(snapshot_dir), local_files_only=True, use_safetensors=True, torch_dtype=torch.float32
    )
    model = CausalLM(hf).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(True)  # every weight is coded (post-training quantization of the whole model)
    return model
