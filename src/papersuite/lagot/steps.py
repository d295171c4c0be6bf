"""Workflow entry points of lagot: one function per rule `lagot_<step>`, called by `workflow/scripts/lagot/<step>.py`.

Each imports its science lazily, so that a job pays only for the imports its step uses. The paper: Pooladian,
Domingo-Enrich, Chen, Amos, "Neural Optimal Transport with Lagrangian Costs", UAI 2024, arXiv:2406.00288; what each
step reproduces is described in docs/papers/lagot.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["snapshots", "transport", "metric", "table"]

log = logging.getLogger("papersuite.lagot.steps")

# Record metrics that are run statistics, not results: kept out of the record's metrics (wall_s holds the time).
_NOT_METRICS = ("train_seconds",)
BACKGROUND_GRID = 121  # points per axis of the potential drawn behind the obstacle figure's paths


def _curve_rows(columns: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """Per-iteration lists as rows {iteration, name: value}; a shorter list leaves its later cells empty."""
    n = max((len(values) for values in columns.values()), default=0)
    return [{"iteration": i, **{k: v[i] for k, v in columns.items() if i < len(v)}} for i in range(n)]


def _float_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The record's metrics: every number of the run's metrics, less the run statistics; a missing value (NaN, e.g.
    the amortizer's pretraining energy under a closed-form cost) is None, as records require."""
    from papersuite.core.records import finite_or_none

    return {k: finite_or_none(v) for k, v in metrics.items() if k not in _NOT_METRICS and isinstance(v, (int, float))}


def _background(geometry: Any) -> dict[str, Any]:
    """The geometry's final potential U on a grid over its bounds, for the obstacle figure (numpy arrays)."""
    import torch

    (x_lo, x_hi), (y_lo, y_hi) = geometry.bounds
    xs = torch.linspace(x_lo, x_hi, BACKGROUND_GRID, dtype=torch.float64)
    ys = torch.linspace(y_lo, y_hi, BACKGROUND_GRID, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        potential = geometry.potential(torch.stack([gx, gy], dim=-1), 1.0)
    return {"grid_x": xs.numpy(), "grid_y": ys.numpy(), "potential": potential.numpy()}


def snapshots(
    *,
    dataset: str,
    snapshots: Mapping[str, Any],
    source: str | Path | None,
    out_npz: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """One dataset's snapshots (T, N, 2) for metric learning (paper §5.2, after Scarvelis & Solomon 2023):
    regenerated along the true metric's geodesics from a seed, or read from the authors' file (full scale)."""
    import numpy as np

    from papersuite.core import io, runtime

    runtime.setup_logging(log_path)
    name = str(snapshots["name"])
    if source is not None:
        data = _read_authors_snapshots(source, name)
        origin = f"the authors' file {Path(source).name}"
    else:
        from .snapshots import make_snapshots

        data = make_snapshots(name, int(snapshots["seed"])).numpy()
        origin = f"regenerated from the true {name} metric, seed {int(snapshots['seed'])}"
    with io.atomic_path(out_npz) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, snapshots=data, name=np.array(name))
    log.info("%s: %d snapshots of %d particles, %s", dataset, data.shape[0], data.shape[1], origin)


def _read_authors_snapshots(source: str | Path, name: str) -> Any:
    """The Scarvelis & Solomon tensor file as (T, N, 2) float64; its sha256 was checked by the download rule, and it
    is read with torch's weights-only loader (tensors, no code). X-paths' two streams (2, T, N, 2) are concatenated."""
    import torch

    data = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"{source}: expected one tensor of snapshots, got {type(data).__name__}")
    data = data.detach().to(torch.float64)
    if data.dim() == 4:  # (streams, T, N, 2) -> (T, streams·N, 2)
        data = torch.cat(list(data), dim=1)
    if data.dim() != 3 or data.shape[-1] != 2:
        raise ValueError(f"{source}: {name} snapshots must have shape (T, N, 2), got {tuple(data.shape)}")
    return data.numpy()


def transport(
    *,
    experiment: str,
    config: Mapping[str, Any],
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    out_model: str | Path,
    out_curve: str | Path,
    out_paths: str | Path,
    out_record: str | Path,
    ckpt_dir: str | Path | None,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Train the neural dual with c-transform amortization on one (experiment, seed), the spline amortizer too where
    the cost is not closed-form (paper §3, Figs 1-2, Table 1); then, in the same job, the marginal W2 of the
    ODE-free map's pushforward beside the target's own sampling noise, and the obstacle share of its paths."""
    import numpy as np
    import torch

    from papersuite.core import io, records, runtime

    from .geometry import make_geometry
    from .nlot import train_nlot
    from .sampling import samplers

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    geometry_cfg = dict(config["geometry"])
    geometry = make_geometry(str(geometry_cfg.pop("name")), **geometry_cfg)
    source, target = samplers(str(config["data"]))
    train_cfg = {**dict(config.get("train", {})), **dict(evaluate)}
    with runtime.Stopwatch() as watch:
        result = train_nlot(geometry, str(config["cost"]), source, target, train_cfg, seed, ckpt_dir)
    with io.atomic_path(out_model) as tmp:
        torch.save({"experiment": experiment, "seed": int(seed), "states": result["states"]}, tmp)
    io.write_rows(out_curve, _curve_rows(result["curve"]))
    figure = {k: v.detach().cpu().numpy() for k, v in result["figure"].items()}
    with io.atomic_path(out_paths) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, geometry=np.array(geometry.name), **figure, **_background(geometry))
    metrics = _float_metrics(result["metrics"])
    rec = records.make_record(
        paper="lagot",
        experiment=experiment,
        method=f"nlot_{config['cost']}",
        seed=int(seed),
        scale=scale,
        metrics=metrics,
        wall_s=watch.elapsed,
        device=device,
        config={"experiment": dict(config), "evaluate": dict(evaluate)},
        extra={"geometry": geometry.name, "data": str(config["data"]), "cost": str(config["cost"])},
    )
    records.write_record(out_record, rec)
    log.info(
        "%s seed %d: W2 %.4g (noise %.4g, ratio %.3g) in %.1f s",
        *(experiment, seed, metrics.get("w2", float("nan")), metrics.get("noise_w2", float("nan"))),
        *(metrics.get("w2_ratio", float("nan")), watch.elapsed),
    )


def metric(
    *,
    dataset: str,
    config: Mapping[str, Any],
    seed: int,
    scale: str,
    data_npz: str | Path,
    out_model: str | Path,
    out_curve: str | Path,
    out_field: str | Path,
    out_record: str | Path,
    ckpt_dir: str | Path | None,
    threads: int = 1,
    log_path: str | Path | None = None,
) -> None:
    """Learn one dataset's metric from its snapshots by the bilevel loop (paper §5.2, Table 2, Figs 3-4); then its
    alignment with the true metric on a grid, the learned and true directions and the particle chains."""
    import numpy as np
    import torch

    from papersuite.core import io, records, runtime

    from .metric_learning import learn_metric

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    with np.load(data_npz, allow_pickle=False) as data:
        snaps = torch.from_numpy(data["snapshots"])
    with runtime.Stopwatch() as watch:
        result = learn_metric(snaps, str(config["true_metric"]), dict(config.get("train", {})), seed, ckpt_dir)
    with io.atomic_path(out_model) as tmp:
        torch.save({"dataset": dataset, "seed": int(seed), "states": result["states"]}, tmp)
    curve = result["curve"]
    io.write_rows(out_curve, _curve_rows({k: v for k, v in curve.items() if k in ("dual", "amor_loss")}))
    quiver, chains = result["quiver"], result["chains"]
    metrics = _float_metrics(result["metrics"])
    with io.atomic_path(out_field) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            points=quiver["points"].numpy(),
            learned_direction=quiver["learned"].numpy(),
            true_direction=quiver["true"].numpy(),
            snapshots=snaps.numpy(),
            chain_points=chains["points"].numpy(),
            alignment=np.array(metrics["alignment"]),
            alignment_iteration=np.array(curve.get("alignment_iteration", [])),
            alignment_curve=np.array(curve.get("alignment", [])),
        )
    rec = records.make_record(
        paper="lagot",
        experiment=dataset,
        method="metric_learning",
        seed=int(seed),
        scale=scale,
        metrics=metrics,
        wall_s=watch.elapsed,
        device=device,
        config=dict(config),
        extra={"true_metric": str(config["true_metric"]), "snapshots": list(snaps.shape)},
    )
    records.write_record(out_record, rec)
    log.info(
        "%s seed %d: alignment %.3f (initial %.3f) in %.1f s",
        dataset,
        seed,
        metrics["alignment"],
        metrics.get("alignment_initial", float("nan")),
        watch.elapsed,
    )


def table(
    *,
    records: list,
    paths: list,
    fields: list,
    references: Any,
    scale: str,
    outputs: Mapping[str, str],
    log_path: str | Path | None = None,
) -> None:
    """The transport table (marginal W2 vs noise, obstacle share per geometry: paper Table 1's setting) and the
    alignment table (paper Table 2), the obstacle figure (Figs 1-2) and the learned-metric figure (Figs 3-4)."""
    from .report import build_report

    build_report(records, paths, fields, references, scale, outputs, log_path=log_path)
