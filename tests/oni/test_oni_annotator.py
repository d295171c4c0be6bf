"""Queue semantics of the annotator (docs/papers/oni.md, "Annotator"): the pending set de-duplicates, batches are
the newest items, back-pressure refuses items beyond max_pending."""

from __future__ import annotations

from papersuite.oni.annotator import Annotator


def _annotator(**kwargs):
    return Annotator(client=None, model="m", make_prompt=str, parse=int, **kwargs)


def test_duplicates_in_one_submission_and_across_submissions_are_queued_once():
    annotator = _annotator()
    assert annotator.submit(["a", "b", "a"]) == 2
    assert annotator.submit(["b", "c"]) == 1
    assert list(annotator.pending) == ["a", "b", "c"] and annotator.stats.duplicates == 2


def test_batches_take_the_newest_items_first():
    annotator = _annotator(batch_size=2)
    annotator.submit(["m1", "m2", "m3", "m4", "m5"])
    assert annotator.next_batch() == ["m5", "m4"]


def test_back_pressure_refuses_items_beyond_max_pending_and_labelled_items_are_not_requeued():
    annotator = _annotator(max_pending=3)
    assert annotator.submit(["a", "b", "c", "d", "e"]) == 3
    assert annotator.stats.refused == 2 and "d" not in annotator.pending
    annotator.labels["z"] = 1
    del annotator.pending["a"]
    assert annotator.submit(["z", "d"]) == 1 and "d" in annotator.pending


def test_pairs_are_items_too():
    annotator = _annotator()
    assert annotator.submit([("a", "b"), ("a", "b"), ("b", "a")]) == 2
