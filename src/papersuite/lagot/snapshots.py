"""Snapshot data for metric learning, regenerated from the TRUE metrics (Pooladian et al., UAI 2024, after
Scarvelis & Solomon 2023's circle, mass-split and X-paths data; docs/papers/lagot.md, "Data: snapshots").

Each particle moves along an integral curve of the true metric's cheap direction v (metrics.py): there the metric
A = I − (1 − ε)vvᵀ costs ε|γ̇|², so with the data's ε = 0 these curves cost nothing: they are geodesics of the
true (degenerate) metric. We use their closed forms, not a neural ODE:
  circle: x₀ ~ N((1, 0), 0.1²I), rotated by 2πk/24, k = 0..24 (25 snapshots, the last equal to the first);
  vee:    x₀ ~ N(0, I), moved by (10k/9)·(1, sign x₀₂), k = 0..9 (10 snapshots; ends at (10, ±10) ± 1);
  xpath:  two streams of 100, x₀ ~ N((−1, ∓1), 0.1²I), moved by (2k/9)·(1, ±1), k = 0..9 (10 snapshots of 200).
Shapes match the original files (25×100, 10×100, 10×200; float64). The originals were made by fitting a
neural-ODE velocity field to such geodesics; ours are the exact curves, so they differ sample by sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["SNAPSHOT_SHAPES", "particle_positions", "make_snapshots"]

SNAPSHOT_SHAPES = {"circle": (25, 100), "vee": (10, 100), "xpath": (10, 200)}  # (snapshots, particles)
_STD = {"circle": 0.1, "vee": 1.0, "xpath": 0.1}


def _initial(name: str, n: int, generator: torch.Generator) -> Tensor:
    """Initial particles (n, 2) in float64."""
    noise = _STD[name] * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    if name == "circle":
        return torch.tensor([1.0, 0.0], dtype=torch.float64) + noise
    if name == "vee":
        return noise
    half = n // 2
    starts = torch.tensor([[-1.0, -1.0]] * half + [[-1.0, 1.0]] * (n - half), dtype=torch.float64)
    return starts + noise


def particle_positions(name: str, x0: Tensor, s: float | Tensor) -> Tensor:
    """Positions at progress s ∈ [0, 1] along the cheap-direction curves from x0 (n, 2): (n, 2), or (m, n, 2)
    for s of shape (m,)."""
    s = torch.as_tensor(s, dtype=x0.dtype).reshape(-1, 1, 1)  # (m, 1, 1)
    if name == "circle":
        angle = 2.0 * math.pi * s[..., 0]  # (m, 1)
        c, si = torch.cos(angle), torch.sin(angle)
        out = torch.stack([c * x0[:, 0] - si * x0[:, 1], si * x0[:, 0] + c * x0[:, 1]], dim=-1)
    elif name == "vee":
        direction = torch.stack([torch.ones_like(x0[:, 0]), torch.where(x0[:, 1] >= 0, 1.0, -1.0)], dim=-1)
        out = x0 + 10.0 * s * direction
    elif name == "xpath":
        half = x0.shape[0] // 2
        sign = torch.cat([torch.ones(half), -torch.ones(x0.shape[0] - half)]).to(x0.dtype)
        direction = torch.stack([torch.ones_like(sign), sign], dim=-1)
        out = x0 + 2.0 * s * direction
    else:
        raise ValueError(f"no snapshot data {name!r}; known: {sorted(SNAPSHOT_SHAPES)}")
    return out[0] if out.shape[0] == 1 else out


def make_snapshots(name: str, seed: int = 0) -> Tensor:
    """Snapshots (T, N, 2) in float64, deterministic from the seed (shapes of the original files)."""
    if name not in SNAPSHOT_SHAPES:
        raise ValueError(f"no snapshot data {name!r}; known: {sorted(SNAPSHOT_SHAPES)}")
    n_snapshots, n = SNAPSHOT_SHAPES[name]
    generator = torch.Generator().manual_seed(int(seed))
    x0 = _initial(name, n, generator)
    s = torch.linspace(0.0, 1.0, n_snapshots, dtype=torch.float64)
    snapshots = particle_positions(name, x0, s)  # (T, N, 2)
    if name == "circle":
        snapshots[-1] = snapshots[0]  # the closed loop: exactly the first snapshot
    return snapshots.contiguous()
