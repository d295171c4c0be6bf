"""Fixtures of the TTG tests: a small seeded world, shared by every test module."""

from __future__ import annotations

import pytest

from papersuite.ttg.world import generate_world, tables_from_world
from ttg_helpers import SMALL_WORLD


@pytest.fixture(autouse=True)
def _threads(two_threads):
    """The suite's budget is measured on 2 cores (tests/conftest.py)."""


@pytest.fixture(scope="session")
def small_world():
    return generate_world(SMALL_WORLD, seed=0)


@pytest.fixture(scope="session")
def tables(small_world):
    return tables_from_world(small_world)
