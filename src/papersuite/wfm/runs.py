"""What every wfm run writes, whatever its family: the trained model file and loss curve, the generated
samples, and the evaluation seed (docs/papers/wfm.md, "Pipeline")."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from papersuite.core import io
from papersuite.core.checkpoint import clear_checkpoints

__all__ = ["FAMILIES", "EVAL_SEED_OFFSET", "check_family", "eval_seed", "finish_run", "write_curve", "write_samples"]

FAMILIES = ("gaussians", "clouds", "niches")

# Generation seed = EVAL_SEED_OFFSET + training seed: a stream apart from the training seed's, fixed per run so
# that a rerun regenerates the same set.
EVAL_SEED_OFFSET = 1_000_003


def check_family(family: str) -> str:
    """`family` if it is one of FAMILIES; otherwise a ValueError naming it."""
    if family not in FAMILIES:
        raise ValueError(f"unknown wfm family {family!r}; expected one of {FAMILIES}")
    return family


def eval_seed(seed: int) -> int:
    """The seed of a run's evaluation draws (noise, masks, subsets) for training seed `seed`."""
    return EVAL_SEED_OFFSET + seed


def finish_run(
    state: dict, losses: list[float], out_model: str | Path, out_curve: str | Path, ckpt_dir: str | Path
) -> None:
    """Write a trained run's weights and metadata (torch.save, read back with weights_only) and its loss curve,
    atomically; then drop its checkpoints."""
    with io.atomic_path(out_model) as tmp:
        torch.save(state, tmp)
    write_curve(out_curve, losses)
    clear_checkpoints(ckpt_dir)


def write_curve(path: str | Path, losses: list[float]) -> None:
    """The loss curve as CSV (step, loss), atomically: the bytes pandas' to_csv writes (shortest float repr,
    NaN as an empty field), without importing pandas in a training job."""
    with io.atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["step", "loss"])
        for step, loss in enumerate(losses, start=1):
            loss = float(loss)
            writer.writerow([step, "" if loss != loss else repr(loss)])


def write_samples(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the generated samples of one run as an .npz (no pickled objects), atomically."""
    with io.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
