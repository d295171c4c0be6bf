"""Stochastic Optimal Control Matching (Domingo-Enrich et al., NeurIPS 2024, arXiv:2312.02027)."""
