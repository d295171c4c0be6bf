"""Source and target distributions of the paper's transport experiments (Pooladian et al., UAI 2024,
Figs. 1–2; docs/papers/lagot.md, "Data"), each a sampler `(n, generator) -> (n, D)` drawing fresh samples.

Standard deviations are the authors' effective ones: their `Gaussian` draws mean + variance²·N(0, I), so the
"variance" 0.5 of the Euclidean Gaussians is a standard deviation of 0.25 (0.3 -> 0.09 on the circle; 0.2 -> 0.04
for the V-neck; 0.5 -> 0.25 for the S-tunnel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Sampler", "Uniform", "Gaussian", "GaussianMixture", "DATA", "samplers"]


class Sampler:
    """Draws n points (n, D) with the given torch generator."""

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Sampler):
    """Uniform on the box Π_d [low_d, high_d]."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        low, high = torch.tensor(self.low), torch.tensor(self.high)  # (D,)
        return low + (high - low) * torch.rand(n, len(self.low), generator=generator)


@dataclass(frozen=True)
class Gaussian(Sampler):
    """N(mean, std² I)."""

    mean: tuple[float, ...]
    std: float

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.tensor(self.mean) + self.std * torch.randn(n, len(self.mean), generator=generator)


@dataclass(frozen=True)
class GaussianMixture(Sampler):
    """Equal-weight mixture of N(scale·c_k, std² I) over centres c_k."""

    centers: tuple[tuple[float, ...], ...]
    scale: float
    std: float

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        centers = torch.tensor(self.centers)  # (K, D)
        k = torch.randint(len(self.centers), (n,), generator=generator)
        return self.scale * centers[k] + self.std * torch.randn(n, centers.shape[1], generator=generator)


_LINE_SOURCE = Uniform((-1.25, -1.0), (-1.0, 1.0))  # NLSB's line -> line data (the authors' lsb samplers)
_LINE_TARGET = Uniform((1.0, -1.0), (1.25, 1.0))
_R = 1.0 / math.sqrt(2.0)
_EIGHT = ((1, 0), (-1, 0), (0, 1), (0, -1), (_R, _R), (_R, -_R), (-_R, _R), (-_R, -_R))

DATA: dict[str, tuple[Sampler, Sampler]] = {
    "euclidean": (Gaussian((-1.0, 0.0), 0.25), Gaussian((0.0, 1.0), 0.25)),
    "box": (_LINE_SOURCE, _LINE_TARGET),
    "slit": (_LINE_SOURCE, _LINE_TARGET),
    "hill": (_LINE_SOURCE, _LINE_TARGET),
    "well": (_LINE_SOURCE, _LINE_TARGET),
    "babymaze": (_LINE_SOURCE, _LINE_TARGET),
    "gmm": (GaussianMixture(((0.0, 0.0),), 16.0, 1.0), GaussianMixture(_EIGHT, 16.0, 1.0)),
    "vneck": (Gaussian((-7.0, 0.0), 0.04), Gaussian((7.0, 0.0), 0.04)),
    "stunnel": (Gaussian((-11.0, -1.0), 0.25), Gaussian((11.0, -1.0), 0.25)),
    "circle": (Gaussian((-1.0, 0.0), 0.09), Gaussian((1.0, 0.0), 0.09)),
}


def samplers(name: str) -> tuple[Sampler, Sampler]:
    """(source, target) samplers of a transport experiment by its geometry name."""
    if name not in DATA:
        raise ValueError(f"no transport data for {name!r}; known: {sorted(DATA)}")
    return DATA[name]
