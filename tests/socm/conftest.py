"""Fixtures of the SOCM tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _threads(two_threads):
    """The suite's budget is measured on 2 cores (tests/conftest.py)."""
