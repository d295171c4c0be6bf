"""Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos; arXiv:2411.00698), spec wfm_mfm.md part A.

Modules so far: bures (Bures–Wasserstein geometry of Gaussians: closed-form OT map, BW² distance,
McCann geodesic, Riemannian tangent target and loss, PSD-preserving exp-map Euler step).
"""
