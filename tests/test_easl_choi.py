"""EASL (A1-A5) and Choi (C1-C6) beside RECIST 1.1 and mRECIST, one test per rule.

Rule ids are those of shared/spec/response-criteria.md; every expected value is
computed by hand. The last test is a hypothesis invariant: enabling EASL and
Choi leaves every RECIST 1.1 and mRECIST row byte-identical.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_response_properties import EXAMPLES, build
from test_response_properties import patient as random_patient
from test_response_rules import (
    LESION_SCHEMA,
    NEW,
    NT,
    PARAMS,
    Cohort,
    T,
    _dec,
    at,
    mm,
    node,
    overall,
    rows,
)

from config import load_config
from config.params import best_response_params
from transforms.responses import compute_best_responses, compute_timepoints
from transforms.responses.best import assessments_from_warehouse_tables
from transforms.responses.timepoints import TimepointResult

TWO = ["RECIST1.1", "mRECIST"]
FOUR = ["RECIST1.1", "mRECIST", "EASL", "Choi"]
EXTENDED_SCHEMA = LESION_SCHEMA.append(
    pa.field("viable_perpendicular_mm", pa.decimal128(10, 1))
).append(pa.field("attenuation_hu", pa.float64()))


def E(lesion_id, viable=None, perp=None, status="measured", *, ld=60, seg=5):
    """A non-nodal EASL target: viable diameter x perpendicular (its longest diameter is 60 mm)."""
    row = T(lesion_id, ld, status, viable=viable, seg=seg)
    return {**row, "viable_perpendicular_mm": _dec(perp)}


def C(lesion_id, ld=None, hu=None, status="measured", *, seg=5):
    """A non-nodal Choi target: longest diameter and attenuation (HU)."""
    return {**T(lesion_id, ld, status, seg=seg), "attenuation_hu": hu}


class Cohort4(Cohort):
    """The RECIST test cohort, with the EASL and Choi inputs, run with all four criteria."""

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        sessions, studies, _ = super().tables()
        return sessions, studies, pa.Table.from_pylist(self.lesions, schema=EXTENDED_SCHEMA)

    def run(self, **params: Any) -> TimepointResult:
        return compute_timepoints(*self.tables(), {**PARAMS, "criteria": FOUR, **params})


# ---------------------------------------------------------------- EASL


def test_A1_enhancing_cross_products_add_up_in_mm2():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25), E("L2", status="too_small"), node("N1", 20))
    c.study("2026-03-01", E("L1", 0, 25), E("L2", status="absent"), node("N1", 20))
    c.study("2026-05-01", E("L1", 10, None), E("L2", status="coalesced"), node("N1", 20))
    c.rows("2026-05-01", E("L1", 10, 10))  # a fragment with both diameters: still no size
    tp = c.run().timepoint_responses
    base = at(tp, "2026-01-01", "EASL")  # 40 x 25 + 5 x 5 + 20 x 20
    assert (base["sum_mm"], base["sum_unit"]) == (mm("1425.0"), "mm2")
    assert at(tp, "2026-03-01", "EASL")["sum_mm"] == mm("400.0")  # viable 0: 0 mm2
    ne = at(tp, "2026-05-01", "EASL")
    assert (ne["sum_mm"], ne["overall_response"]) == (None, "NE")
    assert ne["reason"] == "NE (R6): target L1 without enhancing cross-product"
    assert at(tp, "2026-01-01", "RECIST1.1")["sum_unit"] == "mm"


def test_A1_each_cross_product_is_rounded_once_to_a_tenth_of_a_mm2():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", "10.5", "10.5"), E("L2", "10.1", "10.1"), node("N1", "10.5"))
    c.study("2026-03-01", E("L1", "10.5", "10.5"), E("L2", "10.1", "10.1"), node("N1", "10.5"))
    tp = c.run().timepoint_responses
    # 110.25 -> 110.3 (half away from zero), 102.01 -> 102.0, node 110.25 -> 110.3
    assert at(tp, "2026-01-01", "EASL")["sum_mm"] == mm("322.6")
    assert at(tp, "2026-03-01", "EASL")["pct_change_from_baseline"] == 0.0


def test_A2_pd_needs_strictly_more_than_25pct_over_nadir():
    c = Cohort4()
    for patient, viable in (("p1", "50.0"), ("p2", "50.1")):  # 1250 (+25 %) and 1252.5 mm2
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", E("L1", 40, 25), patient=patient)
        c.study("2026-03-01", E("L1", viable, 25), patient=patient)
    tp = c.run().timepoint_responses
    exact = at(tp, "2026-03-01", "EASL", patient_key="p1")
    assert exact["overall_response"] == "SD"
    assert exact["reason"] == (
        "SD (A3): sum 1250.0 mm² is +25.0% (+250.0 mm²) from baseline 1000.0 mm² and "
        "+25.0% (+250.0 mm²) from nadir 1000.0 mm² (2026-01-01)"
    )
    above = at(tp, "2026-03-01", "EASL", patient_key="p2")
    assert above["overall_response"] == "PD"
    assert above["reason"] == (
        "PD (A2): sum 1252.5 mm² is +25.3% (+252.5 mm²) over nadir 1000.0 mm² (2026-01-01)"
    )


def test_A2_nadir_zero_any_enhancing_tissue_is_pd():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25), node("N1", 12))
    c.study("2026-03-01", E("L1", 0), node("N1", 0))
    c.study("2026-05-01", E("L1", 1, 1), node("N1", 0))
    tp = c.run().timepoint_responses
    assert overall(tp, "EASL") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", "EASL")["reason"] == (
        "PD (A2, A4): sum 1.0 mm² is +1.0 mm² over nadir 0.0 mm² (2026-03-01); "
        "reappeared after CR (2026-03-01): target L1 at 1.0 mm² enhancing cross-product"
    )


def test_A3_pr_at_exactly_half_the_baseline_and_cr_on_viable_diameter_zero():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25), node("N1", 15))  # 1000 + 225 = 1225 mm2
    c.study("2026-03-01", E("L1", 25, 16), node("N1", 15))
    c.study("2026-05-01", E("L1", 0), node("N1", "9.9"))
    tp = c.run().timepoint_responses
    sd = at(tp, "2026-03-01", "EASL")
    assert (sd["sum_mm"], sd["overall_response"]) == (mm("625.0"), "SD")  # -49.0 %: not PR
    cr = at(tp, "2026-05-01", "EASL")
    assert (cr["target_response"], cr["overall_response"]) == ("CR", "CR")
    assert cr["reason"] == (
        "CR (A3): every non-nodal target enhancing cross-product 0 mm² and every nodal "
        "target < 10.0 mm short axis (sum 98.0 mm²); no non-target at baseline"
    )
    # without the node: exactly 0.50 x baseline is PR, 0.502 x is SD
    c = Cohort4()
    for patient, viable in (("p1", "25.0"), ("p2", "25.1")):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", E("L1", 40, 25), patient=patient)
        c.study("2026-03-01", E("L1", viable, 20), patient=patient)
    tp = c.run().timepoint_responses
    exact = at(tp, "2026-03-01", "EASL", patient_key="p1")
    assert exact["overall_response"] == "PR"
    assert exact["reason"] == (
        "PR (A3): sum 500.0 mm² is -50.0% (-500.0 mm²) from baseline 1000.0 mm²"
    )
    assert at(tp, "2026-03-01", "EASL", patient_key="p2")["overall_response"] == "SD"


def test_A4_non_enhancing_non_target_is_resolved_and_reappearance_is_pd():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25), NT("U1"))
    c.study("2026-03-01", E("L1", 0), NT("U1", "non_enhancing"))
    c.study("2026-05-01", E("L1", 0), NT("U1", "present"))
    tp = c.run().timepoint_responses
    assert overall(tp, "EASL") == [None, "CR", "PD"]
    assert overall(tp, "RECIST1.1") == [None, "SD", "SD"]  # longest diameter 60 mm throughout
    assert at(tp, "2026-05-01", "EASL")["reason"] == (
        "PD (A4): reappeared after CR (2026-03-01): non-target U1 present"
    )
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25)).study("2026-03-01", E("L1", 30, 25), NEW("X1"))
    assert at(c.run().timepoint_responses, "2026-03-01", "EASL")["reason"] == (
        "PD (R11): new lesion X1"
    )


def test_A4_reappeared_targets_are_named_in_mm2_or_by_viable_diameter():
    """R15 under EASL (A4): a node back is quoted as its short axis squared; a target whose
    enhancing tissue is back without a perpendicular diameter by its viable diameter."""
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25), node("N1", 15))
    c.study("2026-03-01", E("L1", 0), node("N1", "9.9"))
    c.study("2026-05-01", E("L1", 10, None), node("N1", 12))
    tp = c.run().timepoint_responses
    assert overall(tp, "EASL") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", "EASL")["reason"].endswith(
        "; reappeared after CR (2026-03-01): "
        "targets L1 at 10.0 mm viable diameter, N1 at 144.0 mm² short axis squared"
    )


def test_A5_lipiodol_is_read_from_the_recorded_viable_diameters_only():
    # After cTACE the lesion keeps its size (lipiodol) while the reader records the
    # enhancing part: EASL reads the viable diameters as recorded, never the longest one.
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", E("L1", 40, 25, ld=50))
    c.study("2026-03-01", E("L1", 20, 20, ld=65))
    tp = c.run().timepoint_responses
    assert at(tp, "2026-03-01", "RECIST1.1")["overall_response"] == "PD"  # +30 %, +15 mm
    easl = at(tp, "2026-03-01", "EASL")
    assert (easl["sum_mm"], easl["overall_response"]) == (mm("400.0"), "PR")


# ---------------------------------------------------------------- Choi


def test_C1_density_is_the_mean_over_targets_above_0mm_that_all_have_an_attenuation():
    c = Cohort4()
    c.session("2026-01-10")
    hot_node = {**node("N1", 20), "attenuation_hu": 500.0}  # nodes never count (C1)
    c.study("2026-01-01", C("L1", 40, 100.0), C("L2", 20, 60.0), hot_node)
    c.study("2026-03-01", C("L1", 40, 70.0), C("L2", status="absent"), node("N1", 20))
    c.study("2026-05-01", C("L1", 40, 70.0), C("L2", 20), node("N1", 20))
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", C("L1", 40, -10.0), patient="p2")
    c.study("2026-03-01", C("L1", 40, -30.0), patient="p2")
    tp = c.run().timepoint_responses
    base = at(tp, "2026-01-01", "Choi")
    assert (base["mean_hu"], base["baseline_mean_hu"]) == (mm("80.0"), mm("80.0"))
    assert base["pct_change_hu_from_baseline"] is None
    l2_gone = at(tp, "2026-03-01", "Choi")  # L2 at 0 mm is left out; the node always is
    assert (l2_gone["mean_hu"], l2_gone["pct_change_hu_from_baseline"]) == (mm("70.0"), -12.5)
    no_hu = at(tp, "2026-05-01", "Choi")  # L2 back at 20 mm without an attenuation
    assert no_hu["mean_hu"] is None
    assert no_hu["reason"].endswith("; density not evaluable")
    fat = at(tp, "2026-03-01", "Choi", patient_key="p2")  # baseline -10 HU: no relative change
    assert (fat["mean_hu"], fat["pct_change_hu_from_baseline"]) == (mm("-30.0"), None)
    assert fat["overall_response"] == "SD"
    assert fat["reason"] == (
        "SD (C5 by size): sum 40.0 mm is +0.0% (+0.0 mm) from baseline 40.0 mm and "
        "+0.0% (+0.0 mm) from nadir 40.0 mm (2026-01-01); density -30.0 HU, baseline density "
        "-10.0 HU (not above 0 HU: no relative change)"
    )


def test_C2_size_increase_is_pd_unless_the_density_fell_by_15pct():
    c = Cohort4()
    cases = {
        "p1": (110.0, 90.0),  # +10 % size, -10 % density: PD
        "p2": (109.9, 90.0),  # +9.9 %: SD
        "p3": (110.0, 80.0),  # +10 % size, -20 % density: PR by density, not PD
        "p4": (110.0, None),  # density not evaluable: size alone decides, PD
    }
    for patient, (size, hu) in cases.items():
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", C("L1", 100, 100.0), patient=patient)
        c.study("2026-03-01", C("L1", size, hu), patient=patient)
    tp = c.run().timepoint_responses
    got = {p: at(tp, "2026-03-01", "Choi", patient_key=p) for p in cases}
    assert [got[p]["overall_response"] for p in cases] == ["PD", "SD", "PR", "PD"]
    assert got["p1"]["reason"] == (
        "PD (C2 by size): sum 110.0 mm is +10.0% (+10.0 mm) over nadir 100.0 mm (2026-01-01); "
        "density 90.0 HU is -10.0% from baseline 100.0 HU"
    )
    assert got["p3"]["reason"] == (
        "PR (C4 by density): sum 110.0 mm is +10.0% (+10.0 mm) from baseline 100.0 mm; "
        "density 80.0 HU is -20.0% from baseline 100.0 HU"
    )
    assert got["p4"]["reason"] == (
        "PD (C2 by size): sum 110.0 mm is +10.0% (+10.0 mm) over nadir 100.0 mm (2026-01-01); "
        "density not evaluable"
    )
    assert at(tp, "2026-03-01", "RECIST1.1", patient_key="p1")["overall_response"] == "SD"


def test_C2_measured_part_already_pd_and_new_lesion_and_nadir_zero():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", C("L1", 60, 100.0), C("L2", 40, 100.0))
    c.study("2026-03-01", C("L1", 111, 100.0))  # L2 missing; measured already +11 %
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", C("L1", 60, 100.0), patient="p2")
    c.study("2026-03-01", C("L1", status="absent"), patient="p2")
    c.study("2026-05-01", C("L1", 3, 100.0), patient="p2")
    c.session("2026-01-10", patient="p3")
    c.study("2026-01-01", C("L1", 60, 100.0), patient="p3")
    c.study("2026-03-01", C("L1", 30, 50.0), NEW("X1"), patient="p3")
    tp = c.run().timepoint_responses
    measured = at(tp, "2026-03-01", "Choi")
    assert (measured["overall_response"], measured["sum_mm"]) == ("PD", None)
    assert measured["reason"].startswith(
        "PD (C2 by size): measured targets already sum 111.0 mm, +11.0% (+11.0 mm)"
    )
    assert overall(tp, "Choi", patient_key="p2") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", "Choi", patient_key="p2")["reason"].startswith(
        "PD (C2 by size, R15): sum 3.0 mm is +3.0 mm over nadir 0.0 mm (2026-03-01)"
    )
    assert at(tp, "2026-03-01", "Choi", patient_key="p3")["reason"] == "PD (R11): new lesion X1"


def test_C3_cr_needs_every_target_resolved_and_non_targets_cr():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", C("L1", 40, 100.0), node("N1", 15), NT("U1"))
    c.study("2026-03-01", C("L1", status="absent"), node("N1", "9.9"), NT("U1", "absent"))
    c.study("2026-05-01", C("L1", status="absent"), node("N1", "9.9"), NT("U1", "non_enhancing"))
    tp = c.run().timepoint_responses
    cr = at(tp, "2026-03-01", "Choi")
    assert cr["overall_response"] == "CR"
    assert cr["reason"] == (
        "CR (C3 by size): every non-nodal target longest diameter 0 mm and every nodal target "
        "< 10.0 mm short axis (sum 9.9 mm); density not evaluable; every non-target resolved"
    )
    # a non-enhancing non-target is present under Choi (R10), as under RECIST 1.1
    assert at(tp, "2026-05-01", "Choi")["overall_response"] == "PD"  # R15 after the CR


def test_C4_pr_at_exactly_minus_10pct_size_or_minus_15pct_density():
    c = Cohort4()
    cases = {
        "p1": (90.0, 100.0),  # size exactly 0.90 x baseline: PR by size
        "p2": (90.1, 100.0),  # 0.901 x: SD
        "p3": (100.0, 85.0),  # density exactly 0.85 x baseline: PR by density
        "p4": (100.0, 85.1),  # density -14.9 %: SD
        "p5": (90.0, 85.0),  # both
    }
    for patient, (size, hu) in cases.items():
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", C("L1", 100, 100.0), patient=patient)
        c.study("2026-03-01", C("L1", size, hu), patient=patient)
    tp = c.run().timepoint_responses
    got = {p: at(tp, "2026-03-01", "Choi", patient_key=p) for p in cases}
    assert [got[p]["overall_response"] for p in cases] == ["PR", "SD", "PR", "SD", "PR"]
    assert got["p1"]["reason"] == (
        "PR (C4 by size): sum 90.0 mm is -10.0% (-10.0 mm) from baseline 100.0 mm; "
        "density 100.0 HU is +0.0% from baseline 100.0 HU"
    )
    assert got["p3"]["reason"] == (
        "PR (C4 by density): sum 100.0 mm is +0.0% (+0.0 mm) from baseline 100.0 mm; "
        "density 85.0 HU is -15.0% from baseline 100.0 HU"
    )
    assert got["p5"]["reason"].startswith("PR (C4 by size and density): ")
    assert got["p4"]["reason"].startswith("SD (C5 by size and density): ")


def test_C5_density_decides_when_size_is_not_evaluable_and_ne_when_neither_is():
    c = Cohort4()
    for patient, hu in (("p1", 80.0), ("p2", 95.0), ("p3", None)):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", C("L1", 60, 100.0), node("N1", 20), patient=patient)
        c.study("2026-03-01", C("L1", 60, hu), node("N1", status="not_evaluated"), patient=patient)
    tp = c.run().timepoint_responses
    got = [at(tp, "2026-03-01", "Choi", patient_key=p) for p in ("p1", "p2", "p3")]
    assert [r["overall_response"] for r in got] == ["PR", "SD", "NE"]
    assert got[0]["reason"] == (
        "PR (C4 by density): target N1 not evaluated (size not evaluable); "
        "density 80.0 HU is -20.0% from baseline 100.0 HU"
    )
    assert got[1]["reason"] == (
        "SD (C5 by density): target N1 not evaluated (size not evaluable); "
        "density 95.0 HU is -5.0% from baseline 100.0 HU"
    )
    assert got[2]["reason"] == "NE (R6): target N1 not evaluated; density not evaluable"


def test_C6_density_columns_only_for_choi():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", C("L1", 60, 100.0)).study("2026-03-01", C("L1", 60, 90.0))
    result = c.run()
    for table in (result.timepoint_responses, result.session_responses):
        for r in table.to_pylist():
            density = (r["mean_hu"], r["baseline_mean_hu"], r["pct_change_hu_from_baseline"])
            if r["criteria"] != "Choi":
                assert density == (None, None, None)
            elif r["reason"] == "baseline":
                assert density == (mm("100.0"), mm("100.0"), None)
            else:
                assert density == (mm("90.0"), mm("100.0"), -10.0)


# ---------------------------------------------------------------- sessions, F2, best response


def test_F2_out_of_field_progression_uses_each_criteria_own_pd_rule():
    c = Cohort4().session("2026-01-10", segments=[5])
    c.study(
        "2026-01-01", E("L1", 40, 25, seg=5), {**E("L2", 20, 20, seg=7), "attenuation_hu": 50.0}
    )
    c.study(
        "2026-03-01", E("L1", 20, 20, seg=5), {**E("L2", 24, 22, seg=7), "attenuation_hu": 50.0}
    )
    sessions = c.run().session_responses
    flags = {
        criteria: at(sessions, "2026-03-01", criteria, scope="in_field")["out_of_field_progression"]
        for criteria in FOUR
    }
    # L2: longest 60 mm unchanged (RECIST, Choi); viable 20 -> 24 (+20 %, mRECIST M2 PD);
    # cross-product 400 -> 528 mm2 (+32 %, EASL A2 PD)
    assert flags == {"RECIST1.1": False, "mRECIST": True, "EASL": True, "Choi": False}
    in_field = at(sessions, "2026-03-01", "EASL", scope="in_field")
    assert in_field["reason"] == (
        "PR (A3): sum 400.0 mm² is -60.0% (-600.0 mm²) from baseline 1000.0 mm²; "
        "out of field (F2): PD (A2): sum 528.0 mm² is +32.0% (+128.0 mm²) over nadir "
        "400.0 mm² (2026-01-01)"
    )


def test_E1_E5_best_response_and_time_to_event_for_every_enabled_criteria():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", C("L1", 100, 100.0)).study("2026-03-01", C("L1", 100, 80.0))
    c.study("2026-04-15", C("L1", 100, 80.0)).study("2026-06-01", C("L1", 130, 100.0))
    result = c.run()
    sessions = c.tables()[0]
    assessments, scopes = assessments_from_warehouse_tables(
        result.timepoint_responses, result.session_responses, sessions
    )
    patients = pa.table({"patient_key": ["p1"], "death_date": pa.array([None], pa.date32())})
    four = best_response_params(load_config(), {"criteria": FOUR})
    best = compute_best_responses(assessments, scopes, patients, four)
    course = {r["criteria"]: r for r in best.to_pylist() if r["scope"] == "course"}
    assert set(course) == set(FOUR)
    choi = course["Choi"]  # PR by density, confirmed 45 days later; PD at +30 % size
    assert (choi["bor"], choi["bor_confirmed"]) == ("PR", "PR")
    assert choi["first_response_date"].isoformat() == "2026-03-01"
    assert choi["progression_date"].isoformat() == "2026-06-01"
    assert (choi["pfs_days"], choi["dor_days"]) == (142, 92)
    assert course["RECIST1.1"]["bor"] == "SD"
    default = compute_best_responses(
        assessments, scopes, patients, best_response_params(load_config())
    )
    assert sorted({r["criteria"] for r in default.to_pylist()}) == sorted(TWO)


def test_criteria_are_enabled_in_config_and_an_unknown_one_is_an_error():
    c = Cohort4().session("2026-01-10")
    c.study("2026-01-01", C("L1", 60, 100.0)).study("2026-03-01", C("L1", 60, 90.0))
    default = compute_timepoints(*c.tables(), PARAMS).timepoint_responses
    assert sorted({r["criteria"] for r in default.to_pylist()}) == sorted(TWO)
    with pytest.raises(ValueError, match="unknown criteria WHO"):
        c.run(criteria=["RECIST1.1", "WHO"])


def test_inputs_without_the_easl_and_choi_columns_give_ne():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 60)).study("2026-03-01", T("L1", 30))
    tp = compute_timepoints(*c.tables(), {**PARAMS, "criteria": FOUR}).timepoint_responses
    assert at(tp, "2026-03-01", "RECIST1.1")["overall_response"] == "PR"
    assert at(tp, "2026-03-01", "EASL")["reason"] == (
        "NE (R6): baseline sum not evaluable (L1 without enhancing cross-product at baseline)"
    )
    choi = at(tp, "2026-03-01", "Choi")  # size alone: -50 %
    assert (choi["overall_response"], choi["mean_hu"]) == ("PR", None)
    assert rows(tp, "Choi")[0]["sum_unit"] == "mm"


# ---------------------------------------------------------------- invariant


def _with_easl_and_choi_inputs(p: dict, seed: int) -> dict:
    """The patient with random perpendicular viable diameters and attenuations (some missing)."""
    rnd = random.Random(seed)
    studies = []
    for offset, lesions in p["studies"]:
        extended = []
        for lesion in lesions:
            perp = rnd.choice([None, *(Decimal(rnd.randint(0, 600)) / 10 for _ in range(3))])
            hu = rnd.choice([None, -20.0, *(float(rnd.randint(0, 2000)) / 10 for _ in range(3))])
            extended.append({**lesion, "viable_perpendicular_mm": perp, "attenuation_hu": hu})
        studies.append((offset, extended))
    return {**p, "studies": studies}


@EXAMPLES
@given(random_patient("p1"), random_patient("p2"), st.integers(0, 2**32))
def test_enabling_easl_and_choi_leaves_recist_and_mrecist_rows_byte_identical(p1, p2, seed):
    cohort = build([_with_easl_and_choi_inputs(p1, seed), _with_easl_and_choi_inputs(p2, seed)])
    sessions, studies, _ = cohort.tables()
    lesions = pa.Table.from_pylist(cohort.lesions, schema=EXTENDED_SCHEMA)
    tables = (sessions, studies, lesions)
    two = compute_timepoints(*tables, {**PARAMS, "criteria": TWO})
    four = compute_timepoints(*tables, {**PARAMS, "criteria": FOUR})
    for name in ("timepoint_responses", "session_responses"):
        table = getattr(four, name)
        kept = table.filter(pc.is_in(table["criteria"], pa.array(TWO)))
        assert kept.equals(getattr(two, name)), name
    assert four.quarantined.equals(two.quarantined)
    patients = pa.table(
        {"patient_key": ["p1", "p2"], "death_date": pa.array([None, None], pa.date32())}
    )
    best = {}
    for criteria, result in (("two", two), ("four", four)):
        assessments, scopes = assessments_from_warehouse_tables(
            result.timepoint_responses, result.session_responses, sessions
        )
        params = best_response_params(
            load_config(), {"criteria": TWO if criteria == "two" else FOUR}
        )
        best[criteria] = compute_best_responses(assessments, scopes, patients, params)
    kept = best["four"].filter(pc.is_in(best["four"]["criteria"], pa.array(TWO)))
    assert kept.equals(best["two"])


# ---------------------------------------------------------------- demo cohort


def test_demo_cohort_writes_plausible_easl_and_choi_inputs(tmp_path):
    """The generator's perpendicular diameters and densities, read back through staging."""
    from demo_cohort import generate
    from flows import stages
    from flows.pipeline import DEMO_PSEUDONYM_KEY
    from sources import Pseudonymiser
    from warehouse import start_build

    generate(tmp_path / "source", patients=400, seed=3)
    build = start_build(tmp_path / "w.duckdb", "t", full_refresh=True)
    ctx = stages.RunContext(
        build=build,
        cfg=load_config(),
        source_dir=tmp_path / "source",
        pseudonymiser=Pseudonymiser(DEMO_PSEUDONYM_KEY),
    )
    try:
        stages.ingest(ctx)
        stages.stage(ctx)
        [(above, not_zero, missing, with_viable)] = build.con.execute(
            """
            SELECT count(*) FILTER (WHERE perpendicular > viable),
                   count(*) FILTER (WHERE viable = 0 AND perpendicular <> 0),
                   count(*) FILTER (WHERE viable > 0 AND perpendicular IS NULL),
                   count(*) FILTER (WHERE viable > 0)
            FROM (SELECT viable_diameter_mm AS viable, viable_perpendicular_mm AS perpendicular
                  FROM lesion_measurements)
            """
        ).fetchall()
        assert (above, not_zero) == (0, 0)
        assert 0.01 < missing / with_viable < 0.1  # some EASL sums are NE
        # Mean follow-up / baseline attenuation of the liver targets a first session
        # treated, until the next session: density falls most after TARE.
        ratios = dict(
            build.con.execute(
                """
                WITH first AS (
                    SELECT patient_key, session_date, modality, treated_segments,
                           lead(session_date) OVER w AS next_date, row_number() OVER w AS k
                    FROM sessions
                    WINDOW w AS (PARTITION BY patient_key ORDER BY session_date)
                ),
                base AS (
                    SELECT l.patient_key, l.lesion_id, l.attenuation_hu AS hu0, f.*
                    FROM lesion_measurements AS l
                    JOIN first AS f ON f.patient_key = l.patient_key AND f.k = 1
                    WHERE l.role = 'target' AND l.organ = 'liver' AND l.attenuation_hu > 0
                      AND list_contains(f.treated_segments, l.liver_segment)
                      AND l.study_date = (
                          SELECT max(study_date) FROM lesion_measurements AS m
                          WHERE m.patient_key = l.patient_key AND m.study_date <= f.session_date)
                )
                SELECT b.modality, avg(l.attenuation_hu / b.hu0)
                FROM base AS b
                JOIN lesion_measurements AS l
                  ON l.patient_key = b.patient_key AND l.lesion_id = b.lesion_id
                 AND l.role = 'target'
                WHERE l.study_date > b.session_date
                  AND (b.next_date IS NULL OR l.study_date < b.next_date)
                  AND l.attenuation_hu IS NOT NULL
                GROUP BY 1
                """
            ).fetchall()
        )
    finally:
        build.abort()
    assert set(ratios) == {"TAE", "cTACE", "DEB-TACE", "TARE"}
    assert ratios["TARE"] < min(ratios[m] for m in ("TAE", "cTACE", "DEB-TACE")) - 0.1
