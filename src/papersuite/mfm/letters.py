"""The synthetic letters of MFM (Atanackovic et al., ICLR 2025, "Synthetic letters"; docs/papers/mfm.md, "Data").

Each letter is rendered (the paper: Arial at font size 100 on a 200 × 200 canvas; here matplotlib's bundled DejaVu
Sans, as Arial does not ship offline), its lit pixels become points, centred and scaled so that the longer axis
spans [−3, 3] (aspect ratio kept), jittered with N(0, 0.05²) and rotated by θ ~ U[0, 2π). That cloud is the target
p1; the source p0 is p1 plus N(0, 0.5²) per point, index-aligned (population-dependent denoising). Splits: train =
every letter but X and Y, validation = X, test = Y, each × n_rotations.
"""

from __future__ import annotations

import math
import string
from pathlib import Path

import numpy as np
import torch

from .populations import Population

__all__ = ["font_path", "render_letter", "rotation_matrix", "letter_population", "letter_splits", "TRAIN_LETTERS"]

TRAIN_LETTERS = tuple(c for c in string.ascii_uppercase if c not in "XY")


def font_path() -> Path:
    """matplotlib's bundled DejaVu Sans (the paper used Arial)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def render_letter(letter: str, font_size: int = 100, canvas: int = 200) -> np.ndarray:
    """Points (n, 2) of the lit pixels of `letter`, centred, longer axis scaled to [−3, 3], y pointing up."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path()), font_size)
    image = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(image).text((canvas / 2, canvas / 2), letter, font=font, fill=255, anchor="mm")
    rows, cols = np.nonzero(np.asarray(image) > 0)
    pts = np.stack([cols, -rows], axis=1).astype(np.float64)  # (n, 2)
    lo, hi = pts.min(0), pts.max(0)
    return (pts - (lo + hi) / 2) / ((hi - lo).max() / 2) * 3.0


def rotation_matrix(theta: float) -> torch.Tensor:
    """The 2-D rotation by θ (2, 2)."""
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float32)


def letter_population(
    shape: np.ndarray, theta: float, gen: torch.Generator, n_points: int | None, jitter: float, noise: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) (n, 2) of one rotated letter: target = R_θ(shape + jitter), source = target + noise."""
    pts = torch.as_tensor(shape, dtype=torch.float32)
    if n_points is not None and n_points < len(pts):
        pts = pts[torch.randperm(len(pts), generator=gen)[:n_points]]
    pts = pts + jitter * torch.randn(pts.shape, generator=gen)
    target = pts @ rotation_matrix(theta).T
    return target + noise * torch.randn(target.shape, generator=gen), target


def letter_splits(params: dict, seed: int, font_size: int = 100, canvas: int = 200) -> dict[str, list[Population]]:
    """Populations of the splits "train", "val" (X) and "test" (Y): params n_rotations, n_points (None: every
    pixel), jitter (0.05), noise (0.5), train_letters (default all but X and Y). Train populations get ids 0..;
    validation and test populations are unseen (id −1)."""
    gen = torch.Generator().manual_seed(seed)
    letters = {"train": tuple(params.get("train_letters", TRAIN_LETTERS)), "val": ("X",), "test": ("Y",)}
    splits: dict[str, list[Population]] = {}
    for split, names in letters.items():
        pops = []
        for letter in names:
            shape = render_letter(letter, font_size, canvas)
            for r in range(int(params["n_rotations"])):
                theta = float(torch.rand((), generator=gen)) * 2 * math.pi
                src, tgt = letter_population(
                    shape, theta, gen, params.get("n_points"), params.get("jitter", 0.05), params.get("noise", 0.5)
                )
                index = len(pops) if split == "train" else -1
                pops.append(Population(source=src, target=tgt, index=index, name=f"{letter}{r}"))
        splits[split] = pops
    return splits
