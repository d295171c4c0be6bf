"""Tables and figures of the mfm wing (Atanackovic et al., ICLR 2025, Tables 1–2, the letters figure, the embedding
PCA; docs/papers/mfm.md, "What runs")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["TABLE_METRICS", "write_tables", "letters_figure", "embedding_figure"]

TABLE_METRICS = [f"{split}_{m}" for m in ("w2", "w1", "mmd", "r") for split in ("train", "val", "test")]


def write_tables(records_paths: Sequence[str | Path], scale: str, out_csv: str | Path, out_md: str | Path) -> None:
    """One table of every experiment: rows (experiment, method), columns split × metric, mean over seeds with the
    CSV's _std and _se; the Markdown shows mean ± se. Experiments on the screen are marked SEMI-SYNTHETIC."""
    from papersuite.core.records import load_records, records_frame
    from papersuite.core.tables import summarize, write_estimates

    recs = load_records(records_paths)
    frame = records_frame(recs)
    metrics = [m for m in TABLE_METRICS if m in frame.columns and frame[m].notna().any()]
    table = summarize(frame, ["experiment", "method"], metrics)
    notes = sorted({f"{r['experiment']}: {r['extra']['note']}" for r in recs if r.get("extra", {}).get("note")})
    notes.append("W1, W2: exact OT (POT); MMD: mean of RBF MMD² over six bandwidths; r: marker-correlation r")
    notes.append("per population, then averaged; mean ± se over seeds (the CSV also has the std)")
    write_estimates(table, out_csv, out_md, f"MFM ({scale}): W1 / W2 / MMD / r on train, validation and test", notes)


def _load(path: str | Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def letters_figure(samples: Mapping[str, str | Path], out_png: str | Path) -> None:
    """Generated vs true letters: for each method (columns) of the letters experiment's first seed, the first
    held-out populations of the test split (rows): the true target in grey, the prediction in colour."""
    import matplotlib.pyplot as plt

    from papersuite.core.plotting import apply_style, method_colors, save_figure

    apply_style()
    runs = {k.split("/")[1]: v for k, v in sorted(samples.items()) if k.startswith("letters/") and k.endswith("seed0")}
    methods = sorted(runs)
    colors = method_colors(methods)
    n_rows = 2
    fig, axes = plt.subplots(n_rows, max(1, len(methods)), figsize=(2.2 * max(1, len(methods)), 2.2 * n_rows))
    axes = axes.reshape(n_rows, -1)
    for j, method in enumerate(methods):
        kept = _load(runs[method])["kept"].get("test", [])
        for i in range(n_rows):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if i >= len(kept):
                continue
            name, _, pred, target = kept[i]
            ax.scatter(target[:, 0], target[:, 1], s=2, c="0.7")
            ax.scatter(pred[:, 0], pred[:, 1], s=2, color=colors[method])
            ax.set_title(f"{method} · {name}" if i == 0 else name, fontsize=7)
    save_figure(fig, out_png)


def embedding_figure(samples: Mapping[str, str | Path], out_png: str | Path) -> None:
    """PCA (2-D) of φ(p0) of every population, one panel per MFM run of seed 0, coloured by population family
    (the letter; the patient of an organoid population, as φ sees only its control cells), marker by split."""
    import matplotlib.pyplot as plt
    import numpy as np

    from papersuite.core.plotting import apply_style, save_figure

    apply_style()
    runs = {k: v for k, v in sorted(samples.items()) if k.endswith("seed0")}
    panels = [(k, emb) for k, v in runs.items() if (emb := _load(v)["embeddings"])]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.2 * max(1, len(panels)), 3.0), squeeze=False)
    for ax, (key, emb) in zip(axes[0], panels):
        phi = np.concatenate([e["phi"].numpy() for e in emb.values()])
        centred = phi - phi.mean(0)
        coords = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T  # (n_pop, 2)
        families = [n.split("/")[1] if "/" in n else n.rstrip("0123456789") for e in emb.values() for n in e["names"]]
        splits = [s for s, e in emb.items() for _ in e["names"]]
        codes = {f: i for i, f in enumerate(sorted(set(families)))}
        for split, marker in (("train", "o"), ("val", "s"), ("test", "^")):
            rows = [i for i, s in enumerate(splits) if s == split]
            if rows:
                c = [codes[families[i]] for i in rows]
                top = max(len(codes) - 1, 1)
                ax.scatter(*coords[rows].T, c=c, cmap="tab20", vmin=0, vmax=top, marker=marker, s=14, label=split)
        ax.set_title(key.rsplit("/", 1)[0], fontsize=8)
        ax.legend(fontsize=6)
    save_figure(fig, out_png)
