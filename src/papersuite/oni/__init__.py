"""ONI: online intrinsic rewards for decision-making agents from LLM feedback (Zheng, Henaff, Zhang, Grover, Amos;
RLC 2025, arXiv 2410.23022): NetHack messages labelled by an LLM server, distilled into a reward model
(docs/papers/oni.md)."""
