"""Compressed size C(h) of a model: quantize its trainable vector, arithmetic-code it, count the message (Lotfi et
al., NeurIPS 2024, Section 5; docs/papers/tokenbounds.md "Compression"). Frozen parts come from a seed and cost 0
bits, so only the trainable vector is coded. Post-training quantization applies the same to a pretrained model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from papersuite.tokenbounds import coding, quantize

__all__ = ["CompressedVector", "compress_vector", "trainable_vector", "post_training_quantize"]


@dataclass(frozen=True)
class CompressedVector:
    """A quantized, coded vector: symbols (n,), fp16 codebook (L,), message bits, and the decoded values (n,)."""

    symbols: np.ndarray
    codebook: np.ndarray
    message_bits: int
    payload_bits: int

    @property
    def values(self) -> np.ndarray:
        """The decoded vector codebook[symbols]."""
        return quantize.dequantize(self.symbols, self.codebook)


def compress_vector(v: np.ndarray, levels: int, lloyd_iters: int = 10) -> CompressedVector:
    """Quantize ``v`` to ``levels`` learned levels and arithmetic-code it (round trip checked)."""
    codebook = quantize.lloyd_codebook(v, levels, lloyd_iters)
    symbols = quantize.assign(v, codebook)
    coded, bits = coding.compress(symbols, levels)
    return CompressedVector(symbols, codebook, bits, coded.payload_bits)


def trainable_vector(model) -> np.ndarray:
    """The concatenated trainable parameters (requires_grad) of a torch module, (n,) float64."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    return torch.nn.utils.parameters_to_vector(params).detach().double().cpu().numpy()


def post_training_quantize(model, levels: int, lloyd_iters: int = 10) -> CompressedVector:
    """Quantize a model's trainable parameters in place (Section 5, pretrained GPT-2 rows) and return their code."""
    import torch

    comp = compress_vector(trainable_vector(model), levels, lloyd_iters)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = params[0]
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(comp.values, dtype=ref.dtype, device=ref.device), params)
    return comp
