"""One plotting style for every paper's figures, stable method colours, atomic PNG writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

from .io import atomic_path

__all__ = ["PALETTE", "apply_style", "method_colors", "save_figure"]

# Okabe-Ito (colour-blind safe) then the rest of tab10: enough for the largest paper (8 methods).
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#8c564b",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "legend.frameon": False,
}


def apply_style() -> None:
    """Select the Agg backend (headless cluster nodes) and set the shared rcParams."""
    matplotlib.use("Agg")
    from cycler import cycler  # matplotlib dependency

    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))


def method_colors(methods: Iterable[str]) -> dict[str, str]:
    """A colour per method name, independent of the order given.

    Each name hashes to a preferred palette slot (sha256, not ``hash()``, which is salted per
    process); collisions take the next free slot, names processed in sorted order, so a method
    keeps its colour across figures and papers whenever the palette is not crowded.
    """
    names = sorted(set(methods))
    taken: set[int] = set()
    colors: dict[str, str] = {}
    for name in names:
        slot = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colors[name] = PALETTE[slot]
    return colors


def save_figure(fig: Any, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (format from the suffix, PNG by default) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_path(path) as tmp:
            # explicit format: the temp name's suffix is ".tmp-xxxx", not the real one
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        plt.close(fig)
    return path
