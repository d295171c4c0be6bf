"""Tables and figures of the WFM reproduction: BW-FM vs Euclidean FM on Gaussians, point-cloud metrics,
conditional niche generation, and figures of generated Gaussians (ellipses), clouds, niches and training curves.

The paper's result tables were not retrieved (docs/papers/wfm.md, "Unverified"), so config/references/wfm.yaml
lists no number: the paper_value column stays empty and says so, rather than showing a number we could not check.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from papersuite.core import io, plotting, runtime, tables
from papersuite.core import records as core_records
from papersuite.core import references as core_references

__all__ = ["build_report", "parse_run_path", "FAMILY_METRICS"]

log = logging.getLogger("papersuite.wfm.report")

FAMILY_ORDER = ("gaussians", "clouds", "niches")
METHOD_LABELS = {
    "bw_fm": "BW-FM (Riemannian, exp-map steps)",
    "euclidean_fm": "Euclidean FM on (m, Σ)",
    "wfm": "WFM (point clouds)",
    "wfm_conditional": "WFM, conditioned on the label",
}
DATA_KIND_LABELS = {
    "real": "real",
    "synthetic": "synthetic",
    "semi-synthetic": "SEMI-SYNTHETIC (real expression, synthetic tissue layout)",
}
# metrics shown per family, in order; each also gets its _std column over seeds
FAMILY_METRICS = {
    "gaussians": [
        "w2_gen",
        "w2_noise",
        "w2_ratio_to_noise",
        "w2_train_reference",
        "non_psd_frac",
        "min_eig",
        "train_wall_s",
    ],
    "clouds": [
        "nearest_w2",
        "nearest_w2_noise",
        "nearest_w2_ratio_to_noise",
        "one_nna_cd",
        "one_nna_emd",
        "mmd_cd",
        "mmd_emd",
        "cov_cd",
        "cov_emd",
        "memorisation_ratio",
        "train_wall_s",
    ],
    "niches": [
        "label_recovery",
        "label_recovery_chance",
        "label_recovery_over_chance",
        "label_recovery_real",
        "label_recovery_noise",
        "nearest_w2",
        "nearest_w2_noise",
        "nearest_w2_ratio_to_noise",
        "memorisation_ratio",
        "train_wall_s",
    ],
}
SE_NOTE = (
    "a ± b: the seed mean and its standard error, the larger of the seed spread and the runs' own evaluation "
    'noise (bootstrap or binomial over the generated items; docs/papers/wfm.md, "Noise and verdicts")'
)
TABLE_FILES = {"gaussians": "bw_vs_euclidean", "clouds": "point_clouds", "niches": "niches"}
TABLE_TITLES = {
    "gaussians": "WFM: Bures-Wasserstein FM vs Euclidean FM over Gaussians (set-level W2 to the test set)",
    "clouds": "WFM: point-cloud generation (generated vs test clouds)",
    "niches": "WFM: conditional niche generation (label recovery by the nearest real niche)",
}
TABLE_NOTES = {
    "gaussians": [
        "w2_gen / w2_noise: W2 between the generated (resp. source-noise) set and the test set of Gaussians, exact OT "
        "with the BW² ground cost; w2_ratio_to_noise = w2_gen / w2_noise",
        "w2_train_reference: as many random training Gaussians as test ones, against the test set (a memorising "
        "generator's score)",
        "non_psd_frac: generated covariances with a negative eigenvalue, before projection; the W2 of non-PSD "
        "outputs is taken after eigen-clipping them",
    ],
    "clouds": [
        "nearest_w2: mean over generated clouds of the exact W2 (POT emd2, squared-Euclidean cost, uniform "
        "weights) to the nearest test cloud; _noise: the same for the source-noise clouds",
        "1-NNA (ideal 0.5), MMD (minimum matching distance) and COV over generated vs test clouds under Chamfer "
        "(CD: squared, two-way means) and EMD (exact OT, unsquared Euclidean cost, uniform weights: the "
        "PointFlow convention)",
        "memorisation_ratio: mean W2 from generated clouds to the nearest training cloud over the same for real "
        "test clouds; well below 1 means copies of training clouds (the paper's v1 Figure 2: memorisation)",
    ],
    "niches": [
        "label_recovery: a generated niche, conditioned on a label, is classified by the label of its nearest "
        "training niche under exact W2; chance = always predicting the most frequent label",
        "label_recovery_real: real test niches classified the same way (the best a generator can expect); "
        "_noise: source-noise niches",
        "memorisation_ratio: as for point clouds; below 1 means generated niches sit closer to training niches "
        "than real held-out niches do",
    ],
}


def parse_run_path(path: str | Path) -> tuple[str, str, str, int]:
    """(family, experiment, method, seed) from '.../{family}/{experiment}/{method}/seed{seed}[/file | .ext]'."""
    path = Path(path)
    parts = list(path.parent.parts) + [path.stem] if path.stem.startswith("seed") else list(path.parent.parts)
    m = re.fullmatch(r"seed(\d+)", parts[-1]) if parts else None
    if m is None or len(parts) < 4:
        raise ValueError(f"{path}: expected .../<family>/<experiment>/<method>/seed<N>[/<file>]")
    return parts[-4], parts[-3], parts[-2], int(m.group(1))


def _order(values: Iterable[str], preferred: Iterable[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    pref = [v for v in preferred if v in values]
    return pref + sorted(v for v in values if v not in pref)


def _records_by_family(records: Iterable[Any]) -> dict[str, pd.DataFrame]:
    recs = []
    for r in records:
        loaded = [core_records.validate_record(r)] if isinstance(r, Mapping) else core_records.load_records(r)
        for rec in loaded:
            if rec["paper"] != "wfm":
                continue
            rec = dict(rec)
            rec["family"] = rec.get("extra", {}).get("family", "gaussians")
            rec["data_kind"] = rec.get("extra", {}).get("data_kind", "real")
            recs.append(rec)
    if not recs:
        raise ValueError("build_report: no wfm records given")
    frames = {}
    for family in FAMILY_ORDER:
        fam = [r for r in recs if r["family"] == family]
        if fam:
            frame = core_records.records_frame(fam)
            frame["data_kind"] = [r["data_kind"] for r in fam]
            frames[family] = frame
    return frames


def _family_table(frame: pd.DataFrame, family: str, numbers: pd.DataFrame) -> pd.DataFrame:
    metrics = [m for m in FAMILY_METRICS[family] if m in frame.columns]
    summary = tables.summarize(frame, ["experiment", "method", "data_kind"], metrics)
    headline = metrics[0]
    summary = tables.beside_paper(summary, numbers, on=("experiment", "method"), metric=headline)
    summary = summary.rename(columns={"paper_value": f"paper_{headline}"})
    summary.insert(2, "label", summary["method"].map(METHOD_LABELS).fillna(summary["method"]))
    summary["data_kind"] = summary["data_kind"].map(DATA_KIND_LABELS).fillna(summary["data_kind"])
    return summary.rename(columns={"data_kind": "data"}).reset_index(drop=True)


def _load_samples(paths: Iterable[str | Path]) -> dict[tuple[str, str, str, int], dict[str, np.ndarray]]:
    out = {}
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            out[parse_run_path(path)] = {k: npz[k] for k in npz.files}
    return out


def _ellipse(ax: Any, mean: np.ndarray, cov: np.ndarray, color: str, bad: bool = False) -> None:
    """1-σ ellipse of the first two coordinates; a non-PSD covariance is drawn dashed red at its |eigenvalues|."""
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(cov[:2, :2])
    angle = math.degrees(math.atan2(vecs[1, -1], vecs[0, -1]))
    w, h = 2 * np.sqrt(np.abs(vals[::-1]))
    ax.add_patch(
        Ellipse(
            mean[:2],
            w,
            h,
            angle=angle,
            fill=False,
            lw=0.6,
            alpha=0.7,
            edgecolor="tab:red" if bad else color,
            linestyle="--" if bad else "-",
        )
    )


def _plot_gaussians(samples: Mapping, data: Mapping[str, dict], path: Path, max_shown: int = 60) -> None:
    import matplotlib.pyplot as plt

    from .data import read_gaussians

    runs = sorted({(e, m) for (f, e, m, s) in samples if f == "gaussians"})
    experiments = _order({e for e, _ in runs}, ["pbmc68k", "spiral"])
    methods = _order({m for _, m in runs}, ["bw_fm", "euclidean_fm"])
    if not experiments:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no Gaussian experiments", ha="center")
        plotting.save_figure(fig, path)
        return
    fig, axes = plt.subplots(
        len(experiments), 1 + len(methods), figsize=(3.6 * (1 + len(methods)), 3.4 * len(experiments)), squeeze=False
    )
    for row, experiment in zip(axes, experiments):
        test = read_gaussians(data[experiment], split="test")
        panels = [("test set", test["means"], test["covs"], None)]
        for method in methods:
            key = next((k for k in sorted(samples) if k[:3] == ("gaussians", experiment, method)), None)
            if key is not None:
                s = samples[key]
                panels.append((METHOD_LABELS.get(method, method), s["means"], s["covs"], s["min_eig"]))
        for ax, (title, means, covs, min_eig) in zip(row, panels):
            for i in range(min(len(means), max_shown)):
                _ellipse(
                    ax,
                    means[i],
                    covs[i],
                    "tab:blue" if min_eig is None else "tab:green",
                    bad=min_eig is not None and min_eig[i] < 0,
                )
            lim = np.abs(test["means"][:, :2]).max() * 1.3 + 1e-9
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            n_bad = 0 if min_eig is None else int((min_eig < 0).sum())
            ax.set_title(
                f"{experiment}: {title}"
                + (f"\n{n_bad}/{len(means)} non-PSD (red, dashed)" if min_eig is not None else ""),
                fontsize=8,
            )
    fig.tight_layout()
    plotting.save_figure(fig, path)


def _scatter_clouds(ax_row: Any, clouds: np.ndarray, weights: np.ndarray, color: str, title: str) -> None:
    for i, ax in enumerate(ax_row):
        if i < len(clouds):
            pts = clouds[i][weights[i] > 0]
            if pts.shape[1] >= 3:  # 3-D shapes: the x-z projection, as ShapeNet figures usually show
                pts = pts[:, [0, 2]]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, color=color)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    ax_row[0].set_ylabel(title, fontsize=7)


def _plot_clouds(samples: Mapping, data: Mapping[str, dict], path: Path, n_show: int = 8) -> None:
    import matplotlib.pyplot as plt

    from .clouds import read_clouds

    runs = sorted(k for k in samples if k[0] == "clouds")
    experiments = _order({k[1] for k in runs}, [])
    rows = []
    for experiment in experiments:
        test = read_clouds(data[experiment], split="test")
        rows.append((f"{experiment}: test", test["points"][:n_show], test["weights"][:n_show], "tab:blue"))
        for key in [k for k in runs if k[1] == experiment][:2]:
            s = samples[key]
            rows.append(
                (f"{experiment}: {key[2]} seed {key[3]}", s["points"][:n_show], s["weights"][:n_show], "tab:green")
            )
    fig, axes = plt.subplots(max(len(rows), 1), n_show, figsize=(1.3 * n_show, 1.4 * max(len(rows), 1)), squeeze=False)
    for ax_row, (title, clouds, weights, color) in zip(axes, rows):
        _scatter_clouds(ax_row, clouds, weights, color, title)
    fig.tight_layout()
    plotting.save_figure(fig, path)


def _plot_niches(samples: Mapping, data: Mapping[str, dict], path: Path) -> None:
    """Per label: the real training niches and the generated ones, their cells on expression PCs 1-2."""
    import matplotlib.pyplot as plt

    from .niches import read_niches

    runs = sorted(k for k in samples if k[0] == "niches")
    panels = []
    for key in runs[:1]:
        real = read_niches(data[key[1]], split="train", obs=False)
        s = samples[key]
        names = list(real["label_names"])
        for label in range(len(names)):
            panels.append(
                (key[1], names[label], real["niches"][real["label_codes"] == label], s["points"][s["labels"] == label])
            )
    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    for ax, (_experiment, name, real_niches, gen_niches) in zip(axes[0], panels):
        r = real_niches[:, :, :2].reshape(-1, 2)
        g = gen_niches[:, :, :2].reshape(-1, 2)
        ax.scatter(r[:, 0], r[:, 1], s=2, alpha=0.25, color="tab:blue", label="real")
        ax.scatter(g[:, 0], g[:, 1], s=2, alpha=0.25, color="tab:green", label="generated")
        ax.set_title(f"{name}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if panels:
        axes[0][0].legend(fontsize=6, markerscale=3, loc="best")
        fig.suptitle(f"{panels[0][0]}: cells of real vs generated niches per label (expression PCs 1-2)", fontsize=9)
    fig.tight_layout()
    plotting.save_figure(fig, path)


def _plot_curves(curves: Iterable[str | Path], path: Path) -> None:
    import matplotlib.pyplot as plt

    by_key: dict[tuple[str, str], list[tuple[str, int, pd.DataFrame]]] = {}
    for c in curves:
        family, experiment, method, seed = parse_run_path(c)
        by_key.setdefault((family, experiment), []).append((method, seed, pd.read_csv(c)))
    keys = sorted(by_key, key=lambda k: (FAMILY_ORDER.index(k[0]) if k[0] in FAMILY_ORDER else 9, k[1]))
    n = max(len(keys), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), squeeze=False)
    colors = plotting.method_colors(METHOD_LABELS)
    for ax, key in zip(axes[0], keys):
        for method, seed, frame in sorted(by_key[key], key=lambda t: (t[0], t[1])):
            window = max(len(frame) // 50, 1)
            smooth = frame["loss"].rolling(window, min_periods=1).mean()
            ax.plot(
                frame["step"],
                smooth,
                color=colors.get(method),
                lw=1,
                label=f"{METHOD_LABELS.get(method, method)} s{seed}",
            )
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (moving mean)")
        ax.set_title(f"{key[0]}: {key[1]}", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    plotting.save_figure(fig, path)


def build_report(
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
    """Write bw_vs_euclidean, point_clouds and niches tables (CSV + Markdown) and the four figures.
    `data`: the prepared data files, '.../data/{family}/{experiment}.{h5ad|npz}'."""
    runtime.setup_logging(log_path)
    plotting.apply_style()
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    frames = _records_by_family(records)
    refs = core_references.load_references(references) if isinstance(references, (str, Path)) else references
    numbers = (
        core_references.paper_numbers(refs)
        if refs
        else pd.DataFrame(columns=["id", "table", "experiment", "row", "column", "value", "unit", "source", "verified"])
    )
    scale_note = (
        f"scale: {scale}; mean over seeds (n_seeds; the CSV also holds each metric's _std over seeds and _se); "
        "the paper's result tables "
        "were not retrieved, so its column is empty (config/references/wfm.yaml)"
    )
    for family in FAMILY_ORDER:
        frame = frames.get(family)
        table = _family_table(frame, family, numbers) if frame is not None else pd.DataFrame()
        name = TABLE_FILES[family]
        io.write_csv(tables_dir / f"{name}.csv", table)
        markdown = tables.format_markdown(
            tables.estimate_view(table), TABLE_TITLES[family], notes=[scale_note, SE_NOTE] + TABLE_NOTES[family]
        )
        io.write_text(tables_dir / f"{name}.md", markdown)
    data_by_family: dict[str, dict[str, str]] = {}
    for d in data:
        d = Path(d)
        data_by_family.setdefault(d.parent.name, {})[d.stem] = str(d)
    loaded = _load_samples(samples)
    _plot_gaussians(loaded, data_by_family.get("gaussians", {}), figures_dir / "generated_gaussians.png")
    _plot_clouds(loaded, data_by_family.get("clouds", {}), figures_dir / "generated_clouds.png")
    _plot_niches(loaded, data_by_family.get("niches", {}), figures_dir / "generated_niches.png")
    _plot_curves(curves, figures_dir / "training_curves.png")
    log.info("wrote wfm tables to %s and figures to %s", tables_dir, figures_dir)
