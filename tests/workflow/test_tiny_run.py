"""End-to-end tiny runs: the real default target, and a killed run that resumes to the same tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_repo, snakemake

DETERMINISTIC_TABLES = ("control_l2_error.csv", "control_objective.csv")


@pytest.mark.slow
def test_tiny_default_target_end_to_end(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    start = time.perf_counter()
    snakemake("--cores", "2", cwd=repo, timeout=1200)
    wall = time.perf_counter() - start
    print(f"tiny SOCM end to end with --cores 2: {wall:.0f} s")
    # The budget for tiny SOCM is 5 min on 2 cores.
    assert wall <= 300, f"tiny run took {wall:.0f} s"

    results = repo / "results" / "tiny"
    tables = sorted((results / "socm" / "tables").glob("*.md"))
    figures = sorted((results / "socm" / "figures").glob("*.png"))
    assert {t.name for t in tables} >= {"control_l2_error.md", "time_per_iteration.md", "control_objective.md"}
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures) and len(figures) == 2
    claims = json.loads((results / "claims.json").read_text())
    references = yaml.safe_load((repo / "config" / "references" / "socm.yaml").read_text())
    assert {c["id"] for c in claims["claims"]} == {c["id"] for c in references["claims"]}
    for claim in claims["claims"]:
        assert claim["status"] in {"PASS", "FAIL", "NOT APPLICABLE"}
        if claim["status"] == "NOT APPLICABLE":
            assert claim["reason"], claim["id"]
    assert "socm" in (results / "summary.md").read_text()

    # Idempotent: a second run has nothing to do.
    again = snakemake("--cores", "2", cwd=repo)
    assert "Nothing to be done" in again.stdout

    # The Snakemake report builds and carries the figures.
    snakemake("--cores", "1", "--report", "results/report.zip", cwd=repo)
    assert (repo / "results" / "report.zip").stat().st_size > 10_000


def micro_socm_config(repo: Path) -> None:
    """Two methods on OU easy, long enough to be killed mid-training, short enough for CI."""
    path = repo / "config" / "socm.yaml"
    socm = yaml.safe_load(path.read_text())
    setting = dict(socm["tiny"]["settings"]["ou_quadratic_easy"])
    setting["methods"] = ["SOCM", "cross_entropy"]
    setting["train"] = dict(setting["train"], iterations=400, checkpoint_every=40, log_every=20)
    setting["evaluate"] = dict(setting["evaluate"], n_trajectories=512)
    socm["tiny"]["settings"] = {"ou_quadratic_easy": setting}
    path.write_text(yaml.safe_dump(socm, sort_keys=False))


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_tables(tmp_path):
    reference = copy_repo(tmp_path / "uninterrupted")
    micro_socm_config(reference)
    snakemake("--cores", "2", "socm", cwd=reference)

    repo = copy_repo(tmp_path / "interrupted")
    micro_socm_config(repo)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", "socm"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ckpt_root = repo / "results" / "tiny" / "socm" / "ckpt"
    deadline = time.monotonic() + 300
    while not list(ckpt_root.rglob("step_*.pt")):
        assert process.poll() is None, "run finished before any checkpoint was written"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    # What Ctrl-C in a terminal does: SIGINT to the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    models = list((repo / "results" / "tiny" / "socm" / "models").rglob("model.pt"))
    assert len(models) < 2, "the run was not interrupted mid-training"
    assert list(ckpt_root.rglob("step_*.pt")), "checkpoints must survive the interruption"

    snakemake("--cores", "2", "socm", cwd=repo)
    logs = "".join(p.read_text() for p in (repo / "logs" / "tiny" / "socm" / "train").rglob("*.log"))
    assert "resum" in logs.lower(), "the rerun did not resume from a checkpoint"
    for name in DETERMINISTIC_TABLES:
        ours = pd.read_csv(repo / "results" / "tiny" / "socm" / "tables" / name)
        theirs = pd.read_csv(reference / "results" / "tiny" / "socm" / "tables" / name)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert not list(ckpt_root.rglob("step_*.pt")), "checkpoints are removed once a run finished"
