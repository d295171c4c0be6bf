"""Helpers to run the workflow in a throwaway copy of the repository (a module of its own: `from conftest
import` would depend on which of the test folders' conftest.py pytest loaded last)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO, check: bool = True, timeout: float = 900):
    """Run the snakemake CLI of this interpreter; return the CompletedProcess (stdout+stderr merged)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [*SNAKEMAKE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-6000:]}")
    return result


def copy_repo(dest: Path) -> Path:
    """A working copy with the workflow, configs and profiles; src/ is linked, not copied."""
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, dest / name)
    (dest / "src").symlink_to(REPO / "src")
    return dest
