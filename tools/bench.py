"""`make bench`: each wing's tiny target from clean, timed, beside the committed baseline.

For every paper in config/config.yaml, a fresh copy of the checkout runs `snakemake --cores N <id>` in a
child process of its own, so that the CPU seconds and peak RSS of its jobs are that wing's alone. Writes
results/tiny/bench.json and bench.md and prints the table. `--repo` benchmarks another checkout (for
example an older commit) with this tool; `--save-baseline` writes bench/baseline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))

from papersuite.core import bench  # noqa: E402

# Runs one command and prints its children's CPU seconds and peak RSS (a process of its own per wing).
_MEASURE = (
    "import json, resource, subprocess, sys, time;"
    "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode;"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t, 'cpu_s': u.ru_utime + u.ru_stime,"
    " 'peak_rss_mb': u.ru_maxrss / 1024}))"
)


def run_wing(repo: Path, wing: str, cores: int, work: Path) -> dict:
    copy = work / wing
    copy.mkdir()
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(repo / name, copy / name)
    (copy / "src").symlink_to(repo / "src")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = str(repo / "src")  # the benchmarked checkout's code, also for an older commit
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "snakemake", "--cores", str(cores), wing]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["rc"]:
        raise SystemExit(f"bench: the tiny {wing} target failed (logs under {copy / 'logs'})")
    run_logs = sorted((copy / ".snakemake" / "log").glob("*.log"))
    jobs = bench.job_times(run_logs[-1].read_text().splitlines()) if run_logs else []
    startup = bench.startup_seconds(copy / "logs")
    return {
        "wall_s": measured["wall_s"],
        "cpu_s": measured["cpu_s"],
        "peak_rss_mb": measured["peak_rss_mb"],
        "jobs": len(jobs),
        "startup_mean_s": sum(startup) / len(startup) if startup else None,
        "startup_total_s": sum(startup),
        "job_times": jobs,
    }


def socm_iteration_timing(repo: Path) -> dict | None:
    """Seconds per SOCM and adjoint training iteration at the full-scale quadratic OU easy setting on CPU (issue #20:
    the per-iteration figure beside the paper's Table 1); None for a checkout without the timing module."""
    if not (repo / "src" / "papersuite" / "socm" / "iteration_timing.py").exists():
        return None
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    command = [sys.executable, "-m", "papersuite.socm.iteration_timing", "--rounds", "3", "--threads", "1"]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: socm iteration timing failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def git_commit(repo: Path) -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout to benchmark (default: this one)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--papers", nargs="*", help="wings to run (default: config/config.yaml papers)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "tiny", help="where bench.json/md go")
    parser.add_argument("--save-baseline", action="store_true", help="also write bench/baseline.json")
    parser.add_argument("--keep", type=Path, help="keep each wing's run (results, logs) under this new folder")
    args = parser.parse_args()

    import yaml

    repo = args.repo.resolve()
    papers = args.papers or yaml.safe_load((repo / "config" / "config.yaml").read_text())["papers"]
    result = {"commit": git_commit(repo), "cores": args.cores, "date": time.strftime("%Y-%m-%d %H:%M")}
    result["speed_index"] = bench.speed_index()
    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: never mixes two benchmarks' runs
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="papersuite-bench-"))
    try:
        result["wings"] = {}
        for wing in papers:
            print(f"bench: {wing} ...", flush=True)
            result["wings"][wing] = run_wing(repo, wing, args.cores, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if "socm" in papers:
        print("bench: socm iterations at full scale ...", flush=True)
        result["socm_iteration_timing"] = socm_iteration_timing(repo)
    wings = result["wings"]
    result["total"] = {key: sum(w[key] for w in wings.values()) for key in ("wall_s", "cpu_s", "startup_total_s")}
    every_job = [{"wing": wing, **job} for wing, w in wings.items() for job in w["job_times"]]
    result["slowest_jobs"] = bench.slowest(every_job, 10)
    baseline_path = HERE / "bench" / "baseline.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None
    result["vs_baseline"] = bench.compare(result, baseline)
    result["baseline_commit"] = baseline["commit"] if baseline else None
    markdown = bench.render_markdown(result, result["vs_baseline"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "bench.md").write_text(markdown)
    if args.save_baseline:
        baseline_path.parent.mkdir(exist_ok=True)
        baseline_path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
