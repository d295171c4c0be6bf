"""A round trip through the real `openai` client to a live local server (docs/papers/oni.md, "Known answers"):
ordering, an empty batch, a timeout, server death, and the annotator worker over the wire."""

from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
from pathlib import Path

import openai
import pytest

from papersuite.oni.annotator import STOP, Annotator, AnnotatorServerError, annotator_process, run_worker
from papersuite.oni.prompts import (
    FIRST,
    SECOND,
    TIE,
    classification_prompt,
    parse_classification,
    parse_ranking,
    ranking_prompt,
)
from papersuite.oni.server import start_server, stop_server

RULE_SERVER = [sys.executable, str(Path(__file__).with_name("rule_server.py"))]
MESSAGES = ["5 gold pieces.", "It's a wall.", "You kill the newt!", "You hear bubbling water.", "$ - 10 gold pieces."]


@pytest.fixture
def server():
    proc, base_url = start_server(RULE_SERVER, ready_timeout=60)
    yield proc, base_url
    stop_server(proc)


def _client(base_url, timeout=10.0):
    return openai.OpenAI(base_url=base_url, api_key="EMPTY", timeout=timeout, max_retries=0)


def test_batch_of_five_comes_back_in_order_with_known_labels(server):
    _, base_url = server
    prompts = [classification_prompt(m) for m in MESSAGES]
    response = _client(base_url).completions.create(model="rule-based", prompt=prompts, temperature=0.1, max_tokens=64)
    assert [c.index for c in response.choices] == [0, 1, 2, 3, 4]
    assert [parse_classification(c.text) for c in response.choices] == [1, 0, 1, 0, 1]
    pairs = [("It's a wall.", "5 gold pieces."), ("You kill the newt!", "It's a wall."), ("a", "b")]
    ranked = _client(base_url).completions.create(model="rule-based", prompt=[ranking_prompt(*p) for p in pairs])
    assert [parse_ranking(c.text) for c in ranked.choices] == [SECOND, FIRST, TIE]


def test_empty_batch_gives_no_choices_and_an_idle_annotator_sends_nothing(server):
    _, base_url = server
    assert _client(base_url).completions.create(model="rule-based", prompt=[]).choices == []
    annotator = Annotator(_client(base_url), "rule-based", classification_prompt, parse_classification)
    assert annotator.annotate_next() == {} and annotator.stats.latencies == []


def test_a_slow_answer_times_out_after_the_retry_and_keeps_the_batch_pending(server):
    _, base_url = server
    annotator = Annotator(_client(base_url, timeout=0.5), "rule-based", classification_prompt, parse_classification)
    annotator.submit(["SLOW message"])
    with pytest.raises(AnnotatorServerError, match="failed 2 times"):
        annotator.annotate_next()
    assert list(annotator.pending) == ["SLOW message"] and annotator.labels == {}


def test_server_death_stops_the_worker_with_a_clear_error_and_keeps_received_labels(server):
    proc, base_url = server
    annotator = Annotator(_client(base_url), "rule-based", classification_prompt, parse_classification, batch_size=2)
    inbox, outbox = queue.Queue(), queue.Queue()
    worker = threading.Thread(target=run_worker, args=(annotator, inbox, outbox), daemon=True)
    worker.start()
    inbox.put(MESSAGES[:2])
    assert outbox.get(timeout=10) == {"5 gold pieces.": 1, "It's a wall.": 0}
    stop_server(proc)
    inbox.put(MESSAGES[2:])
    error = outbox.get(timeout=10)
    assert isinstance(error, AnnotatorServerError) and base_url in str(error)
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert annotator.labels == {"5 gold pieces.": 1, "It's a wall.": 0}
    assert set(annotator.pending) == set(MESSAGES[2:])


def test_worker_labels_everything_submitted_then_stops(server):
    _, base_url = server
    annotator = Annotator(_client(base_url), "rule-based", classification_prompt, parse_classification, batch_size=2)
    inbox, outbox = queue.Queue(), queue.Queue()
    worker = threading.Thread(target=run_worker, args=(annotator, inbox, outbox), daemon=True)
    worker.start()
    inbox.put(MESSAGES + MESSAGES[:2])  # the repeats are annotated once
    received: dict[str, int] = {}
    while len(received) < len(MESSAGES):
        received.update(outbox.get(timeout=10))
    inbox.put(STOP)
    worker.join(timeout=5)
    assert received == {m: int("gold" in m or "kill" in m) for m in MESSAGES}
    assert annotator.stats.labelled == 5 and annotator.stats.duplicates == 2


def test_annotator_subprocess_ranks_pairs_and_exits_on_stop(server):
    _, base_url = server
    ctx = multiprocessing.get_context("spawn")
    inbox, outbox = ctx.Queue(), ctx.Queue()
    args = (base_url, "rule-based", "ranking", inbox, outbox)
    worker = ctx.Process(target=annotator_process, args=args, kwargs={"batch_size": 2, "timeout": 10.0})
    worker.start()
    pairs = [("It's a wall.", "5 gold pieces."), ("You kill the newt!", "It's a wall."), ("a", "b")]
    inbox.put(pairs + pairs[:1])
    received: dict = {}
    while len(received) < 3:
        received.update(outbox.get(timeout=30))
    inbox.put(STOP)
    worker.join(timeout=10)
    assert worker.exitcode == 0
    assert received == {pairs[0]: SECOND, pairs[1]: FIRST, pairs[2]: TIE}
