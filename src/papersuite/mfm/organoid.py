"""The organoid drug-screen loader (Ramos Zapatero et al., Cell 2023, as used by Atanackovic et al., ICLR 2025,
"Organoid drug-screen"; docs/papers/mfm.md, "Data"), as functions on a cell table.

The table has one row per cell: marker intensities plus Patient, Culture (PDO, PDOF, F), Treatment (controls DMSO,
AH, H2O at concentration 0), Concentration, Replicate (A/B/C; controls AA/BB/CC), Cell_type and Plate. An
experiment is (Culture, Patient, Plate, Replicate); a population is one treatment of one experiment: x0 = the
experiment's control cells, x1 = its treated cells. Only each treatment's highest concentration is used;
populations whose control or treated side has fewer than min_cells (1000 in the paper) are dropped. Values are
arcsinh(x / 5), minus the per-marker mean of the training cells, divided by the mean of their per-marker stds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .populations import Population

__all__ = [
    "CONTROLS",
    "CELL_TYPES",
    "Experiment",
    "marker_columns",
    "max_concentration",
    "find_populations",
    "replicate_split",
    "patient_split",
    "fit_normalisation",
    "normalise",
    "to_populations",
    "prepare_splits",
]

CONTROLS = ("DMSO", "AH", "H2O")
CELL_TYPES = ("PDO cell", "fibroblast")
BATCH_KEY = ("Culture", "Patient", "Plate")
METADATA = (
    "Date",
    "Patient",
    "Culture",
    "Treatment",
    "Concentration",
    "Replicate",
    "Cell_type",
    "Plate",
    "Batch",
)  # a replica batch; with the replicate, an experiment


@dataclass(frozen=True)
class Experiment:
    """One population: the control and treated row labels of a (culture, patient, plate, replicate, treatment)."""

    culture: str
    patient: str
    plate: str
    replicate: str
    treatment: str
    control_rows: tuple
    treated_rows: tuple


def marker_columns(cells: pd.DataFrame, drop: list[str]) -> list[str]:
    """The numeric columns that are not metadata, less `drop` (the paper: pPKCa, all NaN, and the last column,
    Cyclin_B1, which its loader leaves out: 43 markers)."""
    numeric = cells.select_dtypes("number").columns
    return [str(c) for c in numeric if c not in METADATA and c not in set(drop)]


def max_concentration(cells: pd.DataFrame) -> pd.DataFrame:
    """Controls plus, for each treatment, only the cells at its highest concentration."""
    control = cells["Treatment"].isin(CONTROLS)
    top = cells.groupby("Treatment")["Concentration"].transform("max")  # (n,): the max of each cell's treatment
    return cells[control | (cells["Concentration"] == top)]


def find_populations(cells: pd.DataFrame, min_cells: int) -> list[Experiment]:
    """Every (experiment, treatment) population with ≥ min_cells control and ≥ min_cells treated cells, after the
    max-concentration rule; a control replicate "AA" belongs to replicate "A"."""
    cells = max_concentration(cells)
    replicate = cells["Replicate"].astype(str).str[0]
    control = cells["Treatment"].isin(CONTROLS)
    keys = [*BATCH_KEY, "Replicate"]
    controls = {k: g.index for k, g in cells[control].assign(Replicate=replicate[control]).groupby(keys)}
    found = []
    for (*key, treatment), group in cells[~control].assign(Replicate=replicate[~control]).groupby([*keys, "Treatment"]):
        ctrl = controls.get(tuple(key))
        if ctrl is None or len(ctrl) < min_cells or len(group) < min_cells:
            continue
        found.append(Experiment(*[str(v) for v in key], str(treatment), tuple(ctrl), tuple(group.index)))
    return found


def replicate_split(pops: list[Experiment], n_val: int, n_test: int, seed: int) -> dict[str, list[Experiment]]:
    """The replicate split: per culture, n_val random replica batches (culture, patient, plate) give one held-out
    replicate each to validation, n_test others one each to test; everything else trains."""
    rng = np.random.default_rng(seed)
    held: dict[tuple, str] = {}
    for culture in sorted({p.culture for p in pops}):
        batches = sorted({(p.culture, p.patient, p.plate) for p in pops if p.culture == culture})
        order = rng.permutation(len(batches))
        for rank, b in enumerate(order[: n_val + n_test]):
            reps = sorted({p.replicate for p in pops if (p.culture, p.patient, p.plate) == batches[b]})
            held[(*batches[b], str(rng.choice(reps)))] = "val" if rank < n_val else "test"
    out: dict[str, list[Experiment]] = {"train": [], "val": [], "test": []}
    for p in pops:
        out[held.get((p.culture, p.patient, p.plate, p.replicate), "train")].append(p)
    return out


def patient_split(pops: list[Experiment], patient: str) -> dict[str, list[Experiment]]:
    """The patient split: every population of `patient` is test, the rest train (no validation)."""
    return {
        "train": [p for p in pops if p.patient != str(patient)],
        "val": [],
        "test": [p for p in pops if p.patient == str(patient)],
    }


def fit_normalisation(cells: pd.DataFrame, markers: list[str], train: list[Experiment]) -> dict:
    """Per-marker mean and the scalar mean of per-marker stds of arcsinh(x/5) over the training cells only."""
    rows = sorted({r for p in train for r in (*p.control_rows, *p.treated_rows)})
    z = np.arcsinh(cells.loc[rows, markers].to_numpy(np.float64) / 5.0)  # (n_train_cells, D)
    return {"mean": z.mean(0), "scale": float(z.std(0).mean())}


def normalise(values: np.ndarray, stats: dict) -> np.ndarray:
    """(arcsinh(x/5) − train mean) / mean train std, for raw marker values (n, D)."""
    return (np.arcsinh(np.asarray(values, dtype=np.float64) / 5.0) - stats["mean"]) / stats["scale"]


def to_populations(
    cells: pd.DataFrame,
    markers: list[str],
    pops: list[Experiment],
    stats: dict,
    treatments: list[str],
    max_cells: int | None,
    seed: int,
    first_index: int | None = 0,
) -> list[Population]:
    """Normalised Populations with the cell-type one-hot as the source's extra features; each side capped at
    max_cells random cells (the paper's 5000 at evaluation). Ids from first_index (None: unseen, −1)."""
    rng = np.random.default_rng(seed)
    cell_type = cells["Cell_type"].map({c: i for i, c in enumerate(CELL_TYPES)})
    out = []
    for i, p in enumerate(pops):
        ctrl, treated = np.asarray(p.control_rows), np.asarray(p.treated_rows)
        if max_cells is not None:
            ctrl = ctrl if len(ctrl) <= max_cells else rng.choice(ctrl, max_cells, replace=False)
            treated = treated if len(treated) <= max_cells else rng.choice(treated, max_cells, replace=False)
        src = torch.tensor(normalise(cells.loc[ctrl, markers].to_numpy(), stats), dtype=torch.float32)
        tgt = torch.tensor(normalise(cells.loc[treated, markers].to_numpy(), stats), dtype=torch.float32)
        extra = torch.nn.functional.one_hot(torch.tensor(cell_type.loc[ctrl].to_numpy()), len(CELL_TYPES)).float()
        name = f"{p.culture}/{p.patient}/{p.plate}/{p.replicate}/{p.treatment}"
        index = -1 if first_index is None else first_index + i
        out.append(Population(src, tgt, index, treatments.index(p.treatment), extra, name, p.culture))
    return out


def prepare_splits(cells: pd.DataFrame, markers: list[str], cfg: dict, seed: int) -> dict[str, list[Population]]:
    """The loader end to end: populations (min_cells), the split (cfg["split"]: {"kind": "replicates", "n_val",
    "n_test"} or {"kind": "patient", "patient"}), train-only normalisation, then Populations; training populations
    get ids 0.. and cfg["max_train_cells"] cells per side, evaluated ones cfg["max_eval_cells"] (paper: 5000)."""
    pops = find_populations(cells, int(cfg["min_cells"]))
    split = cfg["split"]
    if split["kind"] == "replicates":
        splits = replicate_split(pops, int(split["n_val"]), int(split["n_test"]), seed)
    elif split["kind"] == "patient":
        splits = patient_split(pops, str(split["patient"]))
    else:
        raise ValueError(f"split kind must be 'replicates' or 'patient', got {split['kind']!r}")
    stats = fit_normalisation(cells, markers, splits["train"])
    treatments = list(cfg["treatments"])
    out = {
        "train": to_populations(cells, markers, splits["train"], stats, treatments, cfg.get("max_train_cells"), seed)
    }
    for name in ("val", "test"):
        out[name] = to_populations(
            cells, markers, splits[name], stats, treatments, cfg.get("max_eval_cells"), seed, first_index=None
        )
    return out
