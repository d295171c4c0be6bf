"""config/socm.yaml follows the workflow contract and every block is runnable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from papersuite.socm.losses import METHODS
from papersuite.socm.problems import make_problem, problem_from_arrays
from papersuite.socm.reference import build_reference
from papersuite.socm.report import SETTINGS
from papersuite.socm.train import TRAIN_DEFAULTS

CONFIG = Path(__file__).resolve().parents[2] / "config" / "socm.yaml"
WARM_KEYS = {"iterations", "batch", "knots", "lr", "time_points"}


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@pytest.mark.parametrize("scale", ["tiny", "full"])
def test_blocks_follow_the_contract(config, scale):
    settings = config[scale]["settings"]
    assert set(settings) == set(SETTINGS)
    for key, block in settings.items():
        assert set(block) - {"seeds"} == {"problem", "methods", "train", "evaluate"}, key
        # three seeds at tiny wherever a claim reads the setting (docs/papers/socm.md, "Noise and verdicts")
        if scale == "tiny":
            assert block.get("seeds") == ([0, 1, 2] if key != "ou_quadratic_hard" else None), key
        assert set(block["methods"]) <= set(METHODS) and len(block["methods"]) == len(set(block["methods"]))
        if scale == "full":
            assert list(block["methods"]) == list(METHODS), key
        train = block["train"]
        assert set(train) <= set(TRAIN_DEFAULTS) | {"iterations", "batch"}, (key, set(train) - set(TRAIN_DEFAULTS))
        assert (train["warm_start"] is not None) == (key == "ou_quadratic_hard_warm"), key
        if train["warm_start"] is not None:
            assert set(train["warm_start"]) == WARM_KEYS
        assert block["evaluate"]["n_trajectories"] == (4096 if scale == "tiny" else 65536)


def test_full_block_has_the_paper_settings(config):
    """The paper's settings (docs/papers/socm.md, "Settings"): d, N, batch, iterations, M_lr, γ0, widths."""
    s = config["full"]["settings"]
    expect = {  # d, N, batch, iterations, M_lr, gamma0
        "ou_quadratic_easy": (20, 50, 128, 60000, 1e-3, 2.0),
        "ou_quadratic_hard_warm": (20, 150, 64, 60000, 1e-2, 2.0),
        "ou_quadratic_hard": (20, 50, 128, 80000, 1e-3, 2.0),
        "linear_ou": (10, 100, 64, 60000, 1e-3, 2.0),
        "double_well": (10, 200, 128, 80000, 1e-3, 6.0),
    }
    for key, (d, n, batch, iters, m_lr, gamma0) in expect.items():
        p, t = s[key]["problem"], s[key]["train"]
        assert (p["d"], p["N"], t["batch"], t["iterations"], t["M_lr"], t["gamma0"]) == (
            d,
            n,
            batch,
            iters,
            m_lr,
            gamma0,
        )
        assert t["hdims"] == [256, 128, 64] and t["M_hdims"] == [128, 128] and t["lr"] == 1e-4
        assert t["norm_batches"] == 512
    assert s["ou_quadratic_hard_warm"]["train"]["scaling_factor_nabla_V"] == 0.1


@pytest.mark.parametrize("scale", ["tiny", "full"])
def test_every_problem_block_builds_its_reference(config, scale):
    for key, block in config[scale]["settings"].items():
        problem = problem_from_arrays(make_problem(block["problem"]))
        arrays, summary = build_reference(problem.to(dtype=torch.float64), pde=block["problem"].get("pde"))
        assert "ref_V0" in arrays, key
