"""papersuite.core.progress: log lines for log files."""

import logging

from papersuite.core.progress import progress


def test_logs_every_item_with_zero_interval(caplog):
    with caplog.at_level(logging.INFO, logger="papersuite.progress"):
        assert list(progress(range(5), desc="train", log_every_s=0)) == [0, 1, 2, 3, 4]
    msgs = [r.getMessage() for r in caplog.records if r.name == "papersuite.progress"]
    assert [m.split(" (")[0] for m in msgs] == [f"train: {i}/5" for i in range(1, 6)]  # no duplicate end line
    assert msgs[-1].endswith("it/s, eta 0 s)")
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_logs_once_at_end_and_custom_logger(caplog):
    logger = logging.getLogger("papersuite.test_progress")
    with caplog.at_level(logging.INFO, logger="papersuite.test_progress"):
        out = list(progress(iter("abc"), total=3, desc="eval", log_every_s=1e9, logger=logger))
    assert out == ["a", "b", "c"]
    msgs = [r.getMessage() for r in caplog.records if r.name == "papersuite.test_progress"]
    assert len(msgs) == 1 and msgs[0].startswith("eval: 3/3 (")


def test_unknown_total(caplog):
    with caplog.at_level(logging.INFO, logger="papersuite.progress"):
        list(progress((i for i in range(2)), desc="gen", log_every_s=1e9))
    assert any(r.getMessage().startswith("gen: 2/? (") for r in caplog.records)
