"""The paper's reported numbers and claims: ``config/references/<id>.yaml``, validated on load.

Every error names the file and the key path (e.g. ``claims[2].check.metric``), so a typo fails
before any job runs instead of silently dropping a claim or a number from the report.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .claims import validate_check
from .io import read_yaml
from .records import SCALES

__all__ = ["NUMBER_COLUMNS", "load_references", "paper_numbers", "validate_references"]

NUMBER_COLUMNS = ("id", "table", "experiment", "row", "column", "value", "unit", "source", "verified")

_TOP_REQUIRED = ("paper", "title", "citation")
_TOP_OPTIONAL = ("numbers", "claims")
_NUMBER_REQUIRED = ("id", "table", "experiment", "row", "column", "value", "source", "verified")
_NUMBER_OPTIONAL = ("unit",)
_CLAIM_REQUIRED = ("id", "statement", "source", "verified", "applies_at", "check")
# number: the id of the paper number it restates; requires: checks that must PASS for the claim to be decided
_CLAIM_OPTIONAL = ("not_applicable_reason", "number", "requires")


def _keys(item: Any, where: str, required: tuple, optional: tuple, fail) -> None:
    if not isinstance(item, Mapping):
        raise fail(where, f"must be a mapping, got {type(item).__name__}")
    for key in required:
        if key not in item:
            raise fail(f"{where}.{key}" if where else key, "missing")
    unknown = sorted(set(item) - set(required) - set(optional))
    if unknown:
        prefix = f"{where}." if where else ""
        raise fail(f"{prefix}{unknown[0]}", f"unknown key (allowed: {list(required + optional)})")


def _string(item: Mapping, key: str, where: str, fail) -> str:
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{where}.{key}" if where else key, f"must be a non-empty string, got {value!r}")
    return value


def _unique_id(item: Mapping, where: str, seen: set, fail) -> str:
    ident = _string(item, "id", where, fail)
    if ident in seen:
        raise fail(f"{where}.id", f"duplicate id {ident!r}")
    seen.add(ident)
    return ident


def validate_references(refs: Any, source: str = "<references>") -> dict:
    """Validate a references mapping; return it with ``numbers``/``claims`` defaulted to ``[]``.

    Raises ValueError ``"<source>: <key path>: <problem>"``.
    """

    def fail(path: str, msg: str) -> ValueError:
        return ValueError(f"{source}: {path}: {msg}")

    _keys(refs, "", _TOP_REQUIRED, _TOP_OPTIONAL, lambda p, m: fail(p or "(top level)", m))
    for key in _TOP_REQUIRED:
        _string(refs, key, "", fail)
    out = dict(refs)
    out["numbers"] = refs.get("numbers") or []
    out["claims"] = refs.get("claims") or []
    for key in _TOP_OPTIONAL:
        if not isinstance(out[key], list):
            raise fail(key, f"must be a list, got {type(out[key]).__name__}")

    seen: set[str] = set()
    numbers_out = []
    for i, n in enumerate(out["numbers"]):
        where = f"numbers[{i}]"
        _keys(n, where, _NUMBER_REQUIRED, _NUMBER_OPTIONAL, fail)
        _unique_id(n, where, seen, fail)
        for key in ("table", "experiment", "row", "column", "source"):
            _string(n, key, where, fail)
        if not isinstance(n["value"], numbers.Real) or isinstance(n["value"], bool):
            raise fail(f"{where}.value", f"must be a number, got {n['value']!r}")
        if not isinstance(n["verified"], bool):
            raise fail(f"{where}.verified", f"must be true or false, got {n['verified']!r}")
        if "unit" in n and n["unit"] is not None and not isinstance(n["unit"], str):
            raise fail(f"{where}.unit", f"must be a string, got {n['unit']!r}")
        numbers_out.append({**n, "unit": n.get("unit") or ""})
    out["numbers"] = numbers_out

    seen = set()
    claims_out = []
    for i, c in enumerate(out["claims"]):
        where = f"claims[{i}]"
        _keys(c, where, _CLAIM_REQUIRED, _CLAIM_OPTIONAL, fail)
        ident = _unique_id(c, where, seen, fail)
        for key in ("statement", "source"):
            _string(c, key, where, fail)
        if not isinstance(c["verified"], bool):
            raise fail(f"{where}.verified", f"must be true or false, got {c['verified']!r}")
        applies_at = c["applies_at"]
        if not isinstance(applies_at, list) or any(s not in SCALES for s in applies_at):
            raise fail(f"{where}.applies_at", f"must be a list of scales from {list(SCALES)}, got {applies_at!r}")
        reasons = c.get("not_applicable_reason") or {}
        if not isinstance(reasons, Mapping):
            raise fail(f"{where}.not_applicable_reason", f"must be a mapping scale -> reason, got {reasons!r}")
        for scale, reason in reasons.items():
            if scale not in SCALES:
                raise fail(f"{where}.not_applicable_reason.{scale}", f"unknown scale (use {list(SCALES)})")
            if not isinstance(reason, str) or not reason.strip():
                raise fail(f"{where}.not_applicable_reason.{scale}", f"must be a non-empty string, got {reason!r}")
        for scale in SCALES:
            if scale not in applies_at and scale not in reasons:
                raise fail(
                    f"{where}.not_applicable_reason.{scale}",
                    f"missing: scale {scale!r} is not in applies_at, so a reason is required",
                )
        number_ids = {n["id"] for n in out["numbers"]}
        if "number" in c and c["number"] not in number_ids:
            raise fail(f"{where}.number", f"no paper number with id {c['number']!r} (ids: {sorted(number_ids)})")
        try:
            validate_check(c["check"], ident)
        except ValueError as exc:
            raise fail(f"{where}.check", str(exc)) from exc
        requires = c.get("requires", [])
        if "requires" in c and (not isinstance(requires, list) or not requires):
            raise fail(f"{where}.requires", f"must be a non-empty list of checks, got {requires!r}")
        for j, pre in enumerate(requires):
            try:
                validate_check(pre, f"{ident}.requires[{j}]")
            except ValueError as exc:
                raise fail(f"{where}.requires[{j}]", str(exc)) from exc
        claims_out.append({**c, "not_applicable_reason": dict(reasons)})
    out["claims"] = claims_out
    return out


def load_references(path: str | Path) -> dict:
    """Read and validate ``config/references/<id>.yaml``; errors name the file and the key path."""
    return validate_references(read_yaml(path), source=str(path))


def paper_numbers(refs: Mapping, experiment: str | None = None) -> pd.DataFrame:
    """The paper's numbers as a frame (columns id, table, experiment, row, column, value, unit, source,
    verified), optionally only those of one ``experiment``."""
    rows = [{k: n.get(k, "" if k == "unit" else None) for k in NUMBER_COLUMNS} for n in refs.get("numbers") or []]
    frame = pd.DataFrame(rows, columns=list(NUMBER_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    frame["verified"] = frame["verified"].astype(bool)
    if experiment is not None:
        frame = frame[frame["experiment"] == experiment].reset_index(drop=True)
    return frame
