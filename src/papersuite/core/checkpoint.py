"""Resumable training checkpoints: ``ckpt_dir/step_{step:08d}.pt`` with the RNG state and the
fingerprint of the configuration that wrote them (:class:`TrainingCheckpoints`).

Files are our own, but are still read with ``torch.load(weights_only=True)``: a checkpoint
directory is just a path on a shared filesystem, and weights_only never executes pickled code.
Everything stored is therefore tensors, numbers, strings, lists and dicts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_path
from .records import config_hash

__all__ = [
    "checkpoint_path",
    "clear_checkpoints",
    "list_checkpoints",
    "load_latest_checkpoint",
    "resume_training",
    "rng_state",
    "save_checkpoint",
    "save_training",
    "set_rng_state",
    "TrainingCheckpoints",
    "data_digest",
]

log = logging.getLogger("papersuite.checkpoint")

_NAME = re.compile(r"^step_(\d+)\.pt$")


def rng_state() -> dict:
    """Python ``random``, numpy global and torch (CPU, CUDA if present) RNG states, weights_only-safe."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),  # 625 values < 2**32
            "gauss_next": gauss_next,  # float or None
        },
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),  # uint32 has no torch peer
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the states captured by :func:`rng_state`."""
    py = state["python"]
    internal = tuple(int(v) for v in py["internal"].tolist())
    random.setstate((py["version"], internal, py["gauss_next"]))
    npy = state["numpy"]
    keys = np.asarray(npy["keys"].cpu().numpy(), dtype=np.uint32)
    np.random.set_state((npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) != torch.cuda.device_count():
            log.warning(
                "checkpoint has %d CUDA RNG states, %d devices present; restoring the overlap",
                len(cuda),
                torch.cuda.device_count(),
            )
        for i, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.cpu(), device=i)


def checkpoint_path(ckpt_dir: str | Path, step: int) -> Path:
    """``ckpt_dir/step_{step:08d}.pt``."""
    return Path(ckpt_dir) / f"step_{step:08d}.pt"


def list_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_*.pt`` in ``ckpt_dir``, oldest step first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(ckpt_dir: str | Path, step: int, state: dict, keep: int = 2) -> Path:
    """Write ``state`` plus ``"rng"`` and ``"step"`` to ``ckpt_dir/step_{step:08d}.pt`` atomically.

    Keeps the ``keep`` highest steps and deletes older ones. The keys ``"rng"`` and ``"step"`` are
    set here and override entries of the same name in ``state``.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    ckpt_dir = Path(ckpt_dir)
    path = checkpoint_path(ckpt_dir, step)
    payload = {**state, "rng": rng_state(), "step": int(step)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    # Temp files of a job killed mid-save (SIGKILL skips atomic_path's cleanup) would pile up.
    for stale in ckpt_dir.glob(".step_*.pt.tmp-*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    for _, old in list_checkpoints(ckpt_dir)[:-keep]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    log.debug("checkpoint saved: %s", path)
    return path


def load_latest_checkpoint(ckpt_dir: str | Path) -> dict | None:
    """The newest loadable checkpoint in ``ckpt_dir`` (on CPU), or None if there is none.

    A file that fails to load (truncated, corrupt) is skipped with a warning and the next older
    one is tried. The caller restores its state and calls ``set_rng_state(ckpt["rng"])``.
    """
    for step, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure means "try the older one"
            log.warning("skipping unreadable checkpoint %s: %s: %s", path, type(exc).__name__, exc)
            continue
        if not isinstance(ckpt, dict) or "rng" not in ckpt:
            log.warning("skipping checkpoint %s: not a papersuite checkpoint", path)
            continue
        log.debug("newest checkpoint: %s (step %d)", path, step)
        return ckpt
    return None


def clear_checkpoints(ckpt_dir: str | Path) -> None:
    """Remove ``ckpt_dir`` and everything in it (after the final outputs are written)."""
    shutil.rmtree(ckpt_dir, ignore_errors=True)


def data_digest(*arrays: Any, chunk: int = 1 << 26) -> str:
    """sha256 of the training data (tensors, arrays or lists of int sequences), for a fingerprint.

    Arrays are read ``chunk`` elements at a time, so a memory-mapped stream (tokenbounds' OpenWebText, about 9e9
    tokens) is hashed without loading it; the digest is the same as of the whole array's bytes.
    """
    digest = hashlib.sha256()
    for array in arrays:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        if isinstance(array, list | tuple):
            lengths = np.asarray([len(a) for a in array], dtype=np.int64)
            digest.update(lengths.tobytes())
            array = np.concatenate([np.asarray(a, dtype=np.int64) for a in array]) if array else lengths
        array = np.asarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        flat = array.reshape(-1)  # a view for contiguous arrays and memory maps
        for lo in range(0, flat.size, chunk):
            digest.update(np.ascontiguousarray(flat[lo : lo + chunk]).tobytes())
    return digest.hexdigest()


class TrainingCheckpoints:
    """The checkpoints of one training run, tied to the configuration that wrote them.

    Every wing's training loop resumes through this class. ``config`` is everything that changes
    the result (hyperparameters, seed, a digest of the input data); its hash is stored in each
    checkpoint, and a checkpoint written for another configuration is deleted with a log line,
    never resumed. ``ckpt_dir=None`` or ``every=0`` turns checkpointing off.

    Typical loop::

        run = TrainingCheckpoints(ckpt_dir, {"train": cfg, "seed": seed, "data": sha}, cfg["every"])
        ckpt = run.resume()  # RNG state restored; None when starting from step 0
        start = 0 if ckpt is None else ckpt["step"]
        for step in range(start, total):
            ...
            if run.due(step + 1, total):
                run.save(step + 1, {"model": model.state_dict(), ...})
        ...  # write the final outputs
        run.clear()
    """

    def __init__(self, ckpt_dir: str | Path | None, config: Mapping[str, Any], every: int):
        self.ckpt_dir = None if ckpt_dir is None else Path(ckpt_dir)
        self.every = int(every)
        self.fingerprint = config_hash(config)

    @property
    def enabled(self) -> bool:
        return self.ckpt_dir is not None and self.every > 0

    def resume(self, restore_rng: bool = True) -> dict | None:
        """The newest checkpoint written for this configuration, with the RNG state restored.

        Call it once every module is built (building draws from the RNG); a loop that must build
        more from the checkpoint first passes ``restore_rng=False`` and calls
        ``set_rng_state(ckpt["rng"])`` itself.
        """
        if not self.enabled:
            return None
        ckpt = load_latest_checkpoint(self.ckpt_dir)
        if ckpt is None:
            return None
        found = ckpt.get("fingerprint")
        if found != self.fingerprint:
            log.warning(
                "discarding checkpoints in %s: written for config %s, this run's config is %s; "
                "training restarts from step 0",
                self.ckpt_dir,
                found,
                self.fingerprint,
            )
            clear_checkpoints(self.ckpt_dir)
            return None
        if restore_rng:
            set_rng_state(ckpt["rng"])
        log.info("resuming from the checkpoint at step %d in %s", ckpt["step"], self.ckpt_dir)
        return ckpt

    def due(self, step: int, total: int) -> bool:
        """Whether to checkpoint after ``step`` of ``total`` steps: every ``every`` steps and at the end."""
        return self.enabled and (step % self.every == 0 or step == total)

    def save(self, step: int, state: dict) -> Path:
        """Write ``state`` (plus RNG state, step and fingerprint) as the checkpoint of ``step``."""
        if not self.enabled:
            raise RuntimeError("checkpointing is off (no ckpt_dir or every=0)")
        return save_checkpoint(self.ckpt_dir, step, {**state, "fingerprint": self.fingerprint})

    def clear(self) -> None:
        """Remove the checkpoints once the run's final outputs are written."""
        if self.ckpt_dir is not None:
            clear_checkpoints(self.ckpt_dir)


def resume_training(
    run: TrainingCheckpoints, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, list[float]]:
    """Restore model, optimizer, per-step losses and RNG state of a loop saved with
    :func:`save_training`; return (steps done, losses), or (0, []) when there is nothing to resume."""
    ckpt = run.resume()
    if ckpt is None:
        return 0, []
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return int(ckpt["step"]), [float(v) for v in ckpt["losses"].tolist()]


def save_training(
    run: TrainingCheckpoints,
    step: int,
    total: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    losses: list[float],
) -> None:
    """Checkpoint a model-plus-optimizer loop after ``step`` of ``total`` steps when it is due."""
    if not run.due(step, total):
        return
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "losses": torch.tensor(losses, dtype=torch.float64),
    }
    run.save(step, state)
