"""One method on one experiment: train (where it learns), predict every evaluated population, score it
(Atanackovic et al., ICLR 2025, Tables 1–2: train / validation / test columns; docs/papers/mfm.md, "What runs").

Methods: the flows "fm", "cgfm", "mfm" (papersuite.mfm.flows), "icnn" (CellOT), and the trivial baselines
"identity", "train_mean_shift", "ideal_shift". Populations are stored as our own torch files (tensors, strings,
ints only) and read with weights_only=True.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from . import baselines
from .metrics import average_metrics, population_metrics
from .populations import Population

__all__ = ["FLOWS", "KINDS", "save_populations", "load_populations", "fit_predictor", "evaluate_splits"]

log = logging.getLogger("papersuite.mfm.runs")

FLOWS = ("fm", "cgfm", "mfm")
KINDS = (*FLOWS, "icnn", *baselines.TRIVIAL)
_FIELDS = ("source", "target", "index", "treatment", "source_extra", "name", "group")


def save_populations(path: str | Path, splits: dict[str, list[Population]], meta: dict) -> None:
    """Write {split: [population fields]} and meta (JSON-like) with torch.save, atomically."""
    from papersuite.core.io import atomic_path

    payload = {
        "meta": meta,
        "splits": {s: [{f: getattr(p, f) for f in _FIELDS} for p in pops] for s, pops in splits.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_populations(path: str | Path) -> tuple[dict[str, list[Population]], dict]:
    """The splits and meta written by save_populations."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    splits = {s: [Population(**p) for p in pops] for s, pops in payload["splits"].items()}
    return splits, payload["meta"]


def fit_predictor(
    kind: str, train: list[Population], params: dict, seed: int, ckpt_dir: str | Path | None, device="cpu"
):
    """Train `kind` on the training populations; returns (predict(population) -> (n0, D), per-step losses, model)."""
    if kind in FLOWS:
        from .flows import train_flow, transport

        model, losses = train_flow(train, {**params, "method": kind}, seed, ckpt_dir, device=device)
        return (lambda pop: transport(model, pop, {**params, "method": kind})), losses, model
    if kind == "icnn":
        from .icnn import icnn_transport, train_icnn

        g, losses = train_icnn(train, params, seed, ckpt_dir, device=device)
        return (lambda pop: icnn_transport(g, pop)), losses, g
    if kind == "identity":
        return baselines.identity, [], None
    if kind == "train_mean_shift":
        mean = baselines.train_target_mean(train)
        return (lambda pop: baselines.train_mean_shift(pop, mean)), [], None
    if kind == "ideal_shift":
        return baselines.ideal_shift, [], None
    raise ValueError(f"method kind must be one of {KINDS}, got {kind!r}")


def evaluate_splits(
    predict, splits: dict[str, list[Population]], n_train_eval: int, keep: int
) -> tuple[dict[str, float], dict[str, list[tuple[str, Tensor, Tensor, Tensor]]]]:
    """Metrics per split (`<split>_<metric>` and `_se`, plus per group `<split>_<metric>_<group>`), averaged over
    populations; the train split is scored on its first n_train_eval populations (the paper: 10 fixed ones).
    Also returns up to `keep` (name, source, prediction, target) per split for the figures."""
    metrics: dict[str, float] = {}
    kept: dict[str, list] = {}
    for split, pops in splits.items():
        pops = pops[:n_train_eval] if split == "train" else pops
        if not pops:
            continue
        scored = []
        kept[split] = []
        for pop in pops:
            pred = predict(pop).detach()
            scored.append(population_metrics(pred.numpy(), pop.target.numpy(), with_r=pop.target.shape[1] >= 3))
            if len(kept[split]) < keep:
                kept[split].append((pop.name, pop.source, pred, pop.target))
        metrics.update({f"{split}_{k}": v for k, v in average_metrics(scored).items()})
        for group in sorted({p.group for p in pops if p.group}):
            rows = [m for m, p in zip(scored, pops) if p.group == group]
            metrics.update(
                {f"{split}_{k}_{group}": v for k, v in average_metrics(rows).items() if not k.endswith("_se")}
            )
        log.info(
            "%s: %s", split, {k: round(v, 4) for k, v in metrics.items() if k.startswith(split) and "_se" not in k}
        )
    return metrics, kept
