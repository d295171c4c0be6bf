"""Shared fixtures of the bytelm tests (builders live in bytelm_helpers.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster single-threaded (spec bytelm_bounds.md A5); restore the count afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny():
    """(ByteTokenizer, HFTokenLM): byte-level BPE (V=300) and a random float64 tiny GPT-2."""
    from bytelm_helpers import tiny_setup

    return tiny_setup(300, seed=0)
