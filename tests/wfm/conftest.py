"""Shared fixtures of the wfm tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Tiny models run faster single-threaded (spec wfm_mfm.md A5; tests/conftest.py)."""
