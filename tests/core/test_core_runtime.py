"""papersuite.core.runtime: device, seeding, logging, stopwatch."""

import logging
import random
import sys
import time

import numpy as np
import pytest
import torch

from papersuite.core import runtime


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def test_choose_device_cpu_and_threads():
    before = torch.get_num_threads()
    try:
        assert runtime.choose_device(threads=2) == torch.device("cpu")  # no CUDA on this machine
        assert torch.get_num_threads() == 2
        assert runtime.choose_device(prefer="cpu").type == "cpu"
        assert runtime.choose_device(prefer="cuda").type == ("cuda" if torch.cuda.is_available() else "cpu")
        with pytest.raises(ValueError, match="prefer"):
            runtime.choose_device(prefer="tpu")
    finally:
        torch.set_num_threads(before)


def test_seed_everything_reproducible():
    runtime.seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.seed_everything(123)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def _ours():
    return [h for h in logging.getLogger().handlers if getattr(h, runtime._OURS, False)]


def test_setup_logging_idempotent_and_writes_file(tmp_path, restore_logging):
    log_file = tmp_path / "logs" / "run.log"
    logger = runtime.setup_logging(log_file)
    assert logger.name == "papersuite"
    runtime.setup_logging(log_file)
    assert len(_ours()) == 2  # stderr + file, not four
    logging.getLogger("papersuite.test").info("hello %d", 42)
    for h in _ours():
        h.flush()
    lines = [ln for ln in log_file.read_text().splitlines() if "hello 42" in ln]
    assert len(lines) == 1
    assert " INFO papersuite.test: hello 42" in lines[0]
    # a second path moves the file handler, closing the first
    other = tmp_path / "other.log"
    runtime.setup_logging(other)
    logging.getLogger("papersuite").warning("moved")
    for h in _ours():
        h.flush()
    assert "moved" in other.read_text() and "moved" not in log_file.read_text()
    runtime.setup_logging(None)
    assert len(_ours()) == 1 and _ours()[0].stream is sys.stderr


def test_stopwatch():
    with runtime.Stopwatch() as sw:
        time.sleep(0.02)
    frozen = sw.elapsed
    assert 0.015 < frozen < 2
    time.sleep(0.01)
    assert sw.elapsed == frozen
