"""One point-cloud WFM run on a prepared set of clouds or niches: train it, load it, generate and score it
(docs/papers/wfm.md, "Method: point clouds", "Metrics").

Shapes (family "clouds") are generated unconditionally; niches (family "niches") are generated conditioned on
their label and scored by label recovery as well (docs/papers/wfm.md, "Data: niches").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papersuite.core import records, runtime

from . import uncertainty
from .runs import eval_seed, finish_run, write_samples

__all__ = ["CLOUD_METHODS", "read_cloud_set", "train_clouds", "load_cloud_model", "evaluate_clouds"]

log = logging.getLogger("papersuite.wfm.cloud_runs")

# Rule wildcard of each family's point-cloud WFM run: unconditional on shapes, conditioned on the label on niches.
CLOUD_METHODS = {"clouds": ("wfm",), "niches": ("wfm_conditional",)}

Clouds = tuple[np.ndarray, np.ndarray]  # (points (n,N,d), weights (n,N)) of a set of padded clouds


def _cloud_method(family: str, method: str) -> None:
    if method not in CLOUD_METHODS[family]:
        raise ValueError(f"unknown {family} method {method!r}; expected one of {CLOUD_METHODS[family]}")


def read_cloud_set(family: str, path: str | Path, split: str) -> dict:
    """{"points" (n,N,d), "weights" (n,N), "labels" (n,) int or None, "label_names", "kind"} of one split."""
    if family == "clouds":
        from .clouds import read_clouds

        data = read_clouds(path, split=split)
        labels = data["labels"] if (data["labels"] >= 0).all() else None
        return {
            "points": data["points"],
            "weights": data["weights"],
            "labels": labels,
            "label_names": None,
            "data_kind": "real",
            "dataset": data["meta"].get("dataset"),
        }
    from .niches import read_niches

    data = read_niches(path, split=split, obs=False)
    n, k, _ = data["niches"].shape
    return {
        "points": data["niches"],
        "weights": np.full((n, k), 1.0 / k, np.float32),
        "labels": data["label_codes"],
        "label_names": data["label_names"],
        "data_kind": "semi-synthetic" if data["uns"].get("semi_synthetic") else "real",
        "dataset": data["uns"].get("dataset"),
    }


# --- training -----------------------------------------------------------------------------------------------


def train_clouds(
    family: str,
    data_path: str | Path,
    method: str,
    train: Mapping[str, Any],
    seed: int,
    out_model: str | Path,
    out_curve: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Train point-cloud WFM on the training clouds, or on niches conditioned on their label."""
    from . import pointcloud

    runtime.setup_logging(log_path)
    _cloud_method(family, method)
    device = runtime.choose_device(threads)
    data = read_cloud_set(family, data_path, "train")
    conditional = family == "niches"
    labels = torch.from_numpy(data["labels"]) if conditional else None
    n_labels = len(data["label_names"]) if conditional else 0
    n, n_max, d = data["points"].shape
    log.info(
        "%s/%s on %d training clouds of %s (N_max=%d, d=%d%s)",
        family,
        method,
        n,
        data_path,
        n_max,
        d,
        f", {n_labels} labels" if conditional else "",
    )
    t0 = time.perf_counter()
    model, info = pointcloud.train_pointcloud(
        torch.from_numpy(data["points"]),
        torch.from_numpy(data["weights"]),
        dict(train),
        seed,
        labels=labels,
        n_labels=n_labels,
        ckpt_dir=ckpt_dir,
        device=device,
    )
    wall_s = time.perf_counter() - t0
    state = {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "params": dict(train),
        "d": int(d),
        "n_labels": int(n_labels),
        "family": family,
        "method": method,
        "seed": int(seed),
        "noise": info["noise"],
        "train_wall_s": float(wall_s),
        "step_s": float(info["step_s"]),
        "resumed_from": int(info["resumed_from"]),
    }
    finish_run(state, info["losses"], out_model, out_curve, ckpt_dir)
    final = info["losses"][-1] if info["losses"] else float("nan")
    log.info("done in %.1f s (%.1f ms/step); final loss %.4g", wall_s, 1e3 * info["step_s"], final)


def load_cloud_model(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The transformer and metadata written by train_clouds (our own file, loaded with weights_only)."""
    from . import pointcloud

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = pointcloud.build_model(state["d"], state["params"], state["n_labels"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state


# --- generation ---------------------------------------------------------------------------------------------


def _generation_inputs(
    family: str, train: dict, test: dict, pick: np.ndarray, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Masks (n_eval, N_max) and labels (n_eval,) or None of the clouds to generate: a niche per picked test
    niche with its label; shapes with sizes drawn from the training masks."""
    from .clouds import draw_weights

    g = torch.Generator().manual_seed(seed)
    if family == "niches":
        return torch.from_numpy(test["weights"][pick]), torch.from_numpy(test["labels"][pick])
    return draw_weights(torch.from_numpy(train["weights"]), len(pick), g), None


def _generate(
    model: torch.nn.Module,
    state: dict,
    weights: torch.Tensor,
    labels: torch.Tensor | None,
    evaluate: Mapping[str, Any],
    seed: int,
) -> np.ndarray:
    """Clouds (n,N,d) generated by a trained run with the given masks [and labels], from `seed`."""
    from . import pointcloud

    gen = pointcloud.sample_pointcloud(
        model,
        weights,
        seed=seed,
        labels=labels,
        n_steps=int(evaluate["sample_steps"]),
        solver=evaluate.get("solver", "euler"),
        noise=state["noise"],
    )
    return gen["points"].cpu().numpy()


def _noise(weights: torch.Tensor, state: dict, seed: int) -> np.ndarray:
    """Source-noise clouds (n,N,d) with the given masks, drawn from seed + 1: what generation starts from,
    scored beside the generated clouds."""
    from .clouds import noise_clouds

    return noise_clouds(weights, state["d"], state["noise"], torch.Generator().manual_seed(seed + 1)).numpy()


# --- scores -------------------------------------------------------------------------------------------------


def _nearest_scores(generated: Clouds, noise: Clouds, ref: Clouds, seed: int) -> dict[str, float]:
    """Mean W2 to the nearest reference cloud, of the generated and of the noise clouds, their ratio, and the
    standard errors of the three (uncertainty.nearest_w2_se: over clouds)."""
    from . import metrics

    gen_w2 = metrics.nearest_cloud(generated, ref)[1]  # (n,)
    noise_w2 = metrics.nearest_cloud(noise, ref)[1]  # (n,): noise cloud i is where generated cloud i started
    out = {"nearest_w2": float(gen_w2.mean()), "nearest_w2_noise": float(noise_w2.mean())}
    out["nearest_w2_ratio_to_noise"] = out["nearest_w2"] / out["nearest_w2_noise"]
    out.update(uncertainty.nearest_w2_se(gen_w2, noise_w2, seed=seed))
    return out


def _memorisation_scores(
    generated: Clouds, ref: Clouds, train: dict, evaluate: Mapping[str, Any], rng: np.random.Generator
) -> dict[str, float]:
    """Memorisation check (the paper's v1 Figure 2 caption: with too few training examples every method
    collapses on the training set): generated clouds much closer to the training set than real held-out clouds
    are would be copies, not new samples. With the standard errors (uncertainty.memorisation_se)."""
    from . import metrics

    n_train_ref = min(len(train["points"]), int(evaluate.get("max_train_reference", 500)))
    train_pick = np.sort(rng.choice(len(train["points"]), size=n_train_ref, replace=False))
    train_ref = (train["points"][train_pick], train["weights"][train_pick])
    gen_train_w2 = metrics.nearest_cloud(generated, train_ref)[1]  # (n,)
    real_train_w2 = metrics.nearest_cloud(ref, train_ref)[1]  # (n,)
    out = {"nearest_train_w2": float(gen_train_w2.mean()), "nearest_train_w2_real": float(real_train_w2.mean())}
    out["memorisation_ratio"] = out["nearest_train_w2"] / out["nearest_train_w2_real"]
    out.update(uncertainty.memorisation_se(gen_train_w2, real_train_w2))
    return out


def _set_scores(generated: Clouds, ref: Clouds, names: list[str]) -> dict[str, float]:
    """1-NNA, MMD and COV of the generated against the reference clouds under Chamfer ("cd") and EMD ("emd")."""
    from . import metrics

    out: dict[str, float] = {}
    for name in names:
        metric = {"cd": "chamfer", "emd": "emd"}[name]
        D_gg, D_rr, D_gr = (
            metrics.pairwise(metric, a, b) for a, b in ((generated, None), (ref, None), (generated, ref))
        )
        out[f"one_nna_{name}"] = metrics.one_nna(D_gg, D_rr, D_gr)
        out[f"mmd_{name}"] = metrics.mmd(D_gr)
        out[f"cov_{name}"] = metrics.coverage(D_gr)
    return out


def _recovery_scores(gen_points: np.ndarray, ref_points: np.ndarray, test_labels: np.ndarray, train: dict, seed: int):
    """Label recovery of generated niches (nearest training niche under exact W2) beside chance, real test
    niches and noise niches (docs/papers/wfm.md, "Metrics"), with binomial standard errors."""
    from . import recovery

    references = recovery.recovery_references(train["points"], train["labels"], ref_points, test_labels, seed=seed)
    hits = recovery.label_hits(gen_points, test_labels, train["points"], train["labels"])  # (n,) bool
    out = {"label_recovery": float(hits.mean())}
    out["label_recovery_chance"] = references["chance"]
    out["label_recovery_over_chance"] = out["label_recovery"] / references["chance"]
    out["label_recovery_real"] = references["upper"]
    out["label_recovery_noise"] = references["noise"]
    out.update(uncertainty.recovery_se(hits, references["chance"], references["noise"]))
    return out


# --- evaluation ---------------------------------------------------------------------------------------------


def _write_cloud_record(
    out_record: str | Path, run: dict, metrics: dict[str, float], state: dict, test: dict, device: torch.device
) -> None:
    """The metrics record of one evaluated run; `run` holds family, data_path, experiment, method, evaluate,
    seed, scale, sample_s and n_eval."""
    rec = records.make_record(
        paper="wfm",
        experiment=run["experiment"],
        method=run["method"],
        seed=int(run["seed"]),
        scale=run["scale"],
        metrics=metrics,
        wall_s=float(state["train_wall_s"]) + run["sample_s"],
        device=device,
        config={"train": state["params"], "evaluate": dict(run["evaluate"])},
        extra={
            "family": run["family"],
            "data_kind": test["data_kind"],
            "dataset": test["dataset"],
            "n_eval": int(run["n_eval"]),
            "d": int(state["d"]),
            "data": str(run["data_path"]),
            "label_names": test["label_names"],
        },
    )
    records.write_record(out_record, rec)


def _log_scores(family: str, experiment: str, method: str, out: dict[str, float]) -> None:
    recovery = (
        f"; label recovery {out['label_recovery']:.3f} (chance {out['label_recovery_chance']:.3f}, real "
        f"{out['label_recovery_real']:.3f})"
        if family == "niches"
        else ""
    )
    log.info(
        "%s/%s: nearest W2 %.4f vs noise %.4f (ratio %.3f)%s",
        experiment,
        method,
        out["nearest_w2"],
        out["nearest_w2_noise"],
        out["nearest_w2_ratio_to_noise"],
        recovery,
    )


def evaluate_clouds(
    family: str,
    data_path: str | Path,
    model_path: str | Path,
    experiment: str,
    method: str,
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_record: str | Path,
    out_samples: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Generate as many clouds as the test split holds (at most max_clouds) and score them
    (docs/papers/wfm.md, "Metrics").

    clouds: sizes drawn from the training masks; nearest-test-cloud W2 of generated and of noise clouds, and
    1-NNA / MMD / COV under Chamfer and EMD against the test clouds. niches: one generated niche per test niche,
    with its label; label recovery by the nearest training niche (exact W2) beside chance, real test niches and
    noise; nearest W2 as for clouds. Both: the memorisation ratio against the training clouds."""
    runtime.setup_logging(log_path)
    _cloud_method(family, method)
    device = runtime.choose_device(threads)
    model, state = load_cloud_model(model_path)
    model.to(device)
    train, test = read_cloud_set(family, data_path, "train"), read_cloud_set(family, data_path, "test")
    n_eval = min(len(test["points"]), int(evaluate.get("max_clouds", len(test["points"]))))
    seed_eval = eval_seed(seed)
    rng = np.random.default_rng(seed_eval)
    pick = np.sort(rng.choice(len(test["points"]), size=n_eval, replace=False))
    ref = (test["points"][pick], test["weights"][pick])
    weights, labels = _generation_inputs(family, train, test, pick, seed_eval)
    t0 = time.perf_counter()
    gen_points = _generate(model, state, weights, labels, evaluate, seed_eval)
    sample_s = time.perf_counter() - t0
    noise_points = _noise(weights, state, seed_eval)
    generated, noise = (gen_points, weights.numpy()), (noise_points, weights.numpy())
    t1 = time.perf_counter()
    out = _nearest_scores(generated, noise, ref, seed_eval)
    out.update(_memorisation_scores(generated, ref, train, evaluate, rng))
    if family == "clouds":
        out.update(_set_scores(generated, ref, evaluate.get("set_metrics", ["cd", "emd"])))
    else:
        out.update(_recovery_scores(gen_points, ref[0], test["labels"][pick], train, seed_eval))
    out["metrics_s"] = time.perf_counter() - t1
    out["sample_s"] = sample_s
    out["train_wall_s"] = float(state["train_wall_s"])
    out["step_ms"] = 1e3 * float(state["step_s"])
    run = {"family": family, "data_path": data_path, "experiment": experiment, "method": method, "seed": seed}
    run.update(evaluate=evaluate, scale=scale, sample_s=sample_s, n_eval=n_eval)
    _write_cloud_record(out_record, run, out, state, test, device)
    arrays = {"points": gen_points, "weights": weights.numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    write_samples(out_samples, arrays)
    _log_scores(family, experiment, method, out)
