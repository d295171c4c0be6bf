"""Decision-focused datasets on disk: one npz per task and seed with every split (allow_pickle=False)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from papersuite.core.io import atomic_path

from .task import Split

__all__ = ["save_splits", "load_splits"]

_SEP = "/"


def save_splits(path: str | Path, splits: Mapping[str, Split]) -> Path:
    """Write ``splits`` to ``path`` atomically as npz: keys ``{split}/x``, ``{split}/y``, ``{split}/aux/{name}``."""
    arrays: dict[str, np.ndarray] = {}
    for name, split in splits.items():
        if _SEP in name:
            raise ValueError(f"split name {name!r} contains {_SEP!r}")
        arrays[f"{name}/x"] = split.x.detach().cpu().numpy()
        arrays[f"{name}/y"] = split.y.detach().cpu().numpy()
        for key, value in split.aux.items():
            if _SEP in key:
                raise ValueError(f"aux name {key!r} contains {_SEP!r}")
            arrays[f"{name}/aux/{key}"] = value.detach().cpu().numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def load_splits(path: str | Path) -> dict[str, Split]:
    """Read the splits written by :func:`save_splits`."""
    parts: dict[str, dict] = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            name, kind, *rest = key.split(_SEP)
            entry = parts.setdefault(name, {"aux": {}})
            value = torch.from_numpy(np.array(npz[key]))
            if kind == "aux":
                entry["aux"][rest[0]] = value
            elif kind in ("x", "y") and not rest:
                entry[kind] = value
            else:
                raise ValueError(f"{path}: unexpected array {key!r}")
    missing = [name for name, e in parts.items() if "x" not in e or "y" not in e]
    if missing:
        raise ValueError(f"{path}: splits {missing} lack x or y")
    return {name: Split(e["x"], e["y"], e["aux"]) for name, e in parts.items()}
