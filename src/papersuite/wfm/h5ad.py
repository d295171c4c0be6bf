"""Reading the arrays of the wing's own .h5ad files with h5py alone.

anndata costs about 1.4 CPU-seconds to import (pandas, scipy.sparse, ...), more than some tiny jobs compute;
the training and evaluation jobs only need a few obsm arrays, categorical obs columns and scalar uns entries of
files that `data.write_gaussians` and `niches.write_niches` wrote with anndata. This reads exactly those
elements of anndata's on-disk format (encoding-type "array", "categorical", "string", "string-array",
"numeric-scalar"); `H5adLayoutError` tells the caller to fall back to anndata for anything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["H5adLayoutError", "LightH5ad"]


class H5adLayoutError(ValueError):
    """The file holds an element this reader does not decode (read it with anndata instead)."""


def _encoding(obj: Any) -> str:
    value = obj.attrs.get("encoding-type", "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(obj: Any) -> Any:
    """One stored element as anndata returns it: arrays as numpy arrays, strings as str, numeric scalars as Python
    int/float/bool, string arrays as object arrays of str."""
    kind = _encoding(obj)
    if kind == "array":
        return obj[()]
    if kind == "string":
        return obj.asstr()[()]
    if kind == "string-array":
        return np.asarray(obj.asstr()[()], dtype=object)
    if kind == "numeric-scalar":
        return obj[()].item()
    raise H5adLayoutError(f"{obj.name}: encoding {kind!r} is not read here")


class LightH5ad:
    """An open .h5ad file: obsm arrays, categorical obs columns and the uns dict of one key."""

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = str(path)
        self._file = h5py.File(path, "r")

    def __enter__(self) -> LightH5ad:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def has(self, key: str) -> bool:
        """Whether the element exists, e.g. "obsm/mean" or "obs/label"."""
        return key in self._file

    def _element(self, group: str, key: str) -> Any:
        """The element group/key; H5adLayoutError where `group` is not an HDF5 group (the layout of anndata
        before 0.7, as in scanpy's pbmc68k_reduced: obs and obsm as compound datasets)."""
        import h5py

        if not isinstance(self._file.get(group), h5py.Group):
            raise H5adLayoutError(f"{self.path}: /{group} is not a group (an old anndata layout)")
        return self._file[group][key]

    def obsm(self, key: str) -> np.ndarray:
        obj = self._element("obsm", key)
        if _encoding(obj) != "array":
            raise H5adLayoutError(f"{self.path}: obsm/{key} is not a dense array")
        return obj[()]

    def categorical(self, column: str) -> tuple[np.ndarray, list[str]]:
        """(codes (n,) int64, categories) of a categorical obs column; code −1 is a missing value."""
        obj = self._element("obs", column)
        if _encoding(obj) != "categorical":
            raise H5adLayoutError(f"{self.path}: obs/{column} is not categorical")
        return obj["codes"][()].astype(np.int64), [str(c) for c in _decode(obj["categories"])]

    def uns(self, key: str) -> dict[str, Any]:
        """uns[key] (a flat dict of scalars, strings and string arrays), or {} when absent."""
        if f"uns/{key}" not in self._file:
            return {}
        return {name: _decode(obj) for name, obj in self._file[f"uns/{key}"].items()}


def category_values(codes: np.ndarray, categories: list[str]) -> np.ndarray:
    """The column's values as an object array of str (what `obs[column].astype(str)` gives; "nan" if missing)."""
    names = np.asarray([*categories, "nan"], dtype=object)
    return names[np.where(codes < 0, len(categories), codes)]
