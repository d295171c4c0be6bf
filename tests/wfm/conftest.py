"""Shared fixtures of the wfm tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType

import pytest


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Tiny models run faster single-threaded (docs/papers/wfm.md, "Scales"; tests/conftest.py)."""


class _Preempted(Exception):
    pass


def _dies_at(stop: int):
    """Stand-in for core.progress whose loop dies when it reaches step `stop`."""

    def loop(iterable, **kwargs):
        for step in iterable:
            if step == stop:
                raise _Preempted
            yield step

    return loop


@pytest.fixture
def preempted_at():
    """preempted_at(module, stop): a context in which the training loop of `module` (which calls `progress`)
    dies on reaching step `stop`, as a killed job: the checkpoints written before that step stay behind."""

    @contextlib.contextmanager
    def kill(module: ModuleType, stop: int) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(module, "progress", _dies_at(stop))
            with pytest.raises(_Preempted):
                yield

    return kill
