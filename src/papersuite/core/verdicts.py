"""Verdicts decided beyond noise: how a rank, ratio or threshold check becomes PASS, FAIL or UNDECIDED.

The rule. Every value a check compares is a seed mean with its noise (:func:`papersuite.core.noise.combine`:
the larger of the spread over seeds and the runs' own ``<metric>_se``). With ``Z = 2``:

- threshold and ratio: PASS when the claim holds for every value in mean ± Z·se, FAIL when it holds for
  none, UNDECIDED otherwise;
- rank: a group surely beats another when their means differ by more than Z·sqrt(se_a² + se_b²); each
  subject's possible ranks run from 1 + (groups that surely beat it) to n − (groups it surely beats).
  PASS when every subject's possible ranks lie within the claimed ranks, FAIL when one subject's lie
  outside them all, UNDECIDED otherwise;
- a metric whose noise is not estimated (one seed, no ``<metric>_se``) leaves the claim UNDECIDED;
  ``<metric>_se = 0`` declares the metric exact, and then the values decide alone.

``reduce: all`` decides each (experiment, method) setting on its seed mean and needs every one; ``max``
with ``<``/``<=`` (and ``min`` with ``>``/``>=``) is the same as ``all``; ``max`` with ``>``/``>=`` (and
``min`` with ``<``/``<=``) needs one setting; ``mean`` averages the settings' seed means.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from .noise import SE_SUFFIX, Estimate, combine, format_estimate, ratio_se

__all__ = ["FAIL", "NA", "PASS", "STATUSES", "UNDECIDED", "Z", "decide", "estimates", "interval_status"]

STATUSES = ("PASS", "FAIL", "UNDECIDED", "NOT APPLICABLE")
PASS, FAIL, UNDECIDED, NA = STATUSES
Z = 2.0  # separation, in (combined) standard errors, that decides a comparison
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_SETTING_KEYS = ("experiment", "method")


def estimates(rows: pd.DataFrame, by: str | Sequence[str], metric: str) -> dict[Any, Estimate]:
    """Seed mean and noise of ``metric`` per group of ``by`` (a column or columns)."""
    se_column = metric + SE_SUFFIX
    out = {}
    for key, group in rows.groupby(by, sort=True):
        ses = group[se_column].astype(float) if se_column in group.columns else None
        out[key] = combine(group[metric].astype(float), ses)
    return out


def interval_status(est: Estimate, op: str, value: float) -> str:
    """PASS if ``x op value`` for every x in mean ± Z·se, FAIL if for none, else UNDECIDED."""
    if not est.known:
        return UNDECIDED
    lo, hi = est.mean - Z * est.se, est.mean + Z * est.se
    if op in ("==", "!="):
        inside = lo <= value <= hi
        exact = est.se == 0 and est.mean == value
        holds, fails = (exact, not inside) if op == "==" else (not inside, exact)
    else:
        holds = OPS[op](lo, value) and OPS[op](hi, value)
        fails = not OPS[op](lo, value) and not OPS[op](hi, value)
    return PASS if holds else FAIL if fails else UNDECIDED


def decide(statuses: Sequence[str], need: str) -> str:
    """Combine settings' verdicts: ``need='all'`` (every one must hold) or ``'any'`` (one must)."""
    if need == "all":
        return FAIL if FAIL in statuses else PASS if all(s == PASS for s in statuses) else UNDECIDED
    return PASS if PASS in statuses else FAIL if all(s == FAIL for s in statuses) else UNDECIDED


def as_evidence(est: Estimate) -> dict:
    """JSON form of an estimate: mean, se (None when unknown), number of seeds."""
    return {"mean": est.mean, "se": est.se if est.known else None, "n_seeds": est.n}


def describe(est: Estimate) -> str:
    return format_estimate(est.mean, est.se) + ("" if est.known else " (noise not estimated)")


def _noise_note(status: str, margin: float, est: Estimate) -> str:
    if not est.known:
        return "; no noise estimate (one seed and no per-run se), so not decided"
    if status == UNDECIDED:
        return f"; not separated: margin {margin:.3g} within {Z:g} se = {Z * est.se:.3g}"
    return f"; margin {margin:.3g} beyond {Z:g} se = {Z * est.se:.3g}"


def threshold_verdict(rows: pd.DataFrame, metric: str, op: str, value: float, reduce: str) -> tuple[str, dict, str]:
    """A threshold check on the settings' seed means (module doc for ``reduce``)."""
    keys = [k for k in _SETTING_KEYS if k in rows.columns] or [rows.columns[0]]
    settings = estimates(rows, keys, metric)
    if reduce == "mean":
        means = [e.mean for e in settings.values()]
        ses = [e.se for e in settings.values()]
        se = math.sqrt(sum(s * s for s in ses)) / len(ses) if all(not math.isnan(s) for s in ses) else math.nan
        est = Estimate(sum(means) / len(means), se, min(e.n for e in settings.values()))
        status = interval_status(est, op, value)
        reason = f"mean {metric} = {describe(est)} {op} {value:g}: {status}" + _noise_note(
            status, abs(est.mean - value), est
        )
        return status, {f"mean {metric}": as_evidence(est), "settings": len(settings)}, reason
    need = "all"
    if (reduce == "max" and op in (">", ">=")) or (reduce == "min" and op in ("<", "<=")):
        need = "any"
    per_setting = {_label(k): (interval_status(e, op, value), e) for k, e in settings.items()}
    status = decide([s for s, _ in per_setting.values()], need)
    evidence = {label: {**as_evidence(e), "verdict": s} for label, (s, e) in per_setting.items()}
    counts = {s: sum(v == s for v, _ in per_setting.values()) for s in (PASS, FAIL, UNDECIDED)}
    reason = (
        f"{'every' if need == 'all' else 'some'} setting needs {metric} {op} {value:g} beyond {Z:g} se: "
        f"{counts[PASS]} hold, {counts[FAIL]} fail, {counts[UNDECIDED]} undecided of {len(per_setting)}"
    )
    return status, evidence, reason


def _label(key: Any) -> str:
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)


def ratio_verdict(num: Estimate, den: Estimate, op: str, value: float) -> tuple[str, Estimate, str]:
    """A ratio of two seed means against ``value``; its noise by the delta method."""
    if num.known and den.known:
        ratio, se = ratio_se(num.mean, num.se, den.mean, den.se)
    else:
        ratio, se = num.mean / den.mean, math.nan
    est = Estimate(ratio, se, min(num.n, den.n))
    status = interval_status(est, op, value)
    reason = f"ratio {describe(est)} {op} {value:g}: {status}" + _noise_note(status, abs(ratio - value), est)
    return status, est, reason


def surely_better(a: Estimate, b: Estimate, lower_is_better: bool) -> bool:
    """``a`` beats ``b`` by more than Z combined standard errors (never when a noise is unknown)."""
    gap = (b.mean - a.mean) if lower_is_better else (a.mean - b.mean)
    noise = Z * math.hypot(a.se, b.se)
    return not math.isnan(noise) and gap > noise


def rank_verdict(
    groups: Mapping[str, Estimate], subjects: Sequence[str], ranks: Sequence[int], lower_is_better: bool
) -> tuple[str, dict[str, tuple[int, int]], str]:
    """Possible ranks of each subject given the noise, and the verdict on the claimed ranks."""
    possible = {}
    for s in subjects:
        others = [g for g in groups if g != s]
        beaten_by = sum(surely_better(groups[g], groups[s], lower_is_better) for g in others)
        beats = sum(surely_better(groups[s], groups[g], lower_is_better) for g in others)
        possible[s] = (1 + beaten_by, len(groups) - beats)
    want = set(ranks)
    spans = {s: set(range(lo, hi + 1)) for s, (lo, hi) in possible.items()}
    if all(span <= want for span in spans.values()) and len(want) == len(subjects):
        status = PASS
    elif any(span.isdisjoint(want) for span in spans.values()):
        status = FAIL
    else:
        status = UNDECIDED
    shown = ", ".join(f"{s} {lo}" if lo == hi else f"{s} {lo}-{hi}" for s, (lo, hi) in possible.items())
    unknown = [g for g, e in groups.items() if not e.known]
    note = f"; no noise estimate for {', '.join(map(str, unknown))}" if unknown else ""
    reason = f"possible ranks within {Z:g} combined se: {shown}; claimed {sorted(want)}: {status}{note}"
    return status, possible, reason
