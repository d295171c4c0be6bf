"""Entry points of the wfm rules: train and evaluate one (experiment, method, seed) run.

Each function reads the prepared data, runs one step of the paper's pipeline and writes its outputs
atomically, so that the scripts under workflow/scripts/wfm/ are one call each. Gaussians: BW-FM and the
Euclidean-FM baseline (spec A1.2, A5.1); point clouds and niches: point-cloud WFM (A1.1, A5.2, A5.3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from papersuite.core import io, records, runtime
from papersuite.core.checkpoint import clear_checkpoints

from . import bures as bw
from . import train as bw_train
from .data import prepare_gaussians, read_gaussians

__all__ = [
    "FAMILIES",
    "GAUSSIAN_METHODS",
    "prepare",
    "train_run",
    "evaluate_run",
    "train_gaussians",
    "evaluate_gaussians",
    "load_gaussian_model",
]

log = logging.getLogger("papersuite.wfm.experiments")

FAMILIES = ("gaussians", "clouds", "niches")

# Rule wildcard -> train.METHODS; the names say which flow matching it is in every table.
GAUSSIAN_METHODS = {"bw_fm": "bw", "euclidean_fm": "euclidean"}


def _gaussian_method(method: str) -> str:
    if method not in GAUSSIAN_METHODS:
        raise ValueError(f"unknown Gaussian method {method!r}; expected one of {sorted(GAUSSIAN_METHODS)}")
    return GAUSSIAN_METHODS[method]


def _finish_run(
    state: dict, losses: list[float], out_model: str | Path, out_curve: str | Path, ckpt_dir: str | Path
) -> None:
    """Write a trained run's weights and metadata (torch.save, read back with weights_only) and its loss curve,
    atomically; then drop its checkpoints."""
    with io.atomic_path(out_model) as tmp:
        torch.save(state, tmp)
    curve = pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": np.asarray(losses, dtype=float)})
    io.write_csv(out_curve, curve)
    clear_checkpoints(ckpt_dir)


def train_gaussians(
    data_h5ad: str | Path,
    method: str,
    train: Mapping[str, Any],
    seed: int,
    out_model: str | Path,
    out_curve: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Train BW-FM or Euclidean FM (spec A1.2) on the training Gaussians of `data_h5ad`; write the weights, the
    noise statistics and the loss curve. Resumes from `ckpt_dir` when a previous attempt was killed."""
    runtime.setup_logging(log_path)
    flow = _gaussian_method(method)
    device = runtime.choose_device(threads)
    data = read_gaussians(data_h5ad, split="train")
    means, covs = torch.from_numpy(data["means"]), torch.from_numpy(data["covs"])
    log.info("%s on %d training Gaussians of %s (d=%d)", method, len(means), data_h5ad, means.shape[1])
    t0 = time.perf_counter()
    model, info = bw_train.train_flow(means, covs, dict(train), seed, method=flow, ckpt_dir=ckpt_dir, device=device)
    wall_s = time.perf_counter() - t0
    state = {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "params": dict(train),
        "d": int(means.shape[1]),
        "method": method,
        "seed": int(seed),
        "noise_stats": [float(v) for v in info["noise_stats"]],
        "train_wall_s": float(wall_s),
        "resumed_from": int(info["resumed_from"]),
    }
    _finish_run(state, info["losses"], out_model, out_curve, ckpt_dir)
    log.info("done in %.1f s; final loss %.4g", wall_s, info["losses"][-1] if info["losses"] else float("nan"))


def load_gaussian_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """The network and metadata written by train_gaussians (our own file, loaded with weights_only)."""
    state = torch.load(path, map_location=device, weights_only=True)
    model = bw_train.build_model(state["d"], state["params"]).to(device)
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state


def train_reference_w2(data_h5ad: str | Path, seed: int) -> float:
    """Set-level W2 from as many random training Gaussians as there are test ones to the test set: the score of
    a generator that memorised the training set (a floor no generator is expected to beat)."""
    train, test = read_gaussians(data_h5ad, split="train"), read_gaussians(data_h5ad, split="test")
    n_test = len(test["means"])
    idx = np.random.default_rng(seed).choice(len(train["means"]), size=min(n_test, len(train["means"])), replace=False)
    return bw_train.set_w2(
        *(torch.from_numpy(train[k][idx]) for k in ("means", "covs")),
        torch.from_numpy(test["means"]),
        torch.from_numpy(test["covs"]),
    )


def evaluate_gaussians(
    data_h5ad: str | Path,
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
    """Generate as many Gaussians as the test set holds and score them (spec A3): set-level W2 with BW² ground
    cost, of the generated and of the noise Gaussians; the fraction of non-PSD covariances; the smallest
    eigenvalue. Writes the metrics record and the generated Gaussians (npz, for the figure)."""
    runtime.setup_logging(log_path)
    flow = _gaussian_method(method)
    device = runtime.choose_device(threads)
    model, state = load_gaussian_model(model_path, device)
    test = read_gaussians(data_h5ad, split="test")
    test_means, test_covs = torch.from_numpy(test["means"]), torch.from_numpy(test["covs"])
    t0 = time.perf_counter()
    # a seed apart from the training seed's stream, fixed per run so reruns regenerate the same set
    gen = bw_train.sample(
        model,
        len(test_means),
        tuple(state["noise_stats"]),
        seed=1_000_003 + seed,
        method=flow,
        n_steps=int(evaluate["sample_steps"]),
        mean_scale=float(state["params"].get("mean_scale", 1.0)),
        df_scale=int(state["params"].get("df_scale", 5)),
    )
    sample_s = time.perf_counter() - t0
    gen = {k: v.detach().double().cpu() for k, v in gen.items()}
    metrics = bw_train.evaluate(gen, test_means, test_covs)
    metrics["w2_ratio_to_noise"] = metrics["w2_gen"] / metrics["w2_noise"]
    metrics["w2_train_reference"] = train_reference_w2(data_h5ad, seed)
    metrics["psd_frac"] = 1.0 - metrics["non_psd_frac"]
    metrics["sample_s"] = sample_s
    metrics["train_wall_s"] = float(state["train_wall_s"])
    rec = records.make_record(
        paper="wfm",
        experiment=experiment,
        method=method,
        seed=int(seed),
        scale=scale,
        metrics=metrics,
        wall_s=float(state["train_wall_s"]) + sample_s,
        device=device,
        config={"train": state["params"], "evaluate": dict(evaluate)},
        extra={
            "family": "gaussians",
            "data_kind": "synthetic" if test["uns"].get("dataset") == "spiral" else "real",
            "n_test": len(test_means),
            "d": int(state["d"]),
            "data": str(data_h5ad),
        },
    )
    records.write_record(out_record, rec)
    with io.atomic_path(out_samples) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            means=gen["means"].numpy(),
            covs=gen["covs"].numpy(),
            min_eig=bw.min_eigenvalue(gen["covs"]).numpy(),
        )
    log.info(
        "%s/%s: W2 gen %.4f, noise %.4f (ratio %.3f), non-PSD %.1f%%",
        experiment,
        method,
        metrics["w2_gen"],
        metrics["w2_noise"],
        metrics["w2_ratio_to_noise"],
        100 * metrics["non_psd_frac"],
    )


# ---------------------------------------------------------------- one entry point per rule


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown wfm family {family!r}; expected one of {FAMILIES}")
    return family


def prepare(
    family: str,
    out_path: str | Path,
    params: Mapping[str, Any],
    source: str | Path | None = None,
    log_path: str | Path | None = None,
) -> None:
    """Build one data set of `family` from its config block (`seed` drives the split) and raw input."""
    runtime.setup_logging(log_path)
    params = dict(params)
    seed = int(params.pop("seed", 0))
    if _family(family) == "gaussians":
        prepare_gaussians(out_path, params, seed, source=source)
    elif family == "clouds":
        from .clouds import prepare_clouds

        prepare_clouds(out_path, params, seed, source=source)
    else:
        from .niches import prepare_niches

        prepare_niches(out_path, params, seed, source=source)


def train_run(
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
    """Train one (family, method, seed) run on the prepared data."""
    if _family(family) == "gaussians":
        train_gaussians(data_path, method, train, seed, out_model, out_curve, ckpt_dir, threads, log_path)
    else:
        train_clouds(family, data_path, method, train, seed, out_model, out_curve, ckpt_dir, threads, log_path)


def evaluate_run(
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
    """Generate from one trained run and write its metrics record and samples."""
    if _family(family) == "gaussians":
        evaluate_gaussians(
            data_path, model_path, experiment, method, evaluate, seed, scale, out_record, out_samples, threads, log_path
        )
    else:
        evaluate_clouds(
            family,
            data_path,
            model_path,
            experiment,
            method,
            evaluate,
            seed,
            scale,
            out_record,
            out_samples,
            threads,
            log_path,
        )


# ---------------------------------------------------------------- point clouds and niches (spec A1.1, A5.2, A5.3)

# Rule wildcard of each family's point-cloud WFM run: unconditional on shapes, conditioned on the label on niches.
CLOUD_METHODS = {"clouds": ("wfm",), "niches": ("wfm_conditional",)}


def _cloud_method(family: str, method: str) -> None:
    if method not in CLOUD_METHODS[family]:
        raise ValueError(f"unknown {family} method {method!r}; expected one of {CLOUD_METHODS[family]}")


def _read_cloud_set(family: str, path: str | Path, split: str) -> dict:
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

    data = read_niches(path, split=split)
    n, k, _ = data["niches"].shape
    return {
        "points": data["niches"],
        "weights": np.full((n, k), 1.0 / k, np.float32),
        "labels": data["label_codes"],
        "label_names": data["label_names"],
        "data_kind": "semi-synthetic" if data["uns"].get("semi_synthetic") else "real",
        "dataset": data["uns"].get("dataset"),
    }


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
    """Train point-cloud WFM (spec A1.1) on the training clouds, or niches conditioned on their label (A5.3)."""
    from . import pointcloud

    runtime.setup_logging(log_path)
    _cloud_method(family, method)
    device = runtime.choose_device(threads)
    data = _read_cloud_set(family, data_path, "train")
    conditional = family == "niches"
    labels = torch.from_numpy(data["labels"]) if conditional else None
    n_labels = len(data["label_names"]) if conditional else 0
    log.info(
        "%s/%s on %d training clouds of %s (N_max=%d, d=%d%s)",
        family,
        method,
        len(data["points"]),
        data_path,
        data["points"].shape[1],
        data["points"].shape[2],
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
        "d": int(data["points"].shape[2]),
        "n_labels": int(n_labels),
        "family": family,
        "method": method,
        "seed": int(seed),
        "noise": info["noise"],
        "train_wall_s": float(wall_s),
        "step_s": float(info["step_s"]),
        "resumed_from": int(info["resumed_from"]),
    }
    _finish_run(state, info["losses"], out_model, out_curve, ckpt_dir)
    log.info(
        "done in %.1f s (%.1f ms/step); final loss %.4g",
        wall_s,
        1e3 * info["step_s"],
        info["losses"][-1] if info["losses"] else float("nan"),
    )


def load_cloud_model(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The transformer and metadata written by train_clouds (our own file, loaded with weights_only)."""
    from . import pointcloud

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = pointcloud.build_model(state["d"], state["params"], state["n_labels"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state


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
    """Generate as many clouds as the test split holds and score them (spec A3, A5.2, A5.3).

    clouds: sizes drawn from the training masks; nearest-test-cloud W2 of generated and of noise clouds, and
    1-NNA / MMD / COV under Chamfer and EMD against the test clouds. niches: one generated niche per test niche,
    with its label; label recovery by the nearest training niche (exact W2) beside chance, real test niches and
    noise; nearest W2 as for clouds."""
    from . import metrics, pointcloud
    from .clouds import draw_weights, noise_clouds

    runtime.setup_logging(log_path)
    _cloud_method(family, method)
    device = runtime.choose_device(threads)
    model, state = load_cloud_model(model_path)
    model.to(device)
    train, test = _read_cloud_set(family, data_path, "train"), _read_cloud_set(family, data_path, "test")
    n_eval = min(len(test["points"]), int(evaluate.get("max_clouds", len(test["points"]))))
    eval_seed = 1_000_003 + seed  # apart from the training seed's stream, fixed so reruns give the same set
    rng = np.random.default_rng(eval_seed)
    pick = np.sort(rng.choice(len(test["points"]), size=n_eval, replace=False))
    ref = (test["points"][pick], test["weights"][pick])
    g = torch.Generator().manual_seed(eval_seed)
    if family == "niches":
        weights = torch.from_numpy(ref[1])
        labels = torch.from_numpy(test["labels"][pick])
    else:
        weights = draw_weights(torch.from_numpy(train["weights"]), n_eval, g)
        labels = None
    t0 = time.perf_counter()
    gen = pointcloud.sample_pointcloud(
        model,
        weights,
        seed=eval_seed,
        labels=labels,
        n_steps=int(evaluate["sample_steps"]),
        solver=evaluate.get("solver", "euler"),
        noise=state["noise"],
    )
    sample_s = time.perf_counter() - t0
    gen_points = gen["points"].cpu().numpy()
    noise_points = noise_clouds(weights, state["d"], state["noise"], torch.Generator().manual_seed(eval_seed + 1))
    generated, noise = (gen_points, weights.numpy()), (noise_points.numpy(), weights.numpy())
    t1 = time.perf_counter()
    out: dict[str, float] = {
        "nearest_w2": metrics.nearest_w2(generated, ref),
        "nearest_w2_noise": metrics.nearest_w2(noise, ref),
    }
    out["nearest_w2_ratio_to_noise"] = out["nearest_w2"] / out["nearest_w2_noise"]
    # memorisation check (spec A3, v1 Figure 2): generated clouds much closer to the training set than real
    # held-out clouds are would be copies, not new samples
    n_train_ref = min(len(train["points"]), int(evaluate.get("max_train_reference", 500)))
    train_pick = np.sort(rng.choice(len(train["points"]), size=n_train_ref, replace=False))
    train_ref = (train["points"][train_pick], train["weights"][train_pick])
    out["nearest_train_w2"] = metrics.nearest_w2(generated, train_ref)
    out["nearest_train_w2_real"] = metrics.nearest_w2(ref, train_ref)
    out["memorisation_ratio"] = out["nearest_train_w2"] / out["nearest_train_w2_real"]
    if family == "clouds":
        for name in evaluate.get("set_metrics", ["cd", "emd"]):
            metric = {"cd": "chamfer", "emd": "emd"}[name]
            D_gg, D_rr, D_gr = (
                metrics.pairwise(metric, a, b) for a, b in ((generated, generated), (ref, ref), (generated, ref))
            )
            out[f"one_nna_{name}"] = metrics.one_nna(D_gg, D_rr, D_gr)
            out[f"mmd_{name}"] = metrics.mmd(D_gr)
            out[f"cov_{name}"] = metrics.coverage(D_gr)
    else:
        from . import niches

        test_labels = test["labels"][pick]
        references = niches.recovery_references(train["points"], train["labels"], ref[0], test_labels, seed=eval_seed)
        out["label_recovery"] = niches.label_recovery(gen_points, test_labels, train["points"], train["labels"])
        out["label_recovery_chance"] = references["chance"]
        out["label_recovery_over_chance"] = out["label_recovery"] / references["chance"]
        out["label_recovery_real"] = references["upper"]
        out["label_recovery_noise"] = references["noise"]
    out["metrics_s"] = time.perf_counter() - t1
    out["sample_s"] = sample_s
    out["train_wall_s"] = float(state["train_wall_s"])
    out["step_ms"] = 1e3 * float(state["step_s"])
    rec = records.make_record(
        paper="wfm",
        experiment=experiment,
        method=method,
        seed=int(seed),
        scale=scale,
        metrics=out,
        wall_s=float(state["train_wall_s"]) + sample_s,
        device=device,
        config={"train": state["params"], "evaluate": dict(evaluate)},
        extra={
            "family": family,
            "data_kind": test["data_kind"],
            "dataset": test["dataset"],
            "n_eval": int(n_eval),
            "d": int(state["d"]),
            "data": str(data_path),
            "label_names": test["label_names"],
        },
    )
    records.write_record(out_record, rec)
    arrays = {"points": gen_points, "weights": weights.numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    with io.atomic_path(out_samples) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    log.info(
        "%s/%s: nearest W2 %.4f vs noise %.4f (ratio %.3f)%s",
        experiment,
        method,
        out["nearest_w2"],
        out["nearest_w2_noise"],
        out["nearest_w2_ratio_to_noise"],
        f"; label recovery {out['label_recovery']:.3f} (chance {out['label_recovery_chance']:.3f}, real "
        f"{out['label_recovery_real']:.3f})"
        if family == "niches"
        else "",
    )
