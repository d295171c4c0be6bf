"""Single-threaded torch for every mfm test (tests/conftest.py's one_thread)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Tiny models run faster on one thread; the count is restored afterwards."""
