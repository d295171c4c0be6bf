"""Workflow entry points of mfm: one function per rule `mfm_<step>`, called by `workflow/scripts/mfm/<step>.py`.

Each imports its science lazily, so that a job pays only for the imports its step uses. The paper: Atanackovic,
Zhang, Amos, Blanchette, Lee, Bengio, Tong, Neklyudov, "Meta Flow Matching", ICLR 2025, arXiv:2408.14608; what each
step reproduces is described in docs/papers/mfm.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["convert", "prepare", "train", "table"]

log = logging.getLogger("papersuite.mfm.steps")


def convert(
    *, archive: str | Path, member: str, sha256: str | None, out_parquet: str | Path, log_path: str | Path | None = None
) -> None:
    """The organoid cell table: a pickle inside the downloaded zip → parquet, only once the pickle's sha256 matches
    the digest pinned in config (full scale; a missing digest is refused)."""
    from papersuite.core import runtime

    from .archive import convert_archive_member

    runtime.setup_logging(log_path)
    convert_archive_member(archive, member, sha256, out_parquet)


def _splits(data: Mapping[str, Any], seed: int, source: str | Path | None) -> tuple[dict, dict]:
    """The populations of every split of one experiment's data block, and their meta."""
    kind = data["kind"]
    if kind == "letters":
        from .letters import letter_splits

        splits = letter_splits(dict(data["letters"]), seed, int(data["font_size"]), int(data["canvas"]))
        return splits, {"kind": kind, "n_treatments": 0, "note": "DejaVu Sans (the paper: Arial)"}
    if kind == "recentring":
        from .toy import recentring_populations

        n_points = int(data["n_points"])
        splits = {
            "train": recentring_populations(int(data["n_train"]), n_points, seed),
            "test": recentring_populations(int(data["n_test"]), n_points, seed + 1, first_index=None),
        }
        return splits, {"kind": kind, "n_treatments": 0, "note": "re-centring toy"}
    import pandas as pd

    from .organoid import prepare_splits

    if kind == "screen":
        from .screen import semisynthetic_screen

        cells = semisynthetic_screen(dict(data["screen"]), seed, source)
        markers = [f"PC{i + 1}" for i in range(int(data["screen"]["dims"]))]
        note = "SEMI-SYNTHETIC: pbmc68k expression, synthetic patients and treatments"
    elif kind == "organoid":
        from .organoid import marker_columns

        cells, note = pd.read_parquet(source), "organoid screen (Ramos Zapatero et al. 2023)"
        markers = marker_columns(cells, list(data["drop_markers"]))
    else:
        raise ValueError(f"data kind must be letters, recentring, screen or organoid, got {kind!r}")
    splits = prepare_splits(cells, markers, dict(data["loader"]), seed)
    return splits, {"kind": kind, "n_treatments": len(data["loader"]["treatments"]), "note": note}


def prepare(
    *,
    experiment: str,
    data: Mapping[str, Any],
    seed: int,
    source: str | Path | None,
    out_data: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """One experiment's populations (train / val / test), written as our own torch file."""
    from papersuite.core import runtime

    from .runs import save_populations

    runtime.setup_logging(log_path)
    splits, meta = _splits(data, seed, source)
    save_populations(out_data, splits, {**meta, "experiment": experiment, "seed": seed})
    log.info("%s: %s populations (%s)", experiment, {s: len(p) for s, p in splits.items()}, meta["note"])


def train(
    *,
    experiment: str,
    method: str,
    config: Mapping[str, Any],
    evaluate: Mapping[str, Any],
    seed: int,
    scale: str,
    data_path: str | Path,
    out_record: str | Path,
    out_samples: str | Path,
    ckpt_dir: str | Path | None,
    threads: int,
    log_path: str | Path | None = None,
) -> None:
    """Train one method (config: kind + its parameters) on one experiment and seed, score every split, write the
    metrics record and the samples the figures draw (a few populations; φ of every population for MFM)."""
    import torch

    from papersuite.core import io, records, runtime

    from .runs import FLOWS, evaluate_splits, fit_predictor, load_populations

    runtime.setup_logging(log_path)
    device = runtime.choose_device(threads)
    start = time.perf_counter()
    splits, meta = load_populations(data_path)
    kind, params = config["kind"], dict(config.get("params", {}))
    if kind in FLOWS:
        params["n_treatments"] = int(meta["n_treatments"])
    predict, losses, model = fit_predictor(kind, splits["train"], params, seed, ckpt_dir, device)
    metrics, kept = evaluate_splits(predict, splits, int(evaluate["n_train_eval"]), int(evaluate["keep"]))
    samples = {"kept": kept, "losses": torch.tensor(losses, dtype=torch.float64), "embeddings": {}}
    if kind == "mfm":
        samples["embeddings"] = _embeddings(model, splits)
    with io.atomic_path(out_samples) as tmp:
        torch.save(samples, tmp)
    rec = records.make_record(
        paper="mfm",
        experiment=experiment,
        method=method,
        seed=seed,
        scale=scale,
        metrics={k: records.finite_or_none(v) for k, v in metrics.items()},
        wall_s=time.perf_counter() - start,
        device=device,
        config={"method": dict(config), "evaluate": dict(evaluate), "data": meta},
        extra={"note": meta["note"], "steps": len(losses)},
    )
    records.write_record(out_record, rec)
    if ckpt_dir is not None:
        from papersuite.core.checkpoint import clear_checkpoints

        clear_checkpoints(ckpt_dir)


def _embeddings(model: Any, splits: Mapping[str, Sequence]) -> dict[str, Any]:
    """φ (n_pop, h) of every population of every split, with their names, for the embedding figure."""
    import torch

    device = next(model.parameters()).device
    out = {}
    with torch.no_grad():
        for split, pops in splits.items():
            if not pops:
                continue
            phis = []
            for p in pops:
                extra = None if p.source_extra is None else p.source_extra[None].to(device)
                phis.append(model.gnn(p.source[None].to(device), extra)[0].cpu())
            out[split] = {"phi": torch.stack(phis), "names": [p.name for p in pops]}
    return out


def table(
    *,
    records_paths: Sequence[str | Path],
    samples: Mapping[str, str | Path],
    scale: str,
    out_csv: str | Path,
    out_md: str | Path,
    out_letters_figure: str | Path,
    out_embedding_figure: str | Path,
    log_path: str | Path | None = None,
) -> None:
    """The paper's Tables 1–2 shape (methods × train / val / test, mean ± std over seeds) for every experiment, the
    letters figure (generated vs true) and φ's PCA coloured by population."""
    from papersuite.core import runtime

    from .report import embedding_figure, letters_figure, write_tables

    runtime.setup_logging(log_path)
    write_tables(records_paths, scale, out_csv, out_md)
    letters_figure(samples, out_letters_figure)
    embedding_figure(samples, out_embedding_figure)
