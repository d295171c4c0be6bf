"""Exact byte-level probabilities from tokenized LMs (Phan, Amos, Gat, Havasi, Muckley, Ullrich; ICLR 2025,
arXiv 2410.09303). What is reproduced, the data and every decision: docs/papers/bytelm.md.

Core (bytelm.md "Method"):
  alphabet  — the byte alphabet (256 bytes + EOS), GPT-2's byte <-> unicode map;
  boundary  — stable-boundary rules and the probes that check them against a tokenizer;
  tokenizer — ByteTokenizer: token byte strings, canonical encoding, stable boundary, validity masks;
  hf_tokenizer — ByteTokenizer.from_hf: Hugging Face byte-level and SentencePiece-style BPE;
  lm        — TokenLM protocol, HFTokenLM (KV-cached transformers model), TableTokenLM (exact table), step
              generators and their lock-step driver;
  kv_batch  — KVBatch: next-token logits of many sequences in one forward pass (shared anchor / suffix caches);
  byte_lm   — ByteLM: cover encodings, the BTR lemma and the one-call-per-byte recursion; sampling;
  batched   — byte-level decoding and scoring of many prompts at once, methods in lock-step ("Batched decoding");
  oracle    — Markov-chain sources, exact token LMs by enumeration, the tokenization-bias table ("Oracle");
  healing   — token healing and plain token decoding baselines;
  ensemble  — ByteEnsemble: byte-level mixture of models with different vocabularies.
Experiments: toy ("Learned toy"); corpus, ensemble_eval ("Ensemble"); smollm2, humaneval, midtoken ("Mid-token
completion"); fim, fim_layout ("FIM benchmark", full scale). Workflow entry points, one per rule: steps.
Decisions where the paper leaves room: docs/papers/bytelm.md "Decisions".
"""
