"""Machine checks of a paper's claims over our records frame: PASS, FAIL, UNDECIDED or NOT APPLICABLE.

A check selects rows of the records frame with ``where`` (column -> value or list of values) and
compares seed means of one ``metric``, each with its noise (``<metric>_se`` and the spread over seeds),
under the rule of :mod:`papersuite.core.verdicts`: a verdict holds beyond 2 standard errors or the claim
is UNDECIDED. Kinds:

- ``rank``: the set of ranks (1 = best) of ``subjects`` among the ``among`` groups equals ``ranks``.
- ``ratio``: mean(numerator) / mean(denominator) ``op`` ``value``; the denominator is a ``where``
  selection or ``best_of`` (the best ``among`` group, minus ``exclude``).
- ``threshold``: ``reduce`` (max, min, mean over matching rows, or ``all`` rows) ``op`` ``value``.

A claim may list ``requires``: checks of the same kinds that must PASS for the claim's own check to mean
anything (e.g. a reward that is not identically zero before comparing the agents it trains). If one does
not PASS, the claim is UNDECIDED whatever its own check says, and its reason names the unmet precondition.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from . import verdicts as V
from .noise import SE_SUFFIX, Estimate, combine, format_estimate
from .tables import format_cell, format_markdown

__all__ = [
    "CHECK_KINDS",
    "STATUSES",
    "check_claims",
    "evaluate_check",
    "render_claims_markdown",
    "validate_check",
]

CHECK_KINDS = ("rank", "ratio", "threshold")
STATUSES = V.STATUSES
PASS, FAIL, UNDECIDED, NA = STATUSES
REDUCERS = ("max", "min", "mean", "all")
OPS = V.OPS
_ALLOWED = {
    "rank": {"kind", "metric", "where", "among", "lower_is_better", "subjects", "ranks"},
    "ratio": {"kind", "metric", "where", "among", "lower_is_better", "numerator", "denominator", "op", "value"},
    "threshold": {"kind", "metric", "where", "op", "value", "reduce"},
}
_BEST_OF_KEYS = {"where", "among", "exclude", "lower_is_better"}


class _NotApplicable(Exception):
    """A filter matched no rows; the message is the reason."""


# --------------------------------------------------------------------------- validation


def _bad(claim_id: str, msg: str) -> ValueError:
    return ValueError(f"claim {claim_id!r}: {msg}")


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, bool, numbers.Real))


def _where(value: Any, claim_id: str, key: str) -> dict[str, list]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(claim_id, f"{key} must be a mapping column -> value or list, got {value!r}")
    out: dict[str, list] = {}
    for col, v in value.items():
        values = list(v) if isinstance(v, (list, tuple)) else [v]
        if not isinstance(col, str) or not values or not all(_is_scalar(x) for x in values):
            raise _bad(claim_id, f"{key}.{col}: must be a value or a non-empty list of values, got {v!r}")
        out[col] = values
    return out


def _str(check: Mapping, key: str, claim_id: str, default: str | None = None) -> str:
    value = check.get(key, default)
    if not isinstance(value, str) or not value:
        raise _bad(claim_id, f"check.{key} must be a non-empty string, got {value!r}")
    return value


def _bool(check: Mapping, key: str, claim_id: str, default: bool, prefix: str = "check") -> bool:
    value = check.get(key, default)
    if not isinstance(value, bool):
        raise _bad(claim_id, f"{prefix}.{key} must be true or false, got {value!r}")
    return value


def _op_value(check: Mapping, claim_id: str) -> tuple[str, float]:
    op = check.get("op")
    if op not in OPS:
        raise _bad(claim_id, f"check.op must be one of {list(OPS)}, got {op!r}")
    value = check.get("value")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise _bad(claim_id, f"check.value must be a number, got {value!r}")
    return op, float(value)


def validate_check(check: Any, claim_id: str) -> dict:
    """Validate a claim's ``check`` and return it normalised (defaults filled, where-values as lists).

    Raises ValueError naming the claim id and the bad key.
    """
    if not isinstance(check, Mapping):
        raise _bad(claim_id, f"check must be a mapping, got {check!r}")
    kind = check.get("kind")
    if kind not in CHECK_KINDS:
        raise _bad(claim_id, f"check.kind must be one of {list(CHECK_KINDS)}, got {kind!r}")
    unknown = sorted(set(check) - _ALLOWED[kind])
    if unknown:
        raise _bad(claim_id, f"check has unknown key(s) {unknown} for kind {kind!r}; allowed: {sorted(_ALLOWED[kind])}")
    out: dict[str, Any] = {
        "kind": kind,
        "metric": _str(check, "metric", claim_id),
        "where": _where(check.get("where"), claim_id, "check.where"),
    }
    if kind in ("rank", "ratio"):
        out["among"] = _str(check, "among", claim_id, "method")
        out["lower_is_better"] = _bool(check, "lower_is_better", claim_id, True)
    if kind == "rank":
        subjects = check.get("subjects")
        subjects = [subjects] if isinstance(subjects, str) else subjects
        ranks = check.get("ranks")
        ranks = [ranks] if isinstance(ranks, int) and not isinstance(ranks, bool) else ranks
        if not isinstance(subjects, list) or not subjects or not all(isinstance(s, str) for s in subjects):
            raise _bad(claim_id, f"check.subjects must be a non-empty list of names, got {subjects!r}")
        if not isinstance(ranks, list) or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in ranks
        ):
            raise _bad(claim_id, f"check.ranks must be a list of ints >= 1, got {ranks!r}")
        if len(ranks) != len(subjects):
            raise _bad(claim_id, f"check.ranks {ranks} and check.subjects {subjects} differ in length")
        out["subjects"], out["ranks"] = subjects, ranks
    elif kind == "ratio":
        out["op"], out["value"] = _op_value(check, claim_id)
        num = check.get("numerator")
        if not isinstance(num, Mapping) or set(num) != {"where"}:
            raise _bad(claim_id, f"check.numerator must be {{where: {{...}}}}, got {num!r}")
        out["numerator"] = {"where": _where(num["where"], claim_id, "check.numerator.where")}
        out["denominator"] = _denominator(check.get("denominator"), out, claim_id)
    else:
        out["op"], out["value"] = _op_value(check, claim_id)
        reduce = check.get("reduce", "mean")
        if reduce not in REDUCERS:
            raise _bad(claim_id, f"check.reduce must be one of {list(REDUCERS)}, got {reduce!r}")
        out["reduce"] = reduce
    return out


def _denominator(den: Any, check: Mapping, claim_id: str) -> dict:
    """``{where}`` or ``{best_of: {where, among?, lower_is_better?}, exclude?}``.

    ``best_of`` may also be the where-mapping itself, and ``exclude`` may sit inside it.
    """
    key = "check.denominator"
    if not isinstance(den, Mapping) or not den:
        raise _bad(claim_id, f"{key} must be {{where: ...}} or {{best_of: ..., exclude: [...]}}, got {den!r}")
    if "best_of" not in den:
        if set(den) != {"where"}:
            raise _bad(claim_id, f"{key} must be {{where: ...}} or {{best_of: ..., exclude: [...]}}, got {den!r}")
        return {"where": _where(den["where"], claim_id, f"{key}.where")}
    unknown = sorted(set(den) - {"best_of", "exclude"})
    if unknown:
        raise _bad(claim_id, f"{key} has unknown key(s) {unknown}")
    best = den["best_of"]
    if best is None:
        best = {}
    if not isinstance(best, Mapping):
        raise _bad(claim_id, f"{key}.best_of must be a mapping, got {best!r}")
    nested = "where" in best and set(best) <= _BEST_OF_KEYS
    where = best["where"] if nested else best
    exclude = den.get("exclude", best.get("exclude", []) if nested else [])
    exclude = [exclude] if isinstance(exclude, str) else exclude
    if not isinstance(exclude, list) or not all(_is_scalar(x) for x in exclude):
        raise _bad(claim_id, f"{key}.exclude must be a list of names, got {exclude!r}")
    inner = best if nested else {}
    return {
        "best_of": {
            "where": _where(where, claim_id, f"{key}.best_of.where"),
            "among": _str(inner, "among", claim_id, check["among"]),
            "lower_is_better": _bool(inner, "lower_is_better", claim_id, check["lower_is_better"], f"{key}.best_of"),
        },
        "exclude": exclude,
    }


# --------------------------------------------------------------------------- evaluation


def _describe(where: Mapping[str, list]) -> str:
    if not where:
        return "all rows"
    return ", ".join(f"{c}={'|'.join(map(str, v))}" for c, v in where.items())


def _select(frame: pd.DataFrame, where: Mapping[str, list], metric: str, claim_id: str) -> pd.DataFrame:
    """Rows matching ``where`` with a value of ``metric``; _NotApplicable names the filter that emptied it."""
    rows = frame
    for col, values in where.items():
        if col not in frame.columns:
            raise _bad(claim_id, f"where: no column {col!r} in the results (columns: {list(frame.columns)})")
        rows = rows[rows[col].isin(values)]
        if rows.empty:
            raise _NotApplicable(f"no results with {col}={'|'.join(map(str, values))} (filter {_describe(where)})")
    if metric not in frame.columns:
        raise _NotApplicable(f"no results report metric {metric!r}")
    rows = rows[rows[metric].notna()]
    if rows.empty:
        raise _NotApplicable(f"no values of {metric!r} for {_describe(where)}")
    return rows


def _rank(frame: pd.DataFrame, c: dict, claim_id: str) -> tuple[str, dict, str]:
    rows = _select(frame, c["where"], c["metric"], claim_id)
    if c["among"] not in rows.columns:
        raise _bad(claim_id, f"among: no column {c['among']!r} in the results")
    groups = {str(k): e for k, e in V.estimates(rows, c["among"], c["metric"]).items()}
    missing = [s for s in c["subjects"] if s not in groups]
    if missing:
        raise _NotApplicable(
            f"no values of {c['metric']!r} for {c['among']}={'|'.join(missing)} (filter {_describe(c['where'])})"
        )
    status, possible, reason = V.rank_verdict(groups, c["subjects"], c["ranks"], c["lower_is_better"])
    order = sorted(groups, key=lambda g: groups[g].mean, reverse=not c["lower_is_better"])
    evidence: dict[str, Any] = {g: V.as_evidence(groups[g]) for g in order}
    sign = 1.0 if c["lower_is_better"] else -1.0
    for s in c["subjects"]:
        # ties share the better rank, so two tied methods cannot both claim distinct ranks
        evidence[f"rank {s}"] = 1 + sum(sign * groups[g].mean < sign * groups[s].mean for g in order)
        evidence[f"possible ranks {s}"] = list(possible[s])
    direction = "lower" if c["lower_is_better"] else "higher"
    return status, evidence, f"by {c['metric']} ({direction} is better), {len(groups)} {c['among']}s; {reason}"


def _ratio(frame: pd.DataFrame, c: dict, claim_id: str) -> tuple[str, dict, str]:
    metric = c["metric"]
    num_where = {**c["where"], **c["numerator"]["where"]}
    num = _pooled(_select(frame, num_where, metric, claim_id), metric)
    den_spec = c["denominator"]
    if "where" in den_spec:
        den_where = {**c["where"], **den_spec["where"]}
        den = _pooled(_select(frame, den_where, metric, claim_id), metric)
        den_label = f"denominator ({_describe(den_where)})"
    else:
        best = den_spec["best_of"]
        best_where = {**c["where"], **best["where"]}
        rows = _select(frame, best_where, metric, claim_id)
        if best["among"] not in rows.columns:
            raise _bad(claim_id, f"among: no column {best['among']!r} in the results")
        groups = {k: e for k, e in V.estimates(rows, best["among"], metric).items() if k not in den_spec["exclude"]}
        if not groups:
            raise _NotApplicable(
                f"no {best['among']} left for best_of ({_describe(best_where)}) after excluding {den_spec['exclude']}"
            )
        pick = min if best["lower_is_better"] else max
        name = pick(groups, key=lambda g: groups[g].mean)
        den = groups[name]
        den_label = f"denominator (best {best['among']}: {name})"
    evidence: dict[str, Any] = {
        f"numerator ({_describe(num_where)})": V.as_evidence(num),
        den_label: V.as_evidence(den),
    }
    if den.mean == 0:
        return V.FAIL, evidence, "denominator is 0"
    status, ratio, reason = V.ratio_verdict(num, den, c["op"], c["value"])
    evidence["ratio"] = V.as_evidence(ratio)
    return status, evidence, reason


def _pooled(rows: pd.DataFrame, metric: str) -> Estimate:
    """One estimate from every selected row (seeds of one setting, as a ratio's side selects)."""
    se_column = metric + SE_SUFFIX
    return combine(rows[metric].astype(float), rows[se_column].astype(float) if se_column in rows else None)


def _threshold(frame: pd.DataFrame, c: dict, claim_id: str) -> tuple[str, dict, str]:
    rows = _select(frame, c["where"], c["metric"], claim_id)
    return V.threshold_verdict(rows, c["metric"], c["op"], c["value"], c["reduce"])


_EVALUATORS = {"rank": _rank, "ratio": _ratio, "threshold": _threshold}


def evaluate_check(check: Mapping, frame: pd.DataFrame, claim_id: str = "<claim>") -> tuple[str, dict, str]:
    """Evaluate one check on ``frame``: ``(status, evidence, reason)``."""
    c = validate_check(check, claim_id)
    if frame.empty:
        return NA, {}, "no results"
    try:
        return _EVALUATORS[c["kind"]](frame, c, claim_id)
    except _NotApplicable as exc:
        return NA, {}, str(exc)


def check_claims(references: dict, frame: pd.DataFrame, scale: str) -> list[dict]:
    """Evaluate every claim of one paper's references at ``scale``.

    ``frame`` is a records frame; rows of other papers or scales (when those columns exist) are
    ignored, so one frame of all records can be passed for every paper. Every check is validated
    first, so a malformed check raises ValueError naming the claim even where it would not run.
    """
    paper = references.get("paper")
    claims = references.get("claims") or []
    checks = [validate_check(cl.get("check"), cl.get("id", f"claims[{i}]")) for i, cl in enumerate(claims)]
    for i, cl in enumerate(claims):
        for pre in cl.get("requires") or []:
            validate_check(pre, f"{cl.get('id', f'claims[{i}]')}.requires")
    if "paper" in frame.columns:
        frame = frame[frame["paper"] == paper]
    if "scale" in frame.columns:
        frame = frame[frame["scale"] == scale]
    results = []
    for claim, check in zip(claims, checks):
        applies_at = claim.get("applies_at", [])
        if scale not in applies_at:
            reasons = claim.get("not_applicable_reason") or {}
            status, evidence = NA, {}
            reason = reasons.get(scale) or f"not checked at scale {scale!r}"
        elif frame.empty:
            status, evidence, reason = NA, {}, f"no results for paper {paper!r} at scale {scale!r}"
        else:
            status, evidence, reason = evaluate_check(check, frame, claim["id"])
            status, evidence, reason = _apply_requires(claim, frame, status, evidence, reason)
        results.append(
            {
                "paper": paper,
                "id": claim["id"],
                "statement": claim.get("statement", ""),
                "status": status,
                "evidence": evidence,
                "reason": reason,
                "source": claim.get("source", ""),
                "verified": bool(claim.get("verified", False)),
                "paper_number": _paper_number(references, claim.get("number")),
            }
        )
    return results


def _apply_requires(
    claim: Mapping, frame: pd.DataFrame, status: str, evidence: dict, reason: str
) -> tuple[str, dict, str]:
    """UNDECIDED when a precondition of ``claim`` does not PASS (its own verdict would not test the claim)."""
    if status == NA:
        return status, evidence, reason
    for i, pre in enumerate(claim.get("requires") or []):
        pre_status, pre_evidence, pre_reason = evaluate_check(pre, frame, f"{claim['id']}.requires[{i}]")
        if pre_status != PASS:
            unmet = f"precondition requires[{i}] is {pre_status}: {pre_reason}"
            pre = {f"requires {key}": value for key, value in pre_evidence.items()}  # flat: tables format each
            return UNDECIDED, {**evidence, **pre}, f"{unmet}; own check {status}: {reason}"
    return status, evidence, reason


def _paper_number(references: Mapping, number_id: str | None) -> dict | None:
    """The paper's number a claim restates (value, unit, source, verified), when the claim names one."""
    for number in references.get("numbers") or []:
        if number_id is not None and number.get("id") == number_id:
            return {k: number.get(k) for k in ("value", "unit", "source", "verified")}
    return None


def _counts(results: Sequence[Mapping]) -> str:
    n = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    return f"{n[PASS]} PASS, {n[FAIL]} FAIL, {n[UNDECIDED]} UNDECIDED, {n[NA]} NOT APPLICABLE ({len(results)} claims)"


def format_evidence(value: Any) -> str:
    """An evidence entry for a table: an estimate as ``mean ± se (n seeds)``, else the cell."""
    if isinstance(value, Mapping) and "mean" in value:
        se = value.get("se")
        text = format_estimate(value["mean"], float("nan") if se is None else se)
        text += "" if se is not None else " (noise not estimated)"
        n = value.get("n_seeds")
        text += f" ({n} seeds)" if n and n > 1 else ""
        return text + (f" {value['verdict']}" if "verdict" in value else "")
    if isinstance(value, list) and len(value) == 2:
        return str(value[0]) if value[0] == value[1] else f"{value[0]}-{value[1]}"
    return format_cell(value)


def render_claims_markdown(results: Sequence[Mapping], scale: str) -> str:
    """Markdown report: overall counts, then per paper a table (claim, status, evidence, reason)."""
    parts = [f"# Claims at scale `{scale}`", "", f"Total: {_counts(results)}.", ""]
    if not results:
        parts.append("No claims.\n")
        return "\n".join(parts)
    papers = list(dict.fromkeys(r["paper"] for r in results))  # first-seen order
    for paper in papers:
        mine = [r for r in results if r["paper"] == paper]
        rows = []
        for r in mine:
            claim = f"{r['id']}: {r['statement']}"
            if not r.get("verified", False):
                claim += " (unverified)"
            evidence = "; ".join(f"{k} = {format_evidence(v)}" for k, v in r["evidence"].items())
            rows.append({"claim": claim, "status": r["status"], "evidence": evidence, "reason": r["reason"]})
        notes = [_counts(mine)]
        if any(not r.get("verified", False) for r in mine):
            notes.append("claims marked (unverified) come from a secondary source, not checked against the paper")
        parts.append(
            format_markdown(pd.DataFrame(rows, columns=["claim", "status", "evidence", "reason"]), paper, notes)
        )
    return "\n".join(parts)
