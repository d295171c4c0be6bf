"""Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos; ICML 2025, arXiv:2411.00698), spec wfm_mfm.md part A.

Gaussians (A1.2):
  bures       — Bures–Wasserstein geometry: closed-form OT map, BW² distance, McCann geodesic, Riemannian tangent
                target and loss, PSD-preserving exp-map Euler step, Hungarian minibatch pairing;
  data        — noise (Wishart) Gaussians, spiral and pbmc68k kNN Gaussians, .h5ad read/write, prepare_gaussians;
  models      — the two-tower network (mean tower, covariance tower, Fourier time features);
  train       — BW-FM and the Euclidean-FM baseline: resumable training, sampling, set-level W2, evaluation.
Point clouds (A1.1, A3):
  clouds      — padded variable-size clouds (digits, ShapeNet PC15k), noise clouds, .npz read/write;
  transformer — the permutation-equivariant masked transformer, optionally label-conditioned;
  pointcloud  — per-pair and minibatch OT pairing (papersuite.core.sinkhorn or exact), loss, training, sampling;
  metrics     — W2, Chamfer, EMD, 1-NNA, MMD, COV, nearest-cloud W2.
Spatial niches (A2, A5.3):
  niches      — MERFISH preprocessing, per-slice spatial kNN niches (squidpy), the semi-synthetic tissue,
                .h5ad read/write, label recovery.
Workflow:
  experiments — one entry point per Snakemake rule (prepare, train_run, evaluate_run);
  report      — tables and figures.
"""
