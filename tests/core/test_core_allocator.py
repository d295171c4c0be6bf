"""The allocator setting every job applies through runtime.choose_device (core/allocator.py)."""

from __future__ import annotations

import platform

from papersuite.core.allocator import retain_freed_memory


def test_retaining_freed_memory_applies_on_glibc():
    """retain_freed_memory sets glibc's malloc thresholds (True on glibc, as on Linux CI); a no-op elsewhere."""
    applied = retain_freed_memory()
    assert applied == (platform.libc_ver()[0] == "glibc")
