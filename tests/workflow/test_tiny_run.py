"""End-to-end tiny runs: every paper's target with its tables, figures and claims, the default target,
and a killed run that resumes to the same tables. Speed is measured by `make bench`, never asserted here:
a slower machine must not fail CI."""

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

from report_browser import inspect_report, why_no_browser
from workflow_helpers import REPO, copy_repo, snakemake

PAPERS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["papers"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One copy of the repository and the default target: every paper in one run, so that one wing's jobs fill the
    core another wing's serial tail leaves idle. Each paper's own target then has nothing left to do."""
    repo = copy_repo(tmp_path_factory.mktemp("tiny") / "repo")
    snakemake("--cores", "2", cwd=repo, timeout=4800)
    # every paper's own target at once (one workflow parse instead of ten); a job left would be listed by name
    again = snakemake("--cores", "2", *PAPERS, cwd=repo, timeout=600)
    assert "Nothing to be done" in again.stdout, again.stdout[-2000:]
    return repo


@pytest.mark.slow
@pytest.mark.parametrize("paper", PAPERS)
def test_tiny_paper_writes_its_tables_and_figures(tiny_run, paper):
    repo = tiny_run
    results = repo / "results" / "tiny" / paper
    tables = list((results / "tables").glob("*.md"))
    figures = list((results / "figures").glob("*.png"))
    assert tables and all(t.with_suffix(".csv").exists() for t in tables)
    assert figures and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)


@pytest.mark.slow
def test_tiny_claims_and_summary_cover_every_claim(tiny_run):
    repo = tiny_run
    results = repo / "results" / "tiny"
    claims = json.loads((results / "claims.json").read_text())["claims"]
    for paper in PAPERS:
        references = yaml.safe_load((repo / "config" / "references" / f"{paper}.yaml").read_text())
        ours = {c["id"] for c in claims if c["paper"] == paper}
        assert ours == {c["id"] for c in references["claims"]}, paper
    for claim in claims:
        assert claim["status"] in {"PASS", "FAIL", "UNDECIDED", "NOT APPLICABLE"}
        if claim["status"] != "PASS":
            assert claim["reason"], claim["id"]
        if claim["status"] != "NOT APPLICABLE":
            # every metric a checked claim reads carries its noise (seeds or the run's own <metric>_se)
            estimates = [v for v in claim["evidence"].values() if isinstance(v, dict) and "mean" in v]
            assert estimates and all(e["se"] is not None for e in estimates), claim
    summary = (results / "summary.md").read_text()
    assert all(f"## {paper}" in summary for paper in PAPERS)
    assert "provenance.json" in summary
    stamp = json.loads((results / "provenance.json").read_text())
    assert stamp["scale"] == "tiny" and set(stamp["papers"]) == set(PAPERS)
    assert stamp["packages"]["snakemake"] != "not installed" and "snakemake" in " ".join(stamp["command_line"])


@pytest.mark.slow
def test_tiny_rerun_is_a_no_op_and_report_builds(tiny_run):
    repo = tiny_run
    again = snakemake("--cores", "2", cwd=repo)
    assert "Nothing to be done" in again.stdout
    snakemake("--cores", "1", "--report", "results/tiny/report.html", cwd=repo)
    html = (repo / "results" / "tiny" / "report.html").read_text()
    assert "id='claims'" in html and all(f"{paper}" in html for paper in PAPERS)


@pytest.mark.slow
def test_report_opens_in_a_browser_with_claims_and_a_figure_per_paper(tiny_run, tmp_path):
    reason = why_no_browser()
    if reason:
        pytest.skip(reason)
    repo = tiny_run
    html = repo / "results" / "tiny" / "report.html"
    if not html.exists():
        snakemake("--cores", "1", "--report", str(html.relative_to(repo)), cwd=repo)
    seen = inspect_report(html, PAPERS, tmp_path / "screenshots")
    assert seen["console_errors"] == []
    claims = json.loads((repo / "results" / "tiny" / "claims.json").read_text())["claims"]
    assert seen["claims_rows"] == len(claims)
    assert all(paper in seen["claims_text"] for paper in PAPERS) and "±" in seen["claims_text"]
    assert "config hash" in seen["provenance_text"]
    for paper in PAPERS:
        figure = seen["figures"][paper]
        assert figure is not None and figure["width"] > 100 and figure["height"] > 100, (paper, figure)
    assert (tmp_path / "screenshots" / "landing.png").stat().st_size > 10_000


def micro_socm_config(repo: Path) -> None:
    """Two methods on OU easy, long enough to be interrupted mid-training, short enough for CI."""
    path = repo / "config" / "socm.yaml"
    socm = yaml.safe_load(path.read_text())
    setting = dict(socm["tiny"]["settings"]["ou_quadratic_easy"])
    setting["methods"] = ["SOCM", "cross_entropy"]
    setting["train"] = dict(setting["train"], iterations=400, checkpoint_every=40, log_every=20)
    setting["evaluate"] = dict(setting["evaluate"], n_trajectories=512)
    socm["tiny"]["settings"] = {"ou_quadratic_easy": setting}
    path.write_text(yaml.safe_dump(socm, sort_keys=False))


def interrupt_socm_mid_training(repo: Path) -> Path:
    """Start `snakemake socm` in `repo`, Ctrl-C it once a checkpoint exists; return the checkpoint root."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", "socm"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # a shell that starts the tests in the background (`cmd &`) makes them ignore SIGINT, and an ignored
        # signal stays ignored across exec: the run would not stop and the test would fail for that reason
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ckpt_root = repo / "results" / "tiny" / "socm" / "ckpt"
    deadline = time.monotonic() + 900  # a hang guard, not a speed check
    while not list(ckpt_root.rglob("step_*.pt")):
        assert process.poll() is None, "run finished before any checkpoint was written"
        assert time.monotonic() < deadline, "no checkpoint within 900 s"
        time.sleep(0.2)
    # What Ctrl-C in a terminal does: SIGINT to the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    models = list((repo / "results" / "tiny" / "socm" / "models").rglob("model.pt"))
    assert len(models) < 2, "the run was not interrupted mid-training"
    assert list(ckpt_root.rglob("step_*.pt")), "checkpoints must survive the interruption"
    return ckpt_root


def train_logs(repo: Path) -> str:
    return "".join(p.read_text() for p in (repo / "logs" / "tiny" / "socm" / "train").rglob("*.log"))


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_tables(tmp_path):
    reference = copy_repo(tmp_path / "uninterrupted")
    micro_socm_config(reference)
    snakemake("--cores", "2", "socm", cwd=reference)

    repo = copy_repo(tmp_path / "interrupted")
    micro_socm_config(repo)
    ckpt_root = interrupt_socm_mid_training(repo)

    snakemake("--cores", "2", "socm", cwd=repo)
    assert "resuming from the checkpoint" in train_logs(repo), "the rerun did not resume from a checkpoint"
    for name in ("control_l2_error.csv", "control_objective.csv"):
        ours = pd.read_csv(repo / "results" / "tiny" / "socm" / "tables" / name)
        theirs = pd.read_csv(reference / "results" / "tiny" / "socm" / "tables" / name)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert not list(ckpt_root.rglob("step_*.pt")), "checkpoints are removed once a run finished"


@pytest.mark.slow
def test_interrupted_run_restarts_after_a_config_edit(tmp_path):
    """Killed mid-training, then a hyperparameter edited: the checkpoints of the old config are
    discarded with a log line and the run trains from step 0 instead of resuming."""
    repo = copy_repo(tmp_path / "edited")
    micro_socm_config(repo)
    interrupt_socm_mid_training(repo)
    path = repo / "config" / "socm.yaml"
    socm = yaml.safe_load(path.read_text())
    train = socm["tiny"]["settings"]["ou_quadratic_easy"]["train"]
    train["lr"] = float(train.get("lr", 1e-4)) * 0.5
    path.write_text(yaml.safe_dump(socm, sort_keys=False))

    snakemake("--cores", "2", "socm", cwd=repo)
    logs = train_logs(repo)
    assert "discarding checkpoints" in logs, "the checkpoints of the old config were not discarded"
    assert "resuming from the checkpoint" not in logs, "a checkpoint of another config was resumed"
    assert "training restarts from step 0" in logs
