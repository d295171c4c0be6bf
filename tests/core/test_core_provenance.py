"""papersuite.core.provenance: the stamp of a results directory."""

import subprocess

import numpy as np
import yaml

from papersuite.core import provenance as P


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_git_state_commit_and_dirty_flag(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    state = P.git_state(tmp_path)
    assert state["commit"] == head and state["dirty"] is False
    (tmp_path / "untracked.txt").write_text("not part of the code\n")
    assert P.git_state(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two\n")
    state = P.git_state(tmp_path)
    assert state["dirty"] is True and state["changed_files"] == [" M a.txt"]


def test_package_versions_and_config_hash(tmp_path):
    versions = P.package_versions(["numpy", "surely-not-a-package-xyz"])
    assert versions == {"numpy": np.__version__, "surely-not-a-package-xyz": "not installed"}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"tiny": {"lr": 0.1}, "full": {"lr": 0.01}}))
    tiny = P.paper_config_hash(path, "tiny")
    path.write_text(yaml.safe_dump({"full": {"lr": 0.02}, "tiny": {"lr": 0.1}}))  # other scale, other order
    assert P.paper_config_hash(path, "tiny") == tiny
    path.write_text(yaml.safe_dump({"tiny": {"lr": 0.2}, "full": {"lr": 0.02}}))
    assert P.paper_config_hash(path, "tiny") != tiny and len(tiny) == 16


def test_provenance_has_every_field(tmp_path):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"tiny": {"lr": 0.1}}))
    stamp = P.provenance(["p"], "tiny", tmp_path, repo=tmp_path)
    assert set(stamp) == {
        *("scale", "written_utc", "git", "command_line", "papers", "packages", "python", "machine", "threads"),
    }
    assert stamp["papers"]["p"]["config_hash"] == P.paper_config_hash(tmp_path / "p.yaml", "tiny")
    assert stamp["machine"]["cpu_count"] >= 1 and stamp["packages"]["numpy"] == np.__version__
