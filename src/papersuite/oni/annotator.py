"""The LLM annotator: a pending set, newest-first batches, back-pressure, timeout and retry over the `openai` client
(ONI's LLMWorker, Sec. 3; docs/papers/oni.md, "Annotator")."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnnotatorServerError", "AnnotatorStats", "Annotator", "run_worker", "annotator_process", "STOP"]

STOP = "stop"  # the inbox item that ends run_worker


class AnnotatorServerError(RuntimeError):
    """The LLM server did not answer a batch after every retry (dead, or slower than the timeout)."""


@dataclass
class AnnotatorStats:
    """Throughput and latency of the annotation requests, and how many items were refused or deduplicated."""

    labelled: int = 0
    duplicates: int = 0
    refused: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per successful request


class Annotator:
    """Labels hashable items (a message, or a pair of messages) once each through an OpenAI-compatible server."""

    def __init__(
        self,
        client: Any,
        model: str,
        make_prompt: Callable[[Any], str],
        parse: Callable[[str], int],
        batch_size: int = 100,
        max_pending: int = 10_000,
        retries: int = 1,
        temperature: float = 0.1,
        max_tokens: int = 4096,
    ) -> None:
        self.client, self.model = client, model
        self.make_prompt, self.parse = make_prompt, parse
        self.batch_size, self.max_pending, self.retries = batch_size, max_pending, retries
        self.temperature, self.max_tokens = temperature, max_tokens
        self.labels: dict[Hashable, int] = {}
        self.pending: dict[Hashable, None] = {}  # insertion-ordered set: newest last
        self.stats = AnnotatorStats()

    def submit(self, items: Iterable[Hashable]) -> int:
        """Queue items neither labelled nor pending, refusing new ones once `max_pending` wait; returns the count."""
        queued = 0
        for item in items:
            if item in self.labels or item in self.pending:
                self.stats.duplicates += 1
            elif len(self.pending) >= self.max_pending:
                self.stats.refused += 1  # back-pressure: the item will be offered again when it reappears
            else:
                self.pending[item] = None
                queued += 1
        return queued

    def next_batch(self) -> list[Hashable]:
        """The newest `batch_size` pending items (the paper's worker takes the latest messages), newest first."""
        newest = list(self.pending)[-self.batch_size :][::-1]
        return newest

    def annotate_next(self) -> dict[Hashable, int]:
        """Label the next batch; on success the items leave `pending` and join `labels`. {} when nothing waits."""
        batch = self.next_batch()
        if not batch:
            return {}
        texts = self._complete([self.make_prompt(item) for item in batch])
        new = {item: self.parse(text) for item, text in zip(batch, texts)}
        for item in batch:
            del self.pending[item]
        self.labels.update(new)
        self.stats.labelled += len(new)
        return new

    def _complete(self, prompts: list[str]) -> list[str]:
        """One completions request for all prompts, retried `retries` times; texts in prompt order (by `index`)."""
        import openai

        errors = []
        for _ in range(self.retries + 1):
            start = time.perf_counter()
            try:
                response = self.client.completions.create(
                    model=self.model, prompt=prompts, temperature=self.temperature, max_tokens=self.max_tokens
                )
            except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as err:
                self.stats.failures += 1
                errors.append(f"{type(err).__name__}: {err}")
                continue
            self.stats.latencies.append(time.perf_counter() - start)
            choices = sorted(response.choices, key=lambda c: c.index)
            if [c.index for c in choices] != list(range(len(prompts))):
                raise AnnotatorServerError(f"server returned choices {[c.index for c in choices]} for {len(prompts)}")
            return [c.text for c in choices]
        raise AnnotatorServerError(f"LLM server at {self.client.base_url} failed {len(errors)} times: {errors[-1]}")


def run_worker(annotator: Annotator, inbox: Any, outbox: Any, idle_wait: float = 0.05) -> None:
    """The annotator loop: take submitted items from `inbox`, put each batch's labels on `outbox` as a dict.

    Ends on STOP. When the server fails it puts the AnnotatorServerError's text on `outbox` and returns, so the
    learner stops cleanly with every label already received (queue.Queue with a thread, or multiprocessing queues).
    Either way its last item is the AnnotatorStats (throughput and latency for the tables).
    """
    import queue

    while True:
        try:
            item = inbox.get(timeout=idle_wait) if not annotator.pending else inbox.get_nowait()
        except queue.Empty:
            item = None
        while item is not None:
            if item == STOP:
                outbox.put(annotator.stats)
                return
            annotator.submit(item)
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                item = None
        try:
            labels = annotator.annotate_next()
        except AnnotatorServerError as err:
            outbox.put(AnnotatorServerError(str(err)))
            outbox.put(annotator.stats)
            return
        if labels:
            outbox.put(labels)


def annotator_process(base_url: str, model: str, kind: str, inbox: Any, outbox: Any, **settings: Any) -> None:
    """Entry point of the annotator subprocess (the paper's LLMWorker): builds its own `openai` client, then
    run_worker. kind: "classification" (items are messages) or "ranking" (items are message pairs); settings:
    Annotator's, plus timeout, goal and prompt (the classification prompt's style)."""
    import openai

    from .prompts import (
        CLASSIFICATION_PROMPTS,
        SYSTEM_PROMPT,
        chat_llama3,
        parse_classification,
        parse_ranking,
        ranking_prompt,
    )

    timeout, goal = settings.pop("timeout", 60.0), settings.pop("goal", "defaultgoal")
    style = settings.pop("prompt", "paper")  # "paper" or "fewshot" (a raw completion for a small model)
    client = openai.OpenAI(base_url=base_url, api_key="EMPTY", timeout=timeout, max_retries=0)
    if kind == "classification":
        make_prompt, parse = (lambda m: CLASSIFICATION_PROMPTS[style](m, goal)), parse_classification
    elif kind == "ranking":
        wrap = (lambda text: chat_llama3(SYSTEM_PROMPT, text)) if style == "llama3" else (lambda text: text)
        make_prompt, parse = (lambda pair: wrap(ranking_prompt(pair[0], pair[1], goal))), parse_ranking
    else:
        raise ValueError(f"unknown annotation kind {kind!r}")
    run_worker(Annotator(client, model, make_prompt, parse, **settings), inbox, outbox)
