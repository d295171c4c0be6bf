"""Progress for long loops: a tqdm bar on a terminal, and periodic log lines for the log file."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress"]

T = TypeVar("T")

_default_log = logging.getLogger("papersuite.progress")


def _line(desc: str, i: int, total: int | None, elapsed: float) -> str:
    rate = i / elapsed if elapsed > 0 else 0.0
    if total is None:
        return f"{desc}: {i}/? ({rate:.1f} it/s)"
    eta = (total - i) / rate if rate > 0 else math.inf
    return f"{desc}: {i}/{total} ({rate:.1f} it/s, eta {eta:.0f} s)"


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    log_every_s: float = 5.0,
    logger: logging.Logger | None = None,
) -> Iterator[T]:
    """Yield from ``iterable`` with a tqdm bar and an INFO line at most every ``log_every_s`` s.

    The log line ``"{desc}: {i}/{total} ({rate:.1f} it/s, eta {eta:.0f} s)"`` is also emitted
    once at the end, so a log file shows progress even when stderr is not a terminal (Snakemake,
    Slurm). With an unknown ``total`` the line reads ``"{desc}: {i}/? ({rate:.1f} it/s)"``.
    """
    logger = logger or _default_log
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    # disable=None: tqdm turns itself off when stderr is not a tty, keeping log files clean.
    bar = tqdm(iterable, total=total, desc=desc, mininterval=1, file=sys.stderr, disable=None)
    start = last = time.perf_counter()
    i = 0
    logged_at = 0
    try:
        for item in bar:
            yield item
            i += 1
            now = time.perf_counter()
            if now - last >= log_every_s:
                logger.info(_line(desc, i, total, now - start))
                last, logged_at = now, i
    finally:
        bar.close()
    if logged_at != i or i == 0:
        logger.info(_line(desc, i, total, time.perf_counter() - start))
