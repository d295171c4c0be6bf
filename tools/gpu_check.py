"""`make gpu-check`: every wing's tiny target on a CUDA GPU, checked against the same target on the CPU.

Two copies of this checkout run `snakemake --cores N` at tiny scale: one sees the GPU, the other runs
with CUDA_VISIBLE_DEVICES="" (so core.runtime.choose_device picks the CPU). The check fails when a job
fails on the GPU (a CPU-only assumption in device placement, dtype or threads), when a GPU record
does not say it ran on cuda (a job that silently stayed on the CPU), or when a claim's verdict differs
between the two runs. It prints one line per claim and writes results/tiny/gpu_check.json here.

Needs a CUDA build of torch and a GPU; CI never runs it. Exit codes: 0 agree, 1 disagree, 2 no GPU.
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

REPO = Path(__file__).resolve().parents[1]
# What a copy needs; results, logs and the venv stay behind (the venv is used in place).
COPIED = ("workflow", "config", "profiles", "src")


def copy_checkout(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in COPIED:
        shutil.copytree(REPO / name, dest / name)
    return dest


def run_tiny(repo: Path, cores: int, gpu: bool) -> float:
    """The default target at tiny scale in `repo`; returns its wall seconds."""
    env = dict(os.environ)
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--config", "scale=tiny"]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-8000:])
        raise SystemExit(f"the tiny run on the {'GPU' if gpu else 'CPU'} failed (logs under {repo / 'logs'})")
    return time.perf_counter() - start


def verdicts(repo: Path) -> dict[str, str]:
    claims = json.loads((repo / "results" / "tiny" / "claims.json").read_text())["claims"]
    return {f"{c['paper']}/{c['id']}": c["status"] for c in claims}


def record_devices(repo: Path) -> dict[str, str]:
    """Device of every metrics record of the run, by path."""
    return {
        str(path.relative_to(repo)): json.loads(path.read_text()).get("device", "")
        for path in sorted((repo / "results" / "tiny").glob("*/metrics/**/*.json"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=4, help="snakemake --cores for each run")
    parser.add_argument("--keep", action="store_true", help="keep the two copies (their path is printed)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device visible to torch {torch.__version__}; nothing to check")
        return 2
    print(f"gpu-check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    work = Path(tempfile.mkdtemp(prefix="papersuite-gpu-check-"))
    gpu_repo, cpu_repo = copy_checkout(work / "gpu"), copy_checkout(work / "cpu")
    wall = {"gpu": run_tiny(gpu_repo, args.cores, gpu=True), "cpu": run_tiny(cpu_repo, args.cores, gpu=False)}
    on_gpu, on_cpu = verdicts(gpu_repo), verdicts(cpu_repo)
    devices = record_devices(gpu_repo)
    stayed_on_cpu = [path for path, device in devices.items() if not device.startswith("cuda")]
    differ = sorted(claim for claim in on_cpu.keys() | on_gpu.keys() if on_cpu.get(claim) != on_gpu.get(claim))
    for claim in sorted(on_cpu.keys() | on_gpu.keys()):
        mark = "DIFFERS" if claim in differ else "same"
        print(f"{claim:60s} cpu {on_cpu.get(claim, '-'):15s} gpu {on_gpu.get(claim, '-'):15s} {mark}")
    print(f"wall: gpu {wall['gpu']:.0f} s, cpu {wall['cpu']:.0f} s; records not on cuda: {len(stayed_on_cpu)}")
    report = {"wall_s": wall, "differ": differ, "records_not_on_cuda": stayed_on_cpu, "cpu": on_cpu, "gpu": on_gpu}
    out = REPO / "results" / "tiny" / "gpu_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if args.keep:
        print(f"copies kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
