"""Static checks: env files, profiles, schemas and the layout of DESIGN.md."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from workflow_helpers import REPO


def conda_paths() -> list[Path]:
    """Every conda: env file named in a rule file, resolved relative to that file."""
    paths = []
    for smk in (REPO / "workflow").rglob("*.smk"):
        for match in re.finditer(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            paths.append((smk.parent / match.group(1)).resolve())
    return paths


def test_every_conda_env_file_exists():
    paths = conda_paths()
    assert paths, "no conda: directives found"
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"conda env files missing: {missing}"


def test_env_files_are_pinned_conda_forge_python311():
    for path in sorted((REPO / "workflow" / "envs").glob("*.yaml")):
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge", path
        assert "nodefaults" in env["channels"], path
        deps = [d for d in env["dependencies"] if isinstance(d, str)]
        assert "python =3.11" in deps, path
        unpinned = [d for d in deps if "=" not in d]
        assert not unpinned, f"{path.name}: unpinned {unpinned}"


def test_every_paper_has_its_files():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for paper in config["papers"]:
        for path in (
            f"workflow/rules/{paper}.smk",
            f"workflow/rules/{paper}_helpers.smk",
            f"docs/papers/{paper}.md",
            f"workflow/envs/{paper}.yaml",
            f"workflow/schemas/{paper}.schema.yaml",
            f"config/{paper}.yaml",
            f"config/references/{paper}.yaml",
            f"src/papersuite/{paper}/__init__.py",
            f"tests/{paper}",
        ):
            assert (REPO / path).exists(), f"{paper}: {path} missing"


def test_profiles_use_snakemake9_keys():
    for name in ("default", "slurm", "workstation"):
        profile = yaml.safe_load((REPO / "profiles" / name / "profile.yaml").read_text())
        assert not {"cluster", "cluster-config", "use-conda", "restart-times"} & set(profile), name
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert slurm["software-deployment-method"] == "conda"
    assert slurm["config"]["scale"] == "full"
    assert "attempt" in str(slurm["default-resources"]["mem_mb"])


def test_papers_do_not_import_each_other():
    src = REPO / "src" / "papersuite"
    papers = [p.name for p in src.iterdir() if p.is_dir() and p.name not in ("core", "__pycache__")]
    for paper in papers:
        for module in (src / paper).rglob("*.py"):
            text = module.read_text()
            for other in papers:
                if other != paper:
                    assert f"papersuite.{other}" not in text, f"{module} imports {other}"
    for module in (src / "core").rglob("*.py"):
        for paper in papers:
            assert f"papersuite.{paper}" not in module.read_text(), f"{module} imports {paper}"


def test_scripts_hold_no_config_reads():
    for script in (REPO / "workflow" / "scripts").rglob("*.py"):
        assert "snakemake.config" not in script.read_text(), script
