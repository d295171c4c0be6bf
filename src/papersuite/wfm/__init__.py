"""Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos; ICML 2025, arXiv:2411.00698); docs/papers/wfm.md.

Gaussians (the paper's Bures–Wasserstein FM):
  bures         — Bures–Wasserstein geometry: closed-form OT map, BW² distance, McCann geodesic, Riemannian
                  tangent target and loss, PSD-preserving exp-map Euler step, Hungarian minibatch pairing;
  data          — noise (Wishart) Gaussians, spiral and pbmc68k kNN Gaussians, .h5ad read/write;
  models        — the two-tower network (mean tower, covariance tower, Fourier time features);
  train         — BW-FM and the Euclidean-FM baseline: resumable training, sampling, set-level W2;
  gaussian_runs — one run: train, save, load, generate and score.
Point clouds (the paper's point-cloud WFM):
  clouds        — padded variable-size clouds (digits, ShapeNet PC15k), noise clouds, .npz read/write;
  transformer   — the permutation-equivariant masked transformer, optionally label-conditioned;
  pointcloud    — per-pair and minibatch OT pairing (papersuite.core.sinkhorn or exact), loss, training, sampling;
  metrics       — W2, Chamfer, EMD, 1-NNA, MMD, COV, nearest-cloud W2;
  cloud_runs    — one run on clouds or niches: train, save, load, generate and score.
Spatial niches (the paper's conditional generation of cellular microenvironments):
  spatial       — expression preprocessing, per-slice spatial kNN (squidpy), scaled niche clouds;
  merfish       — the MERFISH atlas of the WFM authors (full scale);
  tissue        — the semi-synthetic tissue of real pbmc68k cells (tiny scale);
  niches        — niche data sets: build, .h5ad read/write (re-exports the three above and recovery);
  recovery      — label recovery of generated niches by their nearest real niche under exact W2.
Workflow:
  steps         — one entry point per Snakemake rule wfm_<step>;
  runs          — the files every run writes (model, curve, samples) and the evaluation seed;
  report        — tables and figures.
"""
