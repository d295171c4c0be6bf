"""The metrics record: one per (paper, experiment, method, seed); tables are built from these.

A record file holds one record (a JSON object) or, for a job that trains several seeds at once, a JSON list of
records (write_records).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .io import read_json, to_jsonable, write_json

if TYPE_CHECKING:  # pandas costs a second to import; only records_frame uses it
    import pandas as pd

__all__ = [
    "RECORD_KEYS",
    "SCALES",
    "config_hash",
    "finite_or_none",
    "load_records",
    "make_record",
    "records_frame",
    "validate_record",
    "write_record",
    "write_records",
]

RECORD_KEYS = ("paper", "experiment", "method", "seed", "scale", "metrics", "wall_s", "device", "config_hash")
OPTIONAL_KEYS = ("extra",)
SCALES = ("tiny", "full")

# records_frame columns before the metric columns
_FRAME_KEYS = ("paper", "experiment", "method", "seed", "scale", "wall_s", "device", "config_hash")


def finite_or_none(value: Any) -> float | None:
    """A record's metric: the float, or None for NaN, infinity, None or a non-number (records hold no NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def config_hash(config: Mapping) -> str:
    """First 16 hex digits of the sha256 of ``config`` as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _is_real(value: Any) -> bool:
    # bool is an int subclass; True as a metric or seed is always a bug.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _nonempty_str(rec: Mapping, key: str, source: str) -> str:
    value = rec[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: key '{key}' must be a non-empty string, got {value!r}")
    return value


def validate_record(rec: Any, source: str = "<record>") -> dict:
    """Check a record's keys and types; return a normalised copy (metrics as floats or None).

    Raises ValueError naming ``source`` and the missing or bad key.
    """
    if not isinstance(rec, Mapping):
        raise ValueError(f"{source}: a record must be a mapping, got {type(rec).__name__}")
    for key in RECORD_KEYS:
        if key not in rec:
            raise ValueError(f"{source}: missing key '{key}'")
    unknown = sorted(set(rec) - set(RECORD_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {list(RECORD_KEYS + OPTIONAL_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("paper", "experiment", "method", "device"):
        out[key] = _nonempty_str(rec, key, source)
    seed = rec["seed"]
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"{source}: key 'seed' must be an int, got {seed!r}")
    out["seed"] = int(seed)
    if rec["scale"] not in SCALES:
        raise ValueError(f"{source}: key 'scale' must be one of {list(SCALES)}, got {rec['scale']!r}")
    out["scale"] = rec["scale"]
    metrics = rec["metrics"]
    if not isinstance(metrics, Mapping):
        raise ValueError(f"{source}: key 'metrics' must be a mapping, got {type(metrics).__name__}")
    clean: dict[str, float | None] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{source}: key 'metrics' has a non-string or empty name {name!r}")
        if name in _FRAME_KEYS:
            raise ValueError(f"{source}: key 'metrics.{name}' clashes with a record column")
        if value is None:
            clean[name] = None
        elif _is_real(value) and math.isfinite(float(value)):
            clean[name] = float(value)
        else:
            raise ValueError(
                f"{source}: key 'metrics.{name}' must be a finite float or None "
                f"(use None for a diverged or missing value), got {value!r}"
            )
    out["metrics"] = clean
    wall_s = rec["wall_s"]
    if not _is_real(wall_s) or not math.isfinite(float(wall_s)) or wall_s < 0:
        raise ValueError(f"{source}: key 'wall_s' must be a finite number >= 0, got {wall_s!r}")
    out["wall_s"] = float(wall_s)
    ch = rec["config_hash"]
    if not isinstance(ch, str) or len(ch) != 16 or any(c not in "0123456789abcdef" for c in ch):
        raise ValueError(f"{source}: key 'config_hash' must be 16 lowercase hex digits, got {ch!r}")
    out["config_hash"] = ch
    if "extra" in rec:
        if not isinstance(rec["extra"], Mapping):
            raise ValueError(f"{source}: key 'extra' must be a mapping, got {type(rec['extra']).__name__}")
        out["extra"] = dict(rec["extra"])
    return out


def make_record(
    *,
    paper: str,
    experiment: str,
    method: str,
    seed: int,
    scale: str,
    metrics: Mapping[str, float | None],
    wall_s: float,
    device: Any,
    config: Mapping,
    extra: Mapping | None = None,
) -> dict:
    """Build and validate a metrics record; ``config_hash`` is computed from ``config``.

    ``device`` may be a ``torch.device`` (stored as its string); ``extra`` is free-form
    (standard errors, notes) and stored as given.
    """
    rec: dict[str, Any] = {
        "paper": paper,
        "experiment": experiment,
        "method": method,
        "seed": seed,
        "scale": scale,
        "metrics": dict(metrics),
        "wall_s": wall_s,
        "device": str(device),
        "config_hash": config_hash(config),
    }
    if extra is not None:
        rec["extra"] = dict(extra)
    return validate_record(rec, source=f"record {paper}/{experiment}/{method}/seed{seed}")


def write_record(path: str | Path, rec: Mapping) -> Path:
    """Validate ``rec`` and write it as JSON atomically."""
    return write_json(path, validate_record(rec, source=str(path)))


def write_records(path: str | Path, recs: Iterable[Mapping]) -> Path:
    """Validate every record and write them as one JSON list, atomically (one job, several seeds)."""
    recs = [validate_record(rec, source=f"{path}[{i}]") for i, rec in enumerate(recs)]
    if not recs:
        raise ValueError(f"{path}: no records to write")
    return write_json(path, recs)


def load_records(paths: Iterable[str | Path] | str | Path) -> list[dict]:
    """Read and validate record files (each one record or a list of records); an error names the file."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[dict] = []
    for p in paths:
        content = read_json(p)
        if isinstance(content, list):
            out.extend(validate_record(rec, source=f"{p}[{i}]") for i, rec in enumerate(content))
        else:
            out.append(validate_record(content, source=str(p)))
    return out


def records_frame(records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per record: paper, experiment, method, seed, scale, wall_s, device, config_hash, metrics...

    Metric columns follow in first-seen order; a metric a record lacks (or holds as None) is NaN.
    """
    import pandas as pd

    rows = []
    metric_names: dict[str, None] = {}  # ordered set
    for rec in records:
        row = {k: rec[k] for k in _FRAME_KEYS}
        for name, value in rec["metrics"].items():
            metric_names.setdefault(name)
            row[name] = math.nan if value is None else float(value)
        rows.append(row)
    columns = list(_FRAME_KEYS) + list(metric_names)
    frame = pd.DataFrame(rows, columns=columns)
    for name in metric_names:
        frame[name] = frame[name].astype(float)
    return frame
