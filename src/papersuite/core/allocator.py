"""Keep freed memory in the process for reuse (glibc malloc), so that a training loop's same-sized temporaries are
not mapped and unmapped every iteration. A wing's training step calls it where it was measured to help (socm).

glibc serves allocations above its mmap threshold (dynamic, from 128 KiB) by mmap and returns them with munmap on
free, and trims the heap top above its trim threshold: a tiny SOCM iteration allocates and frees megabyte tensors
(the grid's activations, (N+1)·E·B·width floats) hundreds of times, and the fresh pages' faults cost 20-30% of a
training job's CPU time as system time (docs/papers/socm.md, "Tiny scale: sizes and speed"). Raising both
thresholds keeps those blocks in the heap. Elsewhere than glibc (macOS, musl) this does nothing. Applied to every
job of ttg, wfm and bytelm it changed nothing beyond noise (quiet benchmark: 243 s and 450 vs 445 CPU-s for the three
wings), so it is not applied by default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["retain_freed_memory"]

log = logging.getLogger("papersuite.core.allocator")

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit (HEAP_MAX_SIZE / 2)
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def retain_freed_memory() -> bool:
    """Raise glibc malloc's mmap threshold to 32 MiB and its trim threshold to 1 GiB; True where applied."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    log.debug("malloc thresholds raised: %s", applied)
    return applied
