"""Fixtures every test folder may use: torch thread counts (each folder's conftest picks its default)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread (tiny models run faster single-threaded); the count is restored afterwards."""
    yield from _threads(1)


@pytest.fixture
def two_threads() -> Iterator[None]:
    """Two torch threads (the suite's budgets are measured on 2 cores); the count is restored afterwards."""
    yield from _threads(2)
