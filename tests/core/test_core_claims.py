"""papersuite.core.claims: rank, ratio, threshold checks and NOT APPLICABLE cases."""

import pytest

from papersuite.core import claims as C
from papersuite.core.records import make_record, records_frame

# seed-means on experiment e1: A=1, B=2, C=3, D=4 (lower is better); on e2 the order is reversed
MEANS = {"e1": {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0}, "e2": {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0}}


def _frame():
    recs = []
    for exp, means in MEANS.items():
        for method, mean in means.items():
            for seed, delta in ((0, -0.1), (1, 0.1)):
                recs.append(
                    make_record(
                        paper="p",
                        experiment=exp,
                        method=method,
                        seed=seed,
                        scale="tiny",
                        metrics={"err": mean + delta},
                        wall_s=1.0,
                        device="cpu",
                        config={},
                    )
                )
    # another paper's record must not take part in p's claims
    recs.append(
        make_record(
            paper="q",
            experiment="e1",
            method="Z",
            seed=0,
            scale="tiny",
            metrics={"err": -100.0},
            wall_s=1.0,
            device="cpu",
            config={},
        )
    )
    return records_frame(recs)


def _refs(check, applies_at=("tiny", "full"), reasons=None, cid="c1"):
    claim = {
        "id": cid,
        "statement": "s",
        "source": "paper",
        "verified": False,
        "applies_at": list(applies_at),
        "check": check,
    }
    if reasons:
        claim["not_applicable_reason"] = reasons
    return {"paper": "p", "title": "t", "citation": "c", "numbers": [], "claims": [claim]}


def _run(check, scale="tiny", **kw):
    (res,) = C.check_claims(_refs(check, **kw), _frame(), scale)
    return res


def _rank(subjects, ranks, **extra):
    return {
        "kind": "rank",
        "metric": "err",
        "where": {"experiment": "e1"},
        "among": "method",
        "subjects": subjects,
        "ranks": ranks,
        "lower_is_better": True,
        **extra,
    }


def test_rank_pass_and_fail():
    res = _run(_rank(["A"], [1]))
    assert res["status"] == "PASS", res
    assert res["evidence"]["rank A"] == 1 and res["evidence"]["A"]["mean"] == pytest.approx(1.0)
    # two seeds at mean -/+ 0.1: the seed spread gives se 0.1
    assert res["evidence"]["A"]["se"] == pytest.approx(0.1) and res["evidence"]["A"]["n_seeds"] == 2
    assert res["evidence"]["possible ranks A"] == [1, 1]
    assert set(res) == {
        "paper",
        "id",
        "statement",
        "status",
        "evidence",
        "reason",
        "source",
        "verified",
        "paper_number",
    }
    assert _run(_rank(["B"], [1]))["status"] == "FAIL"
    # the where filter matters: on e2 D is best
    assert _run({**_rank(["D"], [1]), "where": {"experiment": "e2"}})["status"] == "PASS"
    assert _run(_rank(["D"], [1], lower_is_better=False))["status"] == "PASS"


def test_rank_set_of_ranks():
    assert _run(_rank(["B", "C"], [2, 3]))["status"] == "PASS"
    assert _run(_rank(["B", "C"], [3, 2]))["status"] == "PASS"
    assert _run(_rank(["B", "C"], [1, 2]))["status"] == "FAIL"
    assert _run(_rank(["B", "D"], [2, 3]))["status"] == "FAIL"


def test_ratio_best_of_with_exclude():
    check = {
        "kind": "ratio",
        "metric": "err",
        "where": {"experiment": "e1"},
        "numerator": {"where": {"method": "A"}},
        "denominator": {"best_of": {"where": {}}, "exclude": ["A"]},
        "op": "<=",
        "value": 0.65,
    }
    res = _run(check)
    assert res["status"] == "PASS", res
    assert _run({**check, "value": 0.6})["status"] == "UNDECIDED"
    assert res["evidence"]["ratio"]["mean"] == pytest.approx(0.5)
    # delta method: (0.1/2)^2 + (0.5 * 0.1/2)^2 -> se 0.0559; 0.5 + 2 se = 0.612 > 0.6
    assert res["evidence"]["ratio"]["se"] == pytest.approx(0.0559017, rel=1e-5)
    assert any("best method: B" in k for k in res["evidence"])
    assert _run({**check, "value": 0.35})["status"] == "FAIL"  # 0.5 - 2 se = 0.388 > 0.35
    # excluding B too makes C the best other: 1/3
    res = _run({**check, "denominator": {"best_of": {"where": {}, "exclude": ["A", "B"]}}})
    assert res["evidence"]["ratio"]["mean"] == pytest.approx(1 / 3)
    # best_of given directly as the where-mapping
    res = _run({**check, "denominator": {"best_of": {"method": ["C", "D"]}}})
    assert res["evidence"]["ratio"]["mean"] == pytest.approx(1 / 3)


def test_ratio_plain_denominator():
    check = {
        "kind": "ratio",
        "metric": "err",
        "where": {"experiment": "e1"},
        "numerator": {"where": {"method": "A"}},
        "denominator": {"where": {"method": "D"}},
        "op": "<",
        "value": 0.31,  # 0.25 +/- 0.026 (delta method)
    }
    res = _run(check)
    assert res["status"] == "PASS" and res["evidence"]["ratio"]["mean"] == pytest.approx(0.25)


def test_threshold_reducers():
    # e1 settings: A 1.0, B 2.0, C 3.0, D 4.0, each +/- 0.1 (se of two seeds at -/+ 0.1)
    base = {"kind": "threshold", "metric": "err", "where": {"experiment": "e1"}, "op": "<"}
    assert _run({**base, "value": 4.25, "reduce": "all"})["status"] == "PASS"
    res = _run({**base, "value": 4.0, "reduce": "all"})  # D at 4.0 +/- 0.1 is not separated from 4.0
    assert res["status"] == "UNDECIDED" and res["evidence"]["e1/D"]["verdict"] == "UNDECIDED"
    assert _run({**base, "value": 3.7, "reduce": "all"})["status"] == "FAIL"  # D's 4.0 - 2 se = 3.8 > 3.7
    # the mean of the settings' means 2.5, se sqrt(4 * 0.1^2) / 4 = 0.05
    assert _run({**base, "value": 2.65, "reduce": "mean"})["status"] == "PASS"
    assert _run({**base, "value": 2.55, "reduce": "mean"})["status"] == "UNDECIDED"
    assert _run({**base, "value": 2.35, "reduce": "mean"})["status"] == "FAIL"
    # min < v needs one setting (A at 1.0 +/- 0.1); max < v needs all of them
    assert _run({**base, "value": 1.25, "reduce": "min"})["status"] == "PASS"
    assert _run({**base, "value": 1.0, "reduce": "min"})["status"] == "UNDECIDED"
    assert _run({**base, "value": 0.75, "reduce": "min"})["status"] == "FAIL"
    assert _run({**base, "value": 3.7, "reduce": "max"})["status"] == "FAIL"


def test_requires_unmet_makes_the_claim_undecided():
    """A claim whose precondition does not PASS is UNDECIDED even when its own check PASSes or FAILs."""
    own = {"kind": "threshold", "metric": "err", "where": {"experiment": "e1"}, "op": "<", "value": 4.25}
    met = {"kind": "threshold", "metric": "err", "where": {"experiment": "e1", "method": "A"}, "op": ">", "value": 0.5}
    unmet = {**met, "value": 1.5}  # A at 1.0 +/- 0.1 is below 1.5: the precondition FAILs
    refs = _refs({**own, "reduce": "all"})
    refs["claims"][0]["requires"] = [{**met, "reduce": "min"}]
    (res,) = C.check_claims(refs, _frame(), "tiny")
    assert res["status"] == "PASS" and not any(key.startswith("requires") for key in res["evidence"])
    refs["claims"][0]["requires"] = [{**met, "reduce": "min"}, {**unmet, "reduce": "min"}]
    (res,) = C.check_claims(refs, _frame(), "tiny")
    assert res["status"] == "UNDECIDED"
    assert res["reason"].startswith("precondition requires[1] is FAIL") and "own check PASS" in res["reason"]
    assert res["evidence"]["requires e1/A"]["verdict"] == "FAIL"
    assert "FAIL" in C.format_evidence(res["evidence"]["requires e1/A"])
    refs["claims"][0]["check"] = {**own, "value": 0.5, "reduce": "all"}  # its own check FAILs
    (res,) = C.check_claims(refs, _frame(), "tiny")
    assert res["status"] == "UNDECIDED" and "own check FAIL" in res["reason"]


def test_malformed_requires_names_the_claim():
    refs = _refs({"kind": "threshold", "metric": "err", "op": "<", "value": 1.0, "reduce": "all"})
    refs["claims"][0]["requires"] = [{"kind": "rnak", "metric": "err"}]
    with pytest.raises(ValueError, match="c1.requires"):
        C.check_claims(refs, _frame(), "tiny")


def _one_seed_frame(values, ses=None):
    recs = []
    for i, (method, value) in enumerate(values.items()):
        metrics = {"err": value} if ses is None else {"err": value, "err_se": ses[method]}
        recs.append(
            make_record(
                paper="p",
                experiment="e",
                method=method,
                seed=0,
                scale="tiny",
                metrics=metrics,
                wall_s=1.0,
                device="cpu",
                config={"i": i},
            )
        )
    return records_frame(recs)


def test_one_seed_without_noise_is_undecided():
    frame = _one_seed_frame({"A": 1.0, "B": 2.0})
    (res,) = C.check_claims(_refs({**_rank(["A"], [1]), "where": {}}), frame, "tiny")
    assert res["status"] == "UNDECIDED" and "no noise estimate" in res["reason"]
    check = {"kind": "threshold", "metric": "err", "op": "<", "value": 5.0, "reduce": "all"}
    (res,) = C.check_claims(_refs(check), frame, "tiny")
    assert res["status"] == "UNDECIDED" and res["evidence"]["e/A"]["se"] is None


def test_exact_metric_decides_on_its_value():
    frame = _one_seed_frame({"A": 1.0, "B": 1.0 + 1e-9}, {"A": 0.0, "B": 0.0})
    (res,) = C.check_claims(_refs({**_rank(["A"], [1]), "where": {}}), frame, "tiny")
    assert res["status"] == "PASS"
    check = {"kind": "threshold", "metric": "err", "op": ">=", "value": 1.0, "reduce": "all"}
    (res,) = C.check_claims(_refs(check), frame, "tiny")
    assert res["status"] == "PASS"


def test_socm_linear_ou_example_is_undecided_not_fail():
    # issue #12: SOCM 0.0001779 vs SOCM-adjoint 0.0001771 on one seed, 0.5% apart; with Monte-Carlo
    # se of 2e-6 each the order is not separated (2 * sqrt(2) * 2e-6 = 5.7e-6 > 0.8e-6)
    values = {"SOCM": 0.0001779, "SOCM_adjoint": 0.0001771, "adjoint": 0.00031}
    frame = _one_seed_frame(values, {m: 2e-6 for m in values})
    (res,) = C.check_claims(_refs({**_rank(["SOCM"], [1]), "where": {}}), frame, "tiny")
    assert res["status"] == "UNDECIDED" and res["evidence"]["possible ranks SOCM"] == [1, 2]
    # the same gap with se 1e-7 is beyond the noise: a FAIL
    frame = _one_seed_frame(values, {m: 1e-7 for m in values})
    (res,) = C.check_claims(_refs({**_rank(["SOCM"], [1]), "where": {}}), frame, "tiny")
    assert res["status"] == "FAIL" and res["evidence"]["possible ranks SOCM"] == [2, 2]


def test_rank_set_with_noise():
    # B and C 0.1 apart with se 0.1: each may be 2nd or 3rd, which is what the claim needs
    frame = _one_seed_frame({"A": 1.0, "B": 2.0, "C": 2.1, "D": 4.0}, dict.fromkeys("ABCD", 0.1))
    (res,) = C.check_claims(_refs({**_rank(["B", "C"], [2, 3]), "where": {}}), frame, "tiny")
    assert res["status"] == "PASS" and res["evidence"]["possible ranks B"] == [2, 3]
    (res,) = C.check_claims(_refs({**_rank(["C", "D"], [2, 3]), "where": {}}), frame, "tiny")
    assert res["status"] == "FAIL"  # D is surely 4th
    (res,) = C.check_claims(_refs({**_rank(["B"], [2]), "where": {}}), frame, "tiny")
    assert res["status"] == "UNDECIDED"  # B may be 3rd


def test_not_applicable_by_scale():
    res = _run(_rank(["A"], [1]), applies_at=["full"], reasons={"tiny": "needs d=20"})
    assert res["status"] == "NOT APPLICABLE" and res["reason"] == "needs d=20"
    assert _run(_rank(["A"], [1]), scale="full")["status"] == "NOT APPLICABLE"  # no full-scale rows


def test_not_applicable_by_empty_filter():
    res = _run({**_rank(["A"], [1]), "where": {"experiment": "nope"}})
    assert res["status"] == "NOT APPLICABLE" and "experiment=nope" in res["reason"]
    res = _run(_rank(["X"], [1]))
    assert res["status"] == "NOT APPLICABLE" and "method=X" in res["reason"]
    res = _run({**_rank(["A"], [1]), "metric": "not_a_metric"})
    assert res["status"] == "NOT APPLICABLE" and "not_a_metric" in res["reason"]


@pytest.mark.parametrize(
    "check",
    [
        {"kind": "rnak", "metric": "err"},
        {"kind": "rank", "subjects": ["A"], "ranks": [1]},
        {"kind": "rank", "metric": "err", "subjects": ["A"], "ranks": [0]},
        {"kind": "rank", "metric": "err", "subjects": ["A", "B"], "ranks": [1]},
        {"kind": "threshold", "metric": "err", "op": "=<", "value": 1},
        {"kind": "threshold", "metric": "err", "op": "<", "value": 1, "reduce": "median"},
        {"kind": "threshold", "metric": "err", "op": "<", "value": 1, "subjects": ["A"]},
        {"kind": "ratio", "metric": "err", "numerator": {"where": {}}, "op": "<", "value": 1},
        "not a mapping",
    ],
)
def test_malformed_check_names_claim_id(check):
    with pytest.raises(ValueError, match="my_claim_id"):
        C.check_claims(_refs(check, cid="my_claim_id"), _frame(), "tiny")
    # also when the claim would not run at this scale
    with pytest.raises(ValueError, match="my_claim_id"):
        C.check_claims(_refs(check, applies_at=["full"], reasons={"tiny": "r"}, cid="my_claim_id"), _frame(), "tiny")


def test_unknown_where_column_is_malformed():
    with pytest.raises(ValueError, match="c1.*colour"):
        _run({**_rank(["A"], [1]), "where": {"colour": "red"}})


def test_render_markdown():
    refs = _refs(_rank(["A"], [1]))
    refs["claims"].append({**refs["claims"][0], "id": "c2", "check": _rank(["B"], [1]), "verified": True})
    results = C.check_claims(refs, _frame(), "tiny")
    md = C.render_claims_markdown(results, "tiny")
    assert md.startswith("# Claims at scale `tiny`")
    assert "1 PASS, 1 FAIL, 0 UNDECIDED, 0 NOT APPLICABLE (2 claims)" in md
    assert "A = 1 ± 0.1 (2 seeds)" in md
    assert "## p" in md and "| claim | status | evidence | reason |" in md
    assert "| c1: s (unverified) | PASS |" in md and "| c2: s | FAIL |" in md
