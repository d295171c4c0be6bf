"""Point-cloud data for point-cloud WFM (docs/papers/wfm.md, "Data: point clouds"): padding, noise clouds, .npz
layout.

Sources: scikit-learn's 8×8 digits as 2-D pixel clouds (tiny), ShapeNet from PointFlow's ShapeNetCore.v2.PC15k
(.zip or directory) or from (n, P, 3) .npy arrays (full).

A set of clouds of variable size is stored padded: points (n, N_max, d) float32 with zeros on padding, weights
(n, N_max) float32 with 1/n_i on the n_i real points of cloud i and 0 on padding (the mask is weights > 0).

On-disk layout (`write_clouds`, one .npz, no pickled objects): points, weights, labels (n,) int64 (−1 where the
source has none), split (n,) unicode {"train", "test"}, meta (0-d unicode, JSON: dataset, params, seed, d, ...).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from papersuite.core.io import atomic_path, sha256_file

if TYPE_CHECKING:  # torch is imported where it is used: the prepare job does not need it
    import torch
    from torch import Tensor

__all__ = [
    "pad_clouds",
    "cloud_sizes",
    "digits_images",
    "digits_clouds",
    "shapenet_clouds",
    "pointflow_clouds",
    "noise_params",
    "noise_clouds",
    "draw_weights",
    "write_clouds",
    "read_clouds",
    "prepare_clouds",
]

log = logging.getLogger("papersuite.wfm.clouds")

NOISE_FAMILIES = ("normal", "chol_normal")


def pad_clouds(clouds: list[np.ndarray], n_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad clouds [(n_i, d)] to points (n, N_max, d) float32 and uniform weights (n, N_max)."""
    if not clouds:
        raise ValueError("pad_clouds needs at least one cloud")
    d = clouds[0].shape[1]
    sizes = [len(c) for c in clouds]
    n_max = max(sizes) if n_max is None else n_max
    if min(sizes) < 1 or max(sizes) > n_max or any(c.ndim != 2 or c.shape[1] != d for c in clouds):
        raise ValueError(f"clouds must be (n_i, {d}) with 1 <= n_i <= {n_max}; sizes {min(sizes)}..{max(sizes)}")
    points = np.zeros((len(clouds), n_max, d), dtype=np.float32)
    weights = np.zeros((len(clouds), n_max), dtype=np.float32)
    for i, c in enumerate(clouds):
        points[i, : len(c)] = c
        weights[i, : len(c)] = 1.0 / len(c)
    return points, weights


def cloud_sizes(weights: np.ndarray | Tensor) -> np.ndarray:
    """Number of real points of each cloud, (n,) int64."""
    return np.asarray((weights > 0).sum(-1), dtype=np.int64)


def digits_images(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8×8 digits (values 0..16) and their labels, from scikit-learn's `datasets/data/digits.csv.gz`
    (64 pixel columns + the label) at `path`, or from sklearn.datasets.load_digits when path is None."""
    if path is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images, digits.target.astype(np.int64)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"digits file not found: {path}")
    table = np.loadtxt(path, delimiter=",")
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"{path}: expected scikit-learn's digits table (n, 64 pixels + label), got {table.shape}")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def digits_clouds(threshold: float = 6.0, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's 1797 8×8 digits as 2-D clouds: the pixels with intensity > threshold, coordinates
    (column, row) mapped to [−1, 1] with the row axis flipped so that digits stand upright. Sizes 13–32 at the
    default threshold. Returns points (1797, 32, 2), weights (1797, 32), labels (1797,) (the digit)."""
    images, labels = digits_images(path)
    side = images.shape[-1] - 1
    clouds = []
    for img in images:
        rows, cols = np.nonzero(img > threshold)
        clouds.append(np.stack([2.0 * cols / side - 1.0, 1.0 - 2.0 * rows / side], axis=1))
    points, weights = pad_clouds(clouds)
    return points, weights, labels


def _subsample_points(arr: np.ndarray, n_points: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """n_points of each shape's P points (n, P, 3), without replacement, an independent subset per shape."""
    n, P, _ = arr.shape
    if not 0 < n_points <= P:
        raise ValueError(f"{where}: n_points must be in 1..{P}, got {n_points}")
    idx = np.argsort(rng.random((n, P)), axis=1)[:, :n_points]
    return np.take_along_axis(arr, idx[:, :, None], axis=1).astype(np.float32)


def shapenet_clouds(path: str | Path, n_points: int, seed: int, max_shapes: int | None = None) -> np.ndarray:
    """ShapeNet clouds as one (n, P, 3) .npy (the authors' `pc_train_{shape}.npy` style): the first `max_shapes` shapes,
    `n_points` of their P points drawn without replacement (seeded). Returns (n, n_points, 3) float32."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ShapeNet point-cloud file not found: {path}")
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{path}: expected an (n, P, 3) array, got shape {arr.shape}")
    return _subsample_points(arr[:max_shapes], n_points, np.random.default_rng(seed), str(path))


# PointFlow's Uniform15KPC: each shape has 15k points; the first 10k are for training, the last 5k for evaluation.
_PC15K_TRAIN_POINTS = 10000


def pointflow_clouds(
    source: str | Path, synset: str, split: str, n_points: int, seed: int, max_shapes: int | None = None
) -> np.ndarray:
    """ShapeNetCore.v2.PC15k as released by PointFlow (a .zip or its unpacked directory; files
    `…/{synset}/{split}/{model}.npy`, (15000, 3) each). As in PointFlow's loader, a "train" shape
    contributes points from its first 10k, any other split (PointFlow tests on "val") from its last 5k;
    `n_points` of those are drawn per shape (seeded). Shapes are sorted by file name; the first `max_shapes`
    are kept. Returns (n, n_points, 3) float32."""
    import io as _io
    import zipfile

    source = Path(source)
    pattern = f"{synset}/{split}/"
    rng = np.random.default_rng(seed)

    def subset(arr: np.ndarray, name: str) -> np.ndarray:  # one shape at a time: 2k of 15k points kept in memory
        if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] <= _PC15K_TRAIN_POINTS:
            raise ValueError(f"{source}: {name} is not a PC15k shape (P > {_PC15K_TRAIN_POINTS}, 3): {arr.shape}")
        part = arr[:_PC15K_TRAIN_POINTS] if split == "train" else arr[_PC15K_TRAIN_POINTS:]
        return _subsample_points(part[None], n_points, rng, f"{source} ({name})")[0]

    if source.is_dir():
        files = sorted(source.glob(f"**/{synset}/{split}/*.npy"))[:max_shapes]
        shapes = [subset(np.load(f, allow_pickle=False), str(f)) for f in files]
    elif source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = sorted(n for n in zf.namelist() if pattern in n and n.endswith(".npy"))[:max_shapes]
            shapes = [subset(np.load(_io.BytesIO(zf.read(n)), allow_pickle=False), n) for n in names]
    else:
        raise FileNotFoundError(f"ShapeNet PC15k source is neither a directory nor a zip file: {source}")
    if not shapes:
        raise ValueError(f"{source}: no shapes under '{pattern}' (synset {synset!r}, split {split!r})")
    return np.stack(shapes)


# --- noise clouds -----------------------------------------------------------------------------------------


def _weighted_moments(points: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    import torch

    w = weights / weights.sum(-1, keepdim=True)  # (n, N)
    mean = torch.einsum("nk,nkd->nd", w, points)
    centred = points - mean.unsqueeze(1)
    return mean, torch.einsum("nk,nki,nkj->nij", w, centred, centred)


def noise_params(
    family: str = "normal",
    std: float = 0.5,
    points: Tensor | None = None,
    weights: Tensor | None = None,
    df_scale: float = 2.0,
    jitter: float = 1e-6,
) -> dict:
    """JSON-friendly description of the source-cloud family.

    "normal": iid N(0, std²) points (the tiny digits run, std 0.5).
    "chol_normal" (the paper default): from the training clouds (points, weights), the mean and std of the
    Cholesky factors of their weighted covariances (+ jitter·I, clouds can be degenerate), and the data's
    coordinate range for clipping."""
    if family == "normal":
        return {"family": "normal", "std": float(std)}
    if family != "chol_normal":
        raise ValueError(f"noise family must be one of {NOISE_FAMILIES}, got {family!r}")
    if points is None or weights is None:
        raise ValueError("noise family 'chol_normal' needs the training points and weights")
    import torch

    points, weights = torch.as_tensor(points).double(), torch.as_tensor(weights).double()
    _, cov = _weighted_moments(points, weights)
    L = torch.linalg.cholesky(cov + jitter * torch.eye(cov.shape[-1], dtype=cov.dtype))  # (n, d, d)
    real = points[weights > 0]
    return {
        "family": "chol_normal",
        "df_scale": float(df_scale),
        "chol_mean": L.mean(0).tolist(),
        "chol_std": L.std(0, correction=0).tolist(),
        "lo": float(real.min()),
        "hi": float(real.max()),
    }


def noise_clouds(
    weights: Tensor, d: int, noise: dict | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """Source clouds (n, N, d) with the given masks (noise weights := data weights); padding is exactly 0.

    "normal": iid N(0, std²). "chol_normal": per cloud L = mean(L_i) + df_scale·std(L_i) ⊙ Z on the lower
    triangle with a positive diagonal (|·|), points L z with z ~ N(0, I), clipped to the data range.
    Every position gets a draw, real or not, so a cloud's points do not depend on the other clouds' sizes."""
    import torch

    noise = noise or {"family": "normal", "std": 0.5}
    n, N = weights.shape
    z = torch.randn(n, N, d, generator=generator)
    family = noise.get("family")
    if family == "normal":
        pts = z * float(noise["std"])
    elif family == "chol_normal":
        L_mean = torch.tensor(noise["chol_mean"], dtype=z.dtype)
        L_std = torch.tensor(noise["chol_std"], dtype=z.dtype)
        L = torch.tril(L_mean + noise["df_scale"] * L_std * torch.randn(n, d, d, generator=generator))
        diag = torch.diagonal(L, dim1=-2, dim2=-1)
        L = L + torch.diag_embed(diag.abs() - diag)  # a Cholesky factor has a positive diagonal
        pts = torch.einsum("nij,nkj->nki", L, z).clamp(noise["lo"], noise["hi"])
    else:
        raise ValueError(f"noise family must be one of {NOISE_FAMILIES}, got {family!r}")
    return pts * (weights > 0).cpu().unsqueeze(-1)


def draw_weights(weights: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """Masks for generation (the authors' "size sampled from the training masks"): n rows of `weights` drawn with
    replacement. Returns (n, N_max)."""
    import torch

    idx = torch.randint(len(weights), (n,), generator=generator)
    return torch.as_tensor(weights)[idx].clone()


# --- files ------------------------------------------------------------------------------------------------


def write_clouds(
    path: str | Path,
    points: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray | None,
    split: np.ndarray,
    meta: dict | None = None,
) -> None:
    """Write clouds as .npz (layout in the module docstring), atomically. split is a (n,) array of
    "train"/"test" or a boolean train mask."""
    points, weights = np.asarray(points, np.float32), np.asarray(weights, np.float32)
    n, N, d = points.shape
    split = np.asarray(split)
    if split.dtype == bool:
        split = np.where(split, "train", "test")
    labels = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    if weights.shape != (n, N) or labels.shape != (n,) or split.shape != (n,):
        raise ValueError(
            f"shapes disagree: points {points.shape}, weights {weights.shape}, labels {labels.shape}, "
            f"split {split.shape}"
        )
    if not set(np.unique(split)) <= {"train", "test"}:
        raise ValueError(f"split values must be 'train'/'test', got {sorted(set(np.unique(split)))}")
    if ((weights > 0).sum(1) == 0).any():
        raise ValueError("every cloud needs at least one point of positive weight")
    meta_json = json.dumps({"d": d, **(meta or {})}, sort_keys=True)
    # a file object, because np.savez appends ".npz" to a file *name* that lacks it
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh, points=points, weights=weights, labels=labels, split=split.astype("U5"), meta=np.asarray(meta_json)
        )


def read_clouds(path: str | Path, split: str | None = None) -> dict:
    """Read a clouds .npz: {"points" (n,N,d), "weights" (n,N), "labels" (n,), "split" (n,), "meta" dict};
    with split="train"/"test" only those clouds."""
    with np.load(path, allow_pickle=False) as f:
        missing = {"points", "weights", "labels", "split", "meta"} - set(f.files)
        if missing:
            raise ValueError(f"{path}: not a wfm clouds file (missing {sorted(missing)})")
        out = {k: f[k] for k in ("points", "weights", "labels", "split")}
        out["meta"] = json.loads(str(f["meta"]))
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        keep = out["split"] == split
        out.update({k: out[k][keep] for k in ("points", "weights", "labels", "split")})
    return out


def _split_mask(n: int, n_train: int, n_test: int, seed: int) -> np.ndarray:
    """split (n,) of "train"/"test"/"" (unused), a seeded random choice of n_train + n_test clouds."""
    if n_train < 1 or n_test < 0 or n_train + n_test > n:
        raise ValueError(f"need 1 <= n_train and n_train + n_test <= {n}, got n_train={n_train}, n_test={n_test}")
    order = np.random.default_rng(seed).permutation(n)
    split = np.full(n, "", dtype="U5")
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_test]] = "test"
    return split


def prepare_clouds(out_npz: str | Path, params: dict, seed: int, source: str | Path | None = None) -> dict:
    """Build a point-cloud data set and write it as .npz (rule `wfm_prepare_clouds`); returns a summary.

    params["dataset"] = "digits": threshold (6), n_train (1500), n_test (297; n_train + n_test ≤ 1797); `source`
    is scikit-learn's digits.csv.gz (default: the installed sklearn's copy).
    params["dataset"] = "shapenet", either from PointFlow's ShapeNetCore.v2.PC15k (`source` = the .zip or its
    directory): synset (e.g. "02691156", airplane), n_points (2048), train_split ("train"), test_split ("val",
    PointFlow's test set), max_shapes; or from (n, P, 3) .npy arrays: path, test_path (else n_train/n_test split
    by seed). scale: "pointflow" (default: minus the training mean per axis, divided by the training std of all
    coordinates, as PointFlow; stored in meta), "min_max_total" (one global box into [−1, 1], the authors'
    option) or "none". The seed drives the split and the point subsets."""
    dataset = params.get("dataset")
    meta: dict = {"dataset": dataset, "params": dict(params), "seed": int(seed)}
    labels = None
    if dataset == "digits":
        _check_keys(params, {"dataset", "threshold", "n_train", "n_test"})
        points, weights, labels = digits_clouds(float(params.get("threshold", 6.0)), source)
        if source is not None:
            meta["source_sha256"] = sha256_file(source)
        n_train = int(params.get("n_train", 1500))
        split = _split_mask(len(points), n_train, int(params.get("n_test", len(points) - n_train)), seed)
    elif dataset == "shapenet":
        points, split = _shapenet(params, seed, source, meta)
        weights = np.full(points.shape[:2], 1.0 / points.shape[1], dtype=np.float32)
    else:
        raise ValueError(f"params['dataset'] must be 'digits' or 'shapenet', got {dataset!r}")
    keep = split != ""
    labels = None if labels is None else labels[keep]
    write_clouds(out_npz, points[keep], weights[keep], labels, split[keep], meta)
    n_train = int((split == "train").sum())
    log.info(
        "wrote %d %s clouds (d=%d, N_max=%d, %d train) to %s",
        int(keep.sum()),
        dataset,
        points.shape[-1],
        points.shape[1],
        n_train,
        out_npz,
    )
    return {"n_clouds": int(keep.sum()), "n_train": n_train, "n_max": int(points.shape[1]), "d": int(points.shape[-1])}


def _shapenet(params: dict, seed: int, source: str | Path | None, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """ShapeNet clouds (n, P, 3) and their split, normalised as params["scale"] says (see prepare_clouds)."""
    _check_keys(
        params,
        {
            "dataset",
            "synset",
            "train_split",
            "test_split",
            "path",
            "test_path",
            "n_points",
            "n_train",
            "n_test",
            "max_shapes",
            "scale",
        },
    )
    n_points, max_shapes = int(params.get("n_points", 2048)), params.get("max_shapes")
    scale = params.get("scale", "pointflow")
    if scale not in ("pointflow", "min_max_total", "none"):
        raise ValueError(f"params['scale'] must be 'pointflow', 'min_max_total' or 'none', got {scale!r}")
    if "synset" in params:
        if source is None:
            raise ValueError("dataset 'shapenet' with params['synset'] needs the PC15k source (.zip or directory)")
        train = pointflow_clouds(
            source, str(params["synset"]), params.get("train_split", "train"), n_points, seed, max_shapes
        )
        test = pointflow_clouds(
            source, str(params["synset"]), params.get("test_split", "val"), n_points, seed + 1, max_shapes
        )
        if Path(source).is_file():
            meta["source_sha256"] = sha256_file(source)
    elif "path" in params:
        train = shapenet_clouds(params["path"], n_points, seed, max_shapes)
        meta["source_sha256"] = sha256_file(params["path"])
        test = None
        if "test_path" in params:
            test = shapenet_clouds(params["test_path"], n_points, seed + 1, max_shapes)
            meta["test_sha256"] = sha256_file(params["test_path"])
    else:
        raise ValueError("dataset 'shapenet' needs params['synset'] (PointFlow PC15k source) or params['path'] (.npy)")
    if test is not None:
        clouds = np.concatenate([train, test])
        split = np.array(["train"] * len(train) + ["test"] * len(test), dtype="U5")
    else:
        clouds = train
        n_train = int(params.get("n_train", (4 * len(train)) // 5))
        split = _split_mask(len(train), n_train, int(params.get("n_test", len(train) - n_train)), seed)
    fit = clouds[split == "train"]  # statistics from the training shapes only
    if scale == "pointflow":
        mean, std = fit.reshape(-1, 3).mean(0), float(fit.std())  # PointFlow: std of all coordinates pooled
        clouds = ((clouds - mean) / std).astype(np.float32)
        meta["normalisation"] = {"mean": mean.tolist(), "std": std}
    elif scale == "min_max_total":  # one global box, as the JAX code's scale_func
        lo, hi = float(fit.min()), float(fit.max())
        clouds = (2.0 * (clouds - lo) / (hi - lo) - 1.0).astype(np.float32)
        meta["normalisation"] = {"min": lo, "max": hi}
    return clouds, split


def _check_keys(params: dict, known: set[str]) -> None:
    unknown = set(params) - known
    if unknown:
        raise ValueError(
            f"unknown point-cloud data parameters for dataset {params.get('dataset')!r}: "
            f"{sorted(unknown)} (known: {sorted(known)})"
        )
