"""Meta Flow Matching (Atanackovic, Zhang, Amos, Blanchette, Lee, Bengio, Tong, Neklyudov; ICLR 2025, arXiv
2408.14608): flows conditioned on a GNN embedding of the initial population (docs/papers/mfm.md)."""
