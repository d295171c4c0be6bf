"""The annotation channel (paper Sec. 3, Fig. 1; docs/papers/oni.md, "Training system"): the live LLM server, a
subprocess, and the annotator subprocess that labels the learner's messages over HTTP, with its inbox and outbox."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from collections.abc import Mapping
from typing import Any

from .annotator import STOP, AnnotatorServerError, AnnotatorStats, annotator_process

__all__ = ["AnnotationChannel"]

log = logging.getLogger(__name__)


class AnnotationChannel:
    """The live LLM server (a subprocess started here) and the annotator subprocess with its two queues."""

    def __init__(
        self,
        server_command: list[str],
        annotator: Mapping[str, Any],
        ready_timeout: float,
        port: int | None = None,
        kind: str = "classification",
    ) -> None:
        from .server import start_server

        self.server, self.base_url = start_server(server_command, ready_timeout=ready_timeout, port=port)
        ctx = multiprocessing.get_context("spawn")
        self.inbox, self.outbox = ctx.Queue(), ctx.Queue()
        settings = dict(annotator)
        args = (self.base_url, settings.pop("model"), kind, self.inbox, self.outbox)  # kind: messages or pairs
        self.worker = ctx.Process(target=annotator_process, args=args, kwargs=settings, daemon=True)
        self.worker.start()
        self.stats: AnnotatorStats | None = None

    def submit(self, messages: list[str]) -> None:
        if messages:
            self.inbox.put(messages)

    def poll(self) -> list[dict[str, int]]:
        """Every label batch waiting; raises AnnotatorServerError when the annotator reported the server dead."""
        batches = []
        while True:
            try:
                item = self.outbox.get_nowait()
            except queue.Empty:
                return batches
            if isinstance(item, AnnotatorServerError):
                raise item
            if isinstance(item, AnnotatorStats):
                self.stats = item
            else:
                batches.append(item)

    def close(self, timeout: float) -> list[dict[str, int]]:
        """Stop the annotator after its request in flight (its labels and stats are drained; `timeout`: the
        request timeout plus a margin), then the server; no process stays."""
        from .server import stop_server

        batches: list[dict[str, int]] = []
        try:
            if self.worker.is_alive():
                self.inbox.put(STOP)
            deadline = time.monotonic() + timeout
            while self.stats is None and time.monotonic() < deadline and (self.worker.is_alive() or self._waiting()):
                try:
                    batches.extend(self.poll())
                except AnnotatorServerError as err:
                    log.error("annotator: %s", err)
                time.sleep(0.05)
        finally:
            self.worker.join(timeout=5)
            if self.worker.is_alive():
                self.worker.kill()
                self.worker.join()
            stop_server(self.server)
        return batches

    def _waiting(self) -> bool:
        return not self.outbox.empty()
