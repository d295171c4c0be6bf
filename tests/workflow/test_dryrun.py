"""Config validation and dry-runs at both scales (no jobs run)."""

from __future__ import annotations

import yaml

from workflow_helpers import REPO, snakemake


def test_lint_is_clean():
    result = snakemake("--lint")
    assert "Congratulations" in result.stdout


def test_tiny_dry_run_lists_every_socm_run(repo_copy):
    result = snakemake("-n", "--quiet", "rules", cwd=repo_copy)
    socm = yaml.safe_load((REPO / "config" / "socm.yaml").read_text())
    # one socm_train job per (setting, method): it trains the setting's seeds as one ensemble
    runs = sum(len(block["methods"]) for block in socm["tiny"]["settings"].values())
    assert _job_count(result.stdout, "socm_train") == runs


def test_full_dry_run_through_slurm_profile_requests_gpus(repo_copy):
    result = snakemake("-n", "--profile", "profiles/slurm", "--sdm", "env-modules", cwd=repo_copy)
    out = result.stdout
    assert "results/full/socm/models/" in out
    train_blocks = [b for b in out.split("rule ") if b.startswith("socm_train:")]
    assert train_blocks, out[-3000:]
    for block in train_blocks:
        assert "gpu=1" in block and "gpu_model=" in block and "cpus_per_gpu=" in block
    wfm_blocks = [b for b in out.split("rule ") if b.startswith("wfm_train:")]
    assert len(wfm_blocks) == _wfm_runs("full"), out[-3000:]
    for block in wfm_blocks:
        assert "gpu=1" in block and "gpu_model=" in block and "cpus_per_gpu=" in block
    # the full-scale raw data are real downloads (URL + checksum rule), not package files
    assert "resources/wfm/shapenet/ShapeNetCore.v2.PC15k.zip" in out
    assert "resources/wfm/merfish/st_data.h5ad" in out


def _seeds(block: dict) -> list[int]:
    """An experiment's own `seeds`, else the global ones (common.smk's run_seeds)."""
    return block.get("seeds", yaml.safe_load((REPO / "config" / "config.yaml").read_text())["seeds"])


def _wfm_runs(scale: str) -> int:
    wfm = yaml.safe_load((REPO / "config" / "wfm.yaml").read_text())[scale]
    return sum(
        len(wfm[family]["methods"]) * len(_seeds(experiment))
        for family in ("gaussians", "clouds", "niches")
        for experiment in wfm[family]["experiments"].values()
    )


def test_tiny_dry_run_lists_every_wfm_run(repo_copy):
    result = snakemake("wfm", "-n", "--quiet", "rules", cwd=repo_copy)
    # pbmc68k (2 methods) and the niches train seeds 0-2, spiral (2 methods) and digits seed 0 only
    assert _job_count(result.stdout, "wfm_train") == _wfm_runs("tiny") == 2 * 3 + 2 + 1 + 3


def test_bad_wfm_config_names_file_and_key(repo_copy):
    path = repo_copy / "config" / "wfm.yaml"
    wfm = yaml.safe_load(path.read_text())
    wfm["tiny"]["clouds"]["experiments"]["digits"]["train"]["pairing"] = "hungarian"
    path.write_text(yaml.safe_dump(wfm))
    result = snakemake("-n", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "config/wfm.yaml" in result.stdout
    assert "tiny.clouds.experiments.digits.train.pairing" in result.stdout


def test_unknown_config_key_fails_before_any_job(repo_copy):
    result = snakemake("-n", "--config", "sclae=tiny", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "sclae" in result.stdout


def test_bad_scale_value_fails_naming_the_value(repo_copy):
    result = snakemake("-n", "--config", "scale=huge", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "huge" in result.stdout


def test_bad_paper_config_names_file_and_key(repo_copy):
    path = repo_copy / "config" / "socm.yaml"
    socm = yaml.safe_load(path.read_text())
    first = next(iter(socm["tiny"]["settings"]))
    socm["tiny"]["settings"][first]["train"]["iterations"] = -5
    path.write_text(yaml.safe_dump(socm))
    result = snakemake("-n", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "config/socm.yaml" in result.stdout
    assert f"tiny.settings.{first}.train.iterations" in result.stdout


def _job_count(stdout: str, rule: str) -> int:
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule:
            return int(parts[1])
    raise AssertionError(f"{rule} not in job stats:\n{stdout[-2000:]}")


def test_bytelm_dry_runs_at_both_scales(repo_copy):
    """bytelm alone at both scales: two code LMs and one SmolLM2 conversion at tiny; at full the hub model, the
    FIM benchmark and GPU resources on every training and generation job."""
    tiny = snakemake("bytelm", "-n", "--quiet", "rules", "--config", "papers=[bytelm]", cwd=repo_copy)
    assert _job_count(tiny.stdout, "bytelm_train_code") == 2
    assert _job_count(tiny.stdout, "bytelm_convert_smollm2") == 1
    # no FIM at tiny: SmolLM2 has no FIM tokens
    assert "bytelm_fim" not in tiny.stdout and "infilling" not in tiny.stdout.lower()
    full = snakemake(
        "-n",
        "--profile",
        "profiles/slurm",
        "--sdm",
        "env-modules",
        "--config",
        "scale=full",
        "papers=[bytelm]",
        cwd=repo_copy,
    )
    assert "resources/bytelm/hub/codellama--CodeLlama-7b-hf" in full.stdout
    # FIM at full: the infilling benchmark's download, the FIM job on the GPU with the hub model, its table
    assert "resources/bytelm/humaneval_infilling_random_span/HumanEval-RandomSpanInfilling.jsonl.gz" in full.stdout
    assert "results/full/bytelm/tables/fim.md" in full.stdout
    blocks = [
        b
        for b in full.stdout.split("rule ")
        if b.startswith(("bytelm_train_toy:", "bytelm_train_code:", "bytelm_midtoken:", "bytelm_fim:"))
    ]
    assert len(blocks) == 5
    for block in blocks:
        assert "gpu=1" in block and "gpu_model=" in block
    fim_block = next(b for b in blocks if b.startswith("bytelm_fim:"))
    assert "resources/bytelm/hub/codellama--CodeLlama-7b-hf" in fim_block
    assert "HumanEval-RandomSpanInfilling.jsonl.gz" in fim_block
