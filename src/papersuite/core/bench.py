"""The speed benchmark behind `make bench`: per wing, the tiny target from clean (wall, CPU, peak RSS),
its slowest jobs, each job's start-up overhead, and a machine-speed index so that two machines compare.

Wall times are never asserted in tests (a slower machine must not fail CI); they are measured here and
compared with the committed baseline (`bench/baseline.json`) as ratios, each divided by the ratio of the
two machines' speed indices.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

# Snakemake's run log: "[Mon Dec  7 02:54:31 2026]" then "rule <name>:" (or "localrule") ... "jobid: <n>",
# and later "[<time>]" then "Finished jobid: <n> (Rule: <name>)".
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
_STARTUP = re.compile(r"job startup ([0-9.]+) s")


def _stamp(text: str) -> float:
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y").timestamp()


def job_times(log_lines: Iterable[str]) -> list[dict[str, Any]]:
    """Wall seconds of every finished job in a Snakemake run log: {"rule", "wildcards", "wall_s"}."""
    started: dict[int, dict[str, Any]] = {}
    finished = []
    now, rule, current = None, None, None
    for line in log_lines:
        line = line.rstrip("\n")
        if match := _STAMP.match(line):
            now = _stamp(match.group(1))
        elif match := _START.match(line):
            rule = match.group(1)
        elif (match := _JOBID.match(line)) and rule is not None and now is not None:
            started[int(match.group(1))] = {"rule": rule, "wildcards": "", "start": now}
            current = int(match.group(1))
        elif (match := _WILDCARDS.match(line)) and rule is not None and current in started:
            started[current]["wildcards"] = match.group(1)
        elif (match := _FINISHED.match(line)) and now is not None:
            job = started.pop(int(match.group(1)), None)
            if job is not None:
                finished.append({"rule": job["rule"], "wildcards": job["wildcards"], "wall_s": now - job["start"]})
            rule = None
    return finished


def startup_seconds(log_dir: str | Path) -> list[float]:
    """The start-up overhead every job logged (core.runtime.setup_logging), from the job logs under log_dir."""
    found = []
    for path in sorted(Path(log_dir).rglob("*.log")):
        match = _STARTUP.search(path.read_text(errors="replace"))
        if match:
            found.append(float(match.group(1)))
    return found


def speed_index(repeats: int = 3) -> dict[str, float]:
    """Seconds of a fixed CPU workload (pure Python, numpy, one-thread torch), best of `repeats`.

    The same commit is about 2x slower on some machines of the same kind; dividing wall ratios by the
    ratio of these seconds makes figures from two machines comparable.
    """
    import numpy as np
    import torch

    torch.set_num_threads(1)

    def python_loop() -> None:
        total = 0
        for i in range(2_000_000):
            total += i * i % 7

    def numpy_work() -> None:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((400, 400))
        for _ in range(10):
            a = np.tanh(a @ a.T / 400)

    def torch_work() -> None:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(256, 256, generator=generator)
        for _ in range(200):
            a = torch.tanh(a @ a / 16)

    seconds = {}
    for name, work in (("python", python_loop), ("numpy", numpy_work), ("torch", torch_work)):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
        seconds[name] = best
    seconds["total"] = sum(seconds.values())
    return seconds


def slowest(jobs: Iterable[Mapping[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    return sorted((dict(job) for job in jobs), key=lambda job: -job["wall_s"])[:n]


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """Per wing: wall and CPU now / baseline, and the same divided by the machines' speed ratio."""
    if not baseline:
        return {}
    machine = current["speed_index"]["total"] / baseline["speed_index"]["total"]
    out = {}
    for wing, now in current["wings"].items():
        then = baseline["wings"].get(wing)
        if not then:
            continue
        wall, cpu = now["wall_s"] / then["wall_s"], now["cpu_s"] / then["cpu_s"]
        out[wing] = {"wall_ratio": wall, "cpu_ratio": cpu, "wall_ratio_same_machine": wall / machine}
    return out


def render_markdown(bench: Mapping[str, Any], ratios: Mapping[str, Mapping[str, float]]) -> str:
    """bench.md: the table `make bench` prints."""
    index = bench["speed_index"]
    lines = [
        f"# Tiny-scale benchmark ({bench['commit']}, --cores {bench['cores']})",
        "",
        f"Machine speed index: {index['total']:.2f} s of fixed CPU work (python {index['python']:.2f} s, "
        f"numpy {index['numpy']:.2f} s, torch {index['torch']:.2f} s); lower is faster.",
        "",
        "| wing | wall s | CPU s | peak RSS MB | jobs | start-up s per job (mean) | wall vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for wing, w in bench["wings"].items():
        ratio = ratios.get(wing, {}).get("wall_ratio_same_machine")
        vs = f"{ratio:.2f}x" if ratio is not None else "-"
        startup = f"{w['startup_mean_s']:.2f}" if w["startup_mean_s"] is not None else "-"
        sizes = f"{w['wall_s']:.0f}", f"{w['cpu_s']:.0f}", f"{w['peak_rss_mb']:.0f}", str(w["jobs"])
        cells = [wing, *sizes, startup, vs]
        lines.append("| " + " | ".join(cells) + " |")
    total = bench["total"]
    lines += ["", f"All wings: {total['wall_s']:.0f} s wall, {total['cpu_s']:.0f} s CPU.", ""]
    lines += ["## Slowest jobs", "", "| wing | rule | wildcards | wall s |", "|---|---|---|---|"]
    for job in bench["slowest_jobs"]:
        lines.append(f"| {job['wing']} | {job['rule']} | {job['wildcards']} | {job['wall_s']:.0f} |")
    timing = bench.get("socm_iteration_timing")
    if timing:
        lines += [
            "",
            f"## socm: seconds per training iteration at full scale on CPU ({timing['threads']} thread)",
            "",
            f"Quadratic OU easy, d = {timing['d']}, N = {timing['N']}, batch {timing['batch']}; median of "
            f"{timing['rounds']} rounds (the paper's Table 1 is per iteration on a V100).",
            "",
            "| method | s per iteration |",
            "|---|---|",
        ]
        for method, entry in timing["methods"].items():
            lines.append(f"| {method} | {entry['seconds_per_iteration']:.3f} |")
    return "\n".join(lines) + "\n"
