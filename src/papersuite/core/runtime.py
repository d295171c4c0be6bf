"""Seeding, device choice, logging setup and wall-clock timing."""

from __future__ import annotations

import logging
import random
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch costs seconds to import; only the functions that use it import it
    import torch


__all__ = ["Stopwatch", "choose_device", "seed_everything", "setup_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("papersuite.runtime")

# Marks the handlers setup_logging installed, so a second call replaces them instead of adding more.
_OURS = "_papersuite_handler"


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA devices when present
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def freest_cuda_device() -> int:
    """Index of the visible GPU with the most free memory.

    Snakemake does not set CUDA_VISIBLE_DEVICES per job on a multi-GPU workstation, so jobs that
    queued for `gpu` resources spread themselves over the devices by free memory.
    """
    import torch

    count = torch.cuda.device_count()
    if count <= 1:
        return 0
    free = [torch.cuda.mem_get_info(index)[0] for index in range(count)]
    return max(range(count), key=free.__getitem__)


def choose_device(threads: int | None = None, prefer: str = "auto") -> torch.device:
    """CUDA when available and ``prefer`` is not ``"cpu"``, else CPU; set torch threads if given.

    ``prefer`` is ``"auto"``, ``"cuda"`` or ``"cpu"``; ``"cuda"`` without a GPU falls back to CPU
    with a warning (a full-scale config run on a laptop still works, just slowly).
    """
    import torch

    if prefer not in ("auto", "cuda", "cpu"):
        raise ValueError(f"prefer must be 'auto', 'cuda' or 'cpu', got {prefer!r}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    cuda = torch.cuda.is_available()
    if prefer == "cuda" and not cuda:
        log.warning("CUDA requested but not available; using CPU")
    if cuda and prefer != "cpu":
        device = torch.device("cuda", freest_cuda_device())
        log.info(
            "device: %s (%s), torch threads %d",
            device,
            torch.cuda.get_device_name(device),
            torch.get_num_threads(),
        )
    else:
        device = torch.device("cpu")
        log.info("device: cpu, torch threads %d", torch.get_num_threads())
    return device


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that is not available."""
    import os

    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    # field 22 (starttime, clock ticks after boot) counted after the ")" that ends the command name
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


# What `make bench` reads to report each job's start-up overhead.
STARTUP_MESSAGE = "job startup %.2f s (interpreter, Snakemake preamble and this step's imports)"


def setup_logging(log_path: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send root logging to ``log_path`` (if given) and stderr; idempotent; return the papersuite logger.

    A second call replaces the handlers of the first (closing its file), so calling it once per
    entry point never duplicates lines.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="a", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn from libraries lands in the log file too
    age = process_age_s()
    if age is not None and not getattr(setup_logging, "_startup_logged", False):
        setup_logging._startup_logged = True
        log.info(STARTUP_MESSAGE, age)
    return logging.getLogger("papersuite")


class Stopwatch:
    """Context manager measuring wall time; ``.elapsed`` is live inside the block, frozen after."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self._stop = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since entering (or between entering and leaving)."""
        if self._start is None:
            return 0.0
        end = self._stop if self._stop is not None else time.perf_counter()
        return end - self._start
