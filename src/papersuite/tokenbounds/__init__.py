"""tokenbounds: Unlocking Tokens as Data Points for Generalization Bounds on Larger Language Models (Lotfi, Kuang,
Amos, Goldblum, Finzi, Wilson, NeurIPS 2024, arXiv:2407.18158).

Modules: bound (smoothed log-loss, the subsampled token-level bound, top-k and document-level bounds), sampler
(uniform tokens with in-document contexts), quantize (learned codebooks, straight-through quantization), coding
(arithmetic coding with constriction, message lengths), structured (Monarch and Kronecker layers), subspace (LoRA in
a random Kronecker-QR subspace), gpt (a nanoGPT-style GPT with the four parametrizations). docs/papers/tokenbounds.md
describes what is reproduced and every deviation.
"""
