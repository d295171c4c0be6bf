"""Exact byte-level probabilities from tokenized LMs (Phan, Amos, Gat, Havasi, Muckley, Ullrich; ICLR 2025),
spec bytelm_bounds.md part A.

Core (A1):
  tokenizer — ByteTokenizer: token byte strings, canonical encoding, stable boundary, validity masks;
  lm        — TokenLM protocol, HFTokenLM (KV-cached transformers model), TableTokenLM (exact table);
  byte_lm   — ByteLM: cover encodings, the BTR lemma and the one-call-per-byte recursion; sampling;
  oracle    — Markov-chain sources, exact token LMs by enumeration, the tokenization-bias table (A-T1);
  healing   — token healing and plain token decoding baselines;
  ensemble  — ByteEnsemble: byte-level mixture of models with different vocabularies.
Experiments: toy, corpus, ensemble_eval (A-T2, A-T4); smollm2, humaneval, midtoken (A-T3); fim (FIM, full scale).
Decisions where the paper or the spec leaves room: NOTES.md.
"""
