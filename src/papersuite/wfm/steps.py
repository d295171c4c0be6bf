"""Workflow entry points of wfm: one function per rule `wfm_<step>`, called by `workflow/scripts/wfm/<step>.py`.

Wasserstein Flow Matching (Haviv, Pooladian, Pe'er, Amos; ICML 2025, arXiv:2411.00698); what each step
reproduces, at which scale, is in docs/papers/wfm.md. Science modules are imported inside each function, so a
job imports only what its step uses (torch, anndata, squidpy and matplotlib are slow to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["prepare_gaussians", "prepare_clouds", "prepare_niches", "train", "fit", "score", "table"]


def _split_seed(params: Mapping[str, Any]) -> tuple[dict, int]:
    """A data block without its `seed` (which drives the split), and that seed (0 when absent)."""
    params = dict(params)
    return params, int(params.pop("seed", 0))


def prepare_gaussians(
    *,
    out_path: str | Path,
    params: Mapping[str, Any],
    source: str | Path | None = None,
    log_path: str | Path | None = None,
) -> None:
    """Build one Gaussians data set (.h5ad): pbmc68k kNN Gaussians standing in for the paper's single-cell
    Gaussians, or the spiral of the authors' tutorial (docs/papers/wfm.md, "Data: Gaussians")."""
    from papersuite.core import runtime

    from .data import prepare_gaussians as build

    runtime.setup_logging(log_path)
    params, seed = _split_seed(params)
    build(out_path, params, seed, source=source)


def prepare_clouds(
    *,
    out_path: str | Path,
    params: Mapping[str, Any],
    source: str | Path | None = None,
    log_path: str | Path | None = None,
) -> None:
    """Build one point-cloud data set (.npz): 2-D digit clouds at tiny scale, ShapeNet (the paper's 3-D
    shapes) at full scale (docs/papers/wfm.md, "Data: point clouds")."""
    from papersuite.core import runtime

    from .clouds import prepare_clouds as build

    runtime.setup_logging(log_path)
    params, seed = _split_seed(params)
    build(out_path, params, seed, source=source)


def prepare_niches(
    *,
    out_path: str | Path,
    params: Mapping[str, Any],
    source: str | Path | None = None,
    log_path: str | Path | None = None,
) -> None:
    """Build one spatial-niche data set (.h5ad): the paper's MERFISH niches at full scale, a semi-synthetic
    tissue at tiny scale (docs/papers/wfm.md, "Data: niches")."""
    from papersuite.core import runtime

    from .niches import prepare_niches as build

    runtime.setup_logging(log_path)
    params, seed = _split_seed(params)
    build(out_path, params, seed, source=source)


def train(
    *,
    family: str,
    data_path: str | Path,
    experiment: str,
    method: str,
    train: Mapping[str, Any],
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_model: str | Path,
    out_curve: str | Path,
    out_record: str | Path,
    out_samples: str | Path,
    ckpt_dir: str | Path,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Rule `wfm_train`: train one (family, experiment, method, seed) run, then generate from it and score it in
    the same job (fit, then score), so that the run pays its imports and data loading once
    (docs/papers/wfm.md, "Pipeline")."""
    fit(
        family=family,
        data_path=data_path,
        method=method,
        train=train,
        seed=seed,
        out_model=out_model,
        out_curve=out_curve,
        ckpt_dir=ckpt_dir,
        threads=threads,
        log_path=log_path,
    )
    score(
        family=family,
        data_path=data_path,
        model_path=out_model,
        experiment=experiment,
        method=method,
        evaluate=evaluate,
        seed=seed,
        scale=scale,
        out_record=out_record,
        out_samples=out_samples,
        threads=threads,
        log_path=log_path,
    )


def fit(
    *,
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
    """The first half of rule `wfm_train`: train one (family, method, seed) run on the prepared data and write its
    weights and loss curve:
    BW-FM or Euclidean FM on Gaussians (the paper's Bures–Wasserstein FM against the naive approach), point-cloud
    WFM on shapes, conditional point-cloud WFM on niches (docs/papers/wfm.md, "Method")."""
    from .runs import check_family

    if check_family(family) == "gaussians":
        from .gaussian_runs import train_gaussians

        train_gaussians(data_path, method, train, seed, out_model, out_curve, ckpt_dir, threads, log_path)
    else:
        from .cloud_runs import train_clouds

        train_clouds(family, data_path, method, train, seed, out_model, out_curve, ckpt_dir, threads, log_path)


def score(
    *,
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
    """The second half of rule `wfm_train`: generate from one trained run, score it and write its metrics record
    and samples: set-level W2 and PSD
    fraction on Gaussians; nearest-cloud W2, 1-NNA, MMD and COV on shapes (the paper's point-cloud table);
    label recovery on niches (docs/papers/wfm.md, "Metrics")."""
    from .runs import check_family

    if check_family(family) == "gaussians":
        from .gaussian_runs import evaluate_gaussians

        evaluate_gaussians(
            data_path, model_path, experiment, method, evaluate, seed, scale, out_record, out_samples, threads, log_path
        )
    else:
        from .cloud_runs import evaluate_clouds

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


def table(
    *,
    records: list,
    samples: list,
    curves: list,
    data: list,
    references: Any,
    scale: str,
    tables_dir: str | Path,
    figures_dir: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """Write the tables (BW-FM vs Euclidean FM, point clouds, niches; ours beside the paper's, whose numbers were
    not retrieved) and the figures of generated Gaussians, clouds, niches and training curves
    (docs/papers/wfm.md, "Unverified")."""
    from .report import build_report

    build_report(
        records=records,
        samples=samples,
        curves=curves,
        data=data,
        references=references,
        scale=scale,
        tables_dir=tables_dir,
        figures_dir=figures_dir,
        log_path=log_path,
    )
