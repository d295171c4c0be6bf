"""One population pair (p0, p1) and the minibatches drawn from a set of them (MFM, "Meta Flow Matching" objective;
docs/papers/mfm.md, "Method").

Coupling of the points of a minibatch: "paired" (letters: x0 is x1 plus noise, index-aligned), "independent"
(organoids, MFM: independent subsamples of control and treated cells), "ot" (organoid FM/CGFM baselines: the exact
OT plan between the two subsamples, then pairs resampled ∝ plan, the code's `ot_sample`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Population", "Batch", "COUPLINGS", "subsample", "sample_batch"]

COUPLINGS = ("paired", "independent", "ot")


@dataclass
class Population:
    """A source population (n0, D) and its evolved / treated target (n1, D).

    index: the population's id among the training populations (CGFM's one-hot), −1 when unseen;
    treatment: the treatment id (organoids' one-hot), −1 when there is none;
    source_extra: per-cell node features of the source for φ (organoids: the cell-type one-hot), (n0, c)."""

    source: Tensor
    target: Tensor
    index: int = -1
    treatment: int = -1
    source_extra: Tensor | None = None
    name: str = ""
    group: str = ""  # organoids: the culture (PDO, PDOF, F), for per-culture metrics


@dataclass
class Batch:
    """B populations of n points: the pairs x0, x1 (B, n, D), φ's input source points (B, n, D) and extras (B, n, c),
    the population ids and treatments (B,)."""

    x0: Tensor
    x1: Tensor
    source: Tensor
    source_extra: Tensor | None
    index: Tensor
    treatment: Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with every tensor on `device`."""
        extra = None if self.source_extra is None else self.source_extra.to(device)
        moved = (t.to(device) for t in (self.x0, self.x1, self.source))
        return Batch(*moved, extra, self.index.to(device), self.treatment.to(device))


def subsample(n_total: int, n: int) -> Tensor:
    """n indices out of n_total: without replacement when there are enough, with replacement otherwise."""
    if n_total >= n:
        return torch.randperm(n_total)[:n]
    return torch.randint(n_total, (n,))


def _ot_pairs(x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
    """n pairs (i, j) drawn ∝ the exact OT plan (squared-Euclidean cost) between x0 (n, D) and x1 (n, D)."""
    import ot

    a, b = x0.double().numpy(), x1.double().numpy()
    plan = ot.emd(np.full(len(a), 1.0 / len(a)), np.full(len(b), 1.0 / len(b)), ot.dist(a, b))  # (n, n)
    p = plan.reshape(-1) / plan.sum()
    flat = np.random.choice(p.size, size=len(a), p=p)
    return torch.from_numpy(flat // len(b)), torch.from_numpy(flat % len(b))


def sample_batch(populations: list[Population], n_populations: int, n_points: int, coupling: str) -> Batch:
    """A minibatch from the global RNGs (so a checkpoint's RNG state reproduces it): n_populations distinct
    populations, n_points pairs each."""
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
    chosen = torch.randperm(len(populations))[: min(n_populations, len(populations))]
    x0s, x1s, srcs, extras = [], [], [], []
    for i in chosen.tolist():
        pop = populations[i]
        i0 = subsample(len(pop.source), n_points)
        i1 = i0 if coupling == "paired" else subsample(len(pop.target), n_points)
        src, tgt = pop.source[i0], pop.target[i1]
        srcs.append(src)
        extras.append(None if pop.source_extra is None else pop.source_extra[i0])
        if coupling == "ot":
            j0, j1 = _ot_pairs(src, tgt)
            src, tgt = src[j0], tgt[j1]
        x0s.append(src)
        x1s.append(tgt)
    pops = [populations[i] for i in chosen.tolist()]
    return Batch(
        x0=torch.stack(x0s),
        x1=torch.stack(x1s),
        source=torch.stack(srcs),
        source_extra=None if extras[0] is None else torch.stack(extras),
        index=torch.tensor([p.index for p in pops]),
        treatment=torch.tensor([p.treatment for p in pops]),
    )
