"""Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos; arXiv:2411.00698), spec wfm_mfm.md part A.

Modules so far (part 1, BW flow matching over Gaussians):
  bures  — Bures–Wasserstein geometry: closed-form OT map, BW² distance, McCann geodesic, Riemannian tangent
           target and loss, PSD-preserving exp-map Euler step, Hungarian minibatch pairing;
  data   — noise (Wishart) Gaussians, spiral and pbmc68k kNN Gaussians, .h5ad read/write, prepare_gaussians;
  models — the two-tower network (mean tower, covariance tower, Fourier time features);
  train  — BW-FM and the Euclidean-FM baseline: resumable training, sampling, set-level W2, evaluation.
"""
