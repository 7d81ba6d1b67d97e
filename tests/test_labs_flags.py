"""L2, L4, N1-N6, P1-P9, G1-G9, H1-H3: NLR, prognostic flags, eligibility, modality hint.

Every case is built by hand around one session on D0; days are calendar days
relative to it. Values are in canonical units unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_config
from config.params import lab_params
from transforms.labs import LabTables, compute_lab_tables, flag_distribution, normalise_labs
from warehouse.schema import PUBLIC_COLUMNS

DEFAULT_CONFIG = load_config()
PARAMS = lab_params(DEFAULT_CONFIG.section("labs"), DEFAULT_CONFIG)
D0 = dt.date(2024, 3, 1)
P = "a" * 64  # a patient_key

LAB_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("collected_at", pa.timestamp("us")),
        ("analyte", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("qualifier", pa.string()),
        ("value_raw", pa.string()),
        ("unit_raw", pa.string()),
        ("test_raw", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
SESSION_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("session_id", pa.string()),
        ("session_date", pa.date32()),
        ("session_number", pa.int32()),
        ("modality", pa.string()),
        ("treated_segments", pa.list_(pa.int32())),
        ("agent", pa.string()),
        ("microsphere", pa.string()),
        ("activity_gbq", pa.float64()),
        ("prior_systemic_lines", pa.int32()),
        ("lvef_pct", pa.float64()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
IMAGING_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("study_date", pa.date32()),
        ("modality", pa.string()),
        ("extrahepatic_disease", pa.bool_()),
        ("ascites", pa.bool_()),
        ("liver_tumor_burden_pct", pa.float64()),
        ("portal_vein_occlusion", pa.bool_()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
PATIENT_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("ki67_pct", pa.float64()),
        ("bilioenteric_anastomosis", pa.bool_()),
        ("prior_whipple", pa.bool_()),
    ]
)


def lab(
    day: int,
    analyte: str,
    value: float | None,
    qualifier: str | None = None,
    at: tuple[int, int] | None = (9, 0),
    patient: str = P,
    source_file: str = "labs.csv",
    source_row: int | None = None,
) -> dict[str, Any]:
    """One lab_results row, `day` days after D0; `at=None` means date-only (midnight)."""
    hour, minute = at or (0, 0)
    when = dt.datetime.combine(D0 + dt.timedelta(days=day), dt.time(hour, minute))
    return {
        "patient_key": patient,
        "collected_at": when,
        "analyte": analyte,
        "value": value,
        "qualifier": qualifier,
        "value_raw": f"{qualifier or ''}{value}",
        "source_file": source_file,
        "source_row": source_row,
    }


def session(day: int = 0, number: int = 1, **values: Any) -> dict[str, Any]:
    row = {
        "patient_key": P,
        "session_id": f"s{number}",
        "session_date": D0 + dt.timedelta(days=day),
        "session_number": number,
        "modality": "cTACE",
        "treated_segments": [5, 6],
    }
    return row | values


def study(day: int = -10, **values: Any) -> dict[str, Any]:
    return {"patient_key": P, "study_date": D0 + dt.timedelta(days=day), "modality": "CT"} | values


def patient(**values: Any) -> dict[str, Any]:
    return {"patient_key": P} | values


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    columns = {
        name: [row.get(name) for row in rows] for name in schema.names if name != "source_row"
    }
    if "source_row" in schema.names:
        columns["source_row"] = [row.get("source_row") or i for i, row in enumerate(rows, 1)]
    return pa.table(columns, schema=schema)


def run(
    labs: list[dict] = (),
    sessions: list[dict] | None = None,
    studies: list[dict] = (),
    patients: list[dict] = (),
) -> LabTables:
    return compute_lab_tables(
        table(list(labs), LAB_SCHEMA),
        table(sessions if sessions is not None else [session()], SESSION_SCHEMA),
        table(list(studies), IMAGING_SCHEMA),
        table(list(patients), PATIENT_SCHEMA),
        PARAMS,
    )


def flags(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """session_flags of the first session."""
    return run(*args, **kwargs).session_flags.to_pylist()[0]


def session_labs(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return run(*args, **kwargs).session_labs.to_pylist()


def nlr_draw(day: int, neutrophils: float, lymphocytes: float, **kw: Any) -> list[dict]:
    return [lab(day, "neutrophils", neutrophils, **kw), lab(day, "lymphocytes", lymphocytes, **kw)]


# --- L2: censored values decide a flag only when the censoring settles it -------------


def test_L2_bilirubin_below_0_2_flag_false_and_elig_pass():
    f = flags([lab(-1, "bilirubin", 0.2, "<")])
    assert (f["flag_bilirubin_ge_2"], f["elig_bilirubin"], f["bilirubin_mg_dl"]) == (
        False,
        "pass",
        0.2,
    )


def test_L2_bilirubin_below_3_undecided_flag_null_and_elig_missing():
    f = flags([lab(-1, "bilirubin", 3.0, "<")])
    assert (f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (None, "missing")


def test_L2_ldh_above_1000_fails_G2():
    assert flags([lab(-1, "ldh", 1000.0, ">")])["elig_ldh"] == "fail"


def test_L2_ldh_above_300_is_missing():
    assert flags([lab(-1, "ldh", 300.0, ">")])["elig_ldh"] == "missing"


@pytest.mark.parametrize(
    ("value", "qualifier", "flag"),
    [(3.0, "<", True), (3.5, "<", True), (3.5, "<=", True), (4.0, ">", False),
     (3.5, ">", False), (3.5, ">=", None), (4.0, "<", None)],
)  # fmt: skip
def test_L2_albumin_censored_both_sides(value, qualifier, flag):
    assert flags([lab(-1, "albumin", value, qualifier)])["flag_albumin_le_3_5"] is flag


@pytest.mark.parametrize(
    ("value", "qualifier", "criterion"),
    [(50.0, "<", "fail"), (100.0, "<", "fail"), (100.0, "<=", "fail"), (150.0, ">", "pass"),
     (100.0, ">", "pass"), (100.0, ">=", "missing"), (150.0, "<", "missing")],
)  # fmt: skip
def test_L2_platelets_censored_both_sides(value, qualifier, criterion):
    assert flags([lab(-1, "platelets", value, qualifier)])["elig_platelets"] == criterion


GRID = [i / 20 for i in range(0, 201)]  # 0.00, 0.05, ... 10.00 (2.0 exactly on it)


def possible_values(value: float, qualifier: str | None) -> list[float]:
    """Sample of the true values a (censored) reading allows."""
    if qualifier is None:
        return [value]
    inside = {
        "<": lambda x: x < value,
        "<=": lambda x: x <= value,
        ">": lambda x: x > value,
        ">=": lambda x: x >= value,
    }[qualifier]
    nearby = [value - 1e-9, value, value + 1e-9]
    return [x for x in GRID + nearby if inside(x)]


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.9, 2.0, 2.1, 5.0]),
            st.sampled_from([None, "<", "<=", ">", ">="]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_L2_property_flag_decided_only_when_every_possible_value_agrees(readings):
    """One patient per reading: P1 is True/False iff every value the reading allows agrees."""
    keys = [f"{i:064d}" for i in range(len(readings))]
    labs = [lab(-1, "bilirubin", v, q, patient=k) for k, (v, q) in zip(keys, readings, strict=True)]
    sessions = [session(patient_key=k) for k in keys]
    by_key = {r["patient_key"]: r for r in run(labs, sessions).session_flags.to_pylist()}
    for key, (value, qualifier) in zip(keys, readings, strict=True):
        answers = {x >= 2.0 for x in possible_values(value, qualifier)}
        expected = answers.pop() if len(answers) == 1 else None
        assert by_key[key]["flag_bilirubin_ge_2"] is expected, (value, qualifier)


# --- L4: results of one analyte at the same instant -----------------------------------


def test_L4_agreeing_duplicates_use_the_later_loaded_one():
    # |2.0 - 1.99| = 0.01 <= 0.01 x 2.0: agree; row 2 is loaded later -> 1.99, below 2
    f = flags([lab(-1, "bilirubin", 2.0, source_row=1), lab(-1, "bilirubin", 1.99, source_row=2)])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"]) == (1.99, False)
    f = flags([lab(-1, "bilirubin", 1.99, source_row=1), lab(-1, "bilirubin", 2.0, source_row=2)])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"]) == (2.0, True)


def test_L4_later_loaded_means_later_file_then_later_row():
    f = flags(
        [
            lab(-1, "ast", 99.5, source_file="labs_b.csv", source_row=1),
            lab(-1, "ast", 100.0, source_file="labs_a.csv", source_row=9),
        ]
    )
    # 99.5 and 100 agree; labs_b.csv is loaded after labs_a.csv, so 99.5 counts: G3 passes
    assert f["elig_ast"] == "pass"


def test_L4_exactly_one_percent_apart_agree():
    # |100 - 99| = 1 = 0.01 x 100 -> agree, the later one (99) counts: G3 passes
    f = flags([lab(-1, "ast", 100.0), lab(-1, "ast", 99.0)])
    assert f["elig_ast"] == "pass"


def test_L4_more_than_one_percent_apart_disagree_flags_null():
    f = flags([lab(-1, "ast", 100.0), lab(-1, "ast", 98.9)])
    assert f["elig_ast"] == "missing"
    f = flags([lab(-1, "bilirubin", 2.5), lab(-1, "bilirubin", 1.5)])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (
        None,
        None,
        "missing",
    )


def test_L4_disagreeing_latest_instant_is_not_replaced_by_an_older_value():
    f = flags([lab(-5, "bilirubin", 1.0), lab(-1, "bilirubin", 2.5), lab(-1, "bilirubin", 1.5)])
    assert f["flag_bilirubin_ge_2"] is None


def test_L4_different_qualifiers_disagree():
    f = flags([lab(-1, "bilirubin", 0.2, "<"), lab(-1, "bilirubin", 0.2)])
    assert (f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (None, "missing")


def test_L4_date_only_result_shares_its_day_with_timed_results():
    # a date-only 1.0 and a 14:00 3.0 on the same day are one instant and disagree
    f = flags([lab(-1, "bilirubin", 1.0, at=None), lab(-1, "bilirubin", 3.0, at=(14, 0))])
    assert f["flag_bilirubin_ge_2"] is None


def test_L4_timed_results_at_different_times_are_not_duplicates():
    # 08:00 3.0 then 14:00 1.0: the last one counts
    f = flags([lab(-1, "bilirubin", 3.0, at=(8, 0)), lab(-1, "bilirubin", 1.0, at=(14, 0))])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"]) == (1.0, False)


def test_L4_collected_has_time_overrides_the_midnight_rule():
    rows = [lab(-1, "bilirubin", 1.0, at=(0, 0)), lab(-1, "bilirubin", 3.0, at=(14, 0))]
    labs = table(rows, LAB_SCHEMA).append_column("collected_has_time", pa.array([True, True]))
    tables = compute_lab_tables(
        labs,
        table([session()], SESSION_SCHEMA),
        table([], IMAGING_SCHEMA),
        table([], PATIENT_SCHEMA),
        PARAMS,
    )
    # a real 00:00 time: two instants, the 14:00 value is the last
    assert tables.session_flags.to_pylist()[0]["flag_bilirubin_ge_2"] is True


def test_L4_date_only_result_shares_its_instant_with_every_result_of_that_day():
    # 08:00 1.0 then 14:00 3.0 alone: two instants, the 14:00 value is the last (flag true)
    timed = [lab(-1, "bilirubin", 1.0, at=(8, 0)), lab(-1, "bilirubin", 3.0, at=(14, 0))]
    assert flags(timed)["flag_bilirubin_ge_2"] is True
    # a date-only 1.0 that day joins both: one instant holding 1.0, 1.0 and 3.0 -> undecided
    f = flags([lab(-1, "bilirubin", 1.0, at=None), *timed])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (
        None,
        None,
        "missing",
    )
    # a date-only result agreeing with every result of the day decides with them
    agreeing = [lab(-1, "bilirubin", 2.0, at=None), lab(-1, "bilirubin", 2.01, at=(8, 0))]
    assert flags(agreeing)["flag_bilirubin_ge_2"] is True


def test_L4_undecided_latest_instant_before_a_session_nulls_value_and_flag_without_fall_back():
    # day -5: an agreeing older albumin; day -1 (latest): 3.0 and 4.0 disagree
    f = flags([lab(-5, "albumin", 3.0), lab(-1, "albumin", 3.0), lab(-1, "albumin", 4.0)])
    assert (f["albumin_g_dl"], f["flag_albumin_le_3_5"]) == (None, None)
    f = flags([lab(-5, "bilirubin", 1.0), lab(-1, "bilirubin", 2.5), lab(-1, "bilirubin", 1.5)])
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (
        None,
        None,
        "missing",
    )


def test_L4_P9_skips_undecided_instants_and_post_bilirubin_flag_is_null_below_2():
    undecided = [lab(3, "bilirubin", 1.0), lab(3, "bilirubin", 3.0)]  # day 3: disagree
    f = flags([*undecided, lab(5, "bilirubin", 1.5)])
    assert (f["bilirubin_post_max_mg_dl"], f["flag_post_bilirubin_ge_2"]) == (1.5, None)
    f = flags([*undecided, lab(5, "bilirubin", 2.0)])  # the others reach 2.0: true
    assert (f["bilirubin_post_max_mg_dl"], f["flag_post_bilirubin_ge_2"]) == (2.0, True)
    f = flags(undecided)  # nothing else: no maximum, flag null
    assert (f["bilirubin_post_max_mg_dl"], f["flag_post_bilirubin_ge_2"]) == (None, None)
    f = flags([lab(3, "albumin", 3.0), lab(3, "albumin", 2.0), lab(6, "albumin", 3.2)])
    assert f["albumin_post_min_g_dl"] == 3.2  # the undecided 2.0 / 3.0 instant is skipped


# --- N1: NLR from same-day pairs ------------------------------------------------------


def test_N1_nlr_of_a_same_time_pair():
    (row,) = run(nlr_draw(-1, 4.8, 1.2)).nlr.to_pylist()
    assert (row["neutrophils"], row["lymphocytes"], row["nlr"]) == (4.8, 1.2, 4.0)
    assert row["collected_at"] == dt.datetime(2024, 2, 29, 9, 0)


def test_N1_prefers_the_pair_with_the_same_collection_time():
    labs = [
        lab(-1, "neutrophils", 6.0, at=(8, 0)),
        lab(-1, "neutrophils", 2.0, at=(14, 0)),
        lab(-1, "lymphocytes", 2.0, at=(8, 0)),
        lab(-1, "lymphocytes", 1.0, at=(12, 0)),
    ]
    (row,) = run(labs).nlr.to_pylist()
    assert (row["nlr"], row["collected_at"].hour) == (3.0, 8)  # 6.0 / 2.0, not 2.0 / 1.0


def test_N1_else_the_days_last_of_each():
    labs = [
        lab(-1, "neutrophils", 6.0, at=(8, 0)),
        lab(-1, "neutrophils", 2.0, at=(14, 0)),
        lab(-1, "lymphocytes", 1.0, at=(9, 0)),
        lab(-1, "lymphocytes", 0.5, at=(12, 0)),
    ]
    (row,) = run(labs).nlr.to_pylist()
    assert (row["nlr"], row["collected_at"].hour) == (4.0, 14)  # 2.0 / 0.5


def test_N1_lymphocytes_zero_gives_null_nlr():
    (row,) = run(nlr_draw(-1, 3.0, 0.0)).nlr.to_pylist()
    assert row["nlr"] is None
    assert flags(nlr_draw(-1, 3.0, 0.0))["flag_nlr_elevated"] is None


def test_N1_censored_count_gives_null_nlr():
    labs = [lab(-1, "neutrophils", 3.0), lab(-1, "lymphocytes", 0.1, "<")]
    assert run(labs).nlr.to_pylist()[0]["nlr"] is None


def test_N1_counts_on_different_days_make_no_pair():
    labs = [lab(-2, "neutrophils", 3.0), lab(-1, "lymphocytes", 1.0)]
    assert run(labs).nlr.num_rows == 0


# --- N2-N6: NLR around each session ---------------------------------------------------


def test_N2_lookback_exactly_30_days_counts_31_not():
    assert session_labs(nlr_draw(-30, 5.0, 1.0))[0]["nlr_pre"] == 5.0
    assert session_labs(nlr_draw(-31, 5.0, 1.0))[0]["nlr_pre"] is None


def test_N2_last_draw_on_or_before_the_session_day():
    labs = nlr_draw(-10, 2.0, 1.0) + nlr_draw(0, 3.0, 1.0, at=(15, 0)) + nlr_draw(1, 9.0, 1.0)
    assert session_labs(labs)[0]["nlr_pre"] == 3.0


def test_N2_a_null_latest_nlr_is_not_replaced_by_an_older_one():
    labs = nlr_draw(-10, 2.0, 1.0) + nlr_draw(-5, 2.0, 0.0)
    assert session_labs(labs)[0]["nlr_pre"] is None


@pytest.mark.parametrize(
    ("column", "inside", "outside"),
    [("nlr_1m", (15, 45), (14, 46)), ("nlr_3m", (60, 120), (59, 121)),
     ("nlr_6m", (150, 210), (149, 211))],
)  # fmt: skip
def test_N3_window_edges_inclusive(column, inside, outside):
    for day in inside:
        assert session_labs(nlr_draw(day, 7.0, 1.0))[0][column] == 7.0
    for day in outside:
        assert session_labs(nlr_draw(day, 7.0, 1.0))[0][column] is None


def test_N3_nearest_to_target_and_tie_to_the_earlier_draw():
    # 25 and 35 are both 5 days from 30: the earlier (25) wins
    assert session_labs(nlr_draw(25, 2.0, 1.0) + nlr_draw(35, 3.0, 1.0))[0]["nlr_1m"] == 2.0
    # 28 is 2 days away, 31 one day: 31 wins
    assert session_labs(nlr_draw(28, 2.0, 1.0) + nlr_draw(31, 3.0, 1.0))[0]["nlr_1m"] == 3.0
    # 6 months: 170 and 190 tie -> 170
    assert session_labs(nlr_draw(170, 2.0, 1.0) + nlr_draw(190, 3.0, 1.0))[0]["nlr_6m"] == 2.0


def test_N3_windows_never_reach_the_next_session_date():
    sessions = [session(0, 1), session(40, 2)]
    by_day_39 = session_labs(nlr_draw(39, 5.0, 1.0), sessions)
    by_day_40 = session_labs(nlr_draw(40, 6.0, 1.0), sessions)
    assert (by_day_39[0]["nlr_1m"], by_day_40[0]["nlr_1m"]) == (5.0, None)
    # the draw on the second session's date is that session's nlr_pre
    assert (by_day_39[1]["nlr_pre"], by_day_40[1]["nlr_pre"]) == (5.0, 6.0)


def test_N4_nlr_exactly_4_is_not_elevated():
    f = flags(nlr_draw(-1, 4.8, 1.2))  # 4.8 / 1.2 = 4.0
    assert (f["nlr_pre"], f["flag_nlr_elevated"]) == (4.0, False)
    assert session_labs(nlr_draw(-1, 4.8, 1.2))[0]["nlr_elevated_pre"] is False
    assert session_labs(nlr_draw(-1, 4.9, 1.2))[0]["nlr_elevated_pre"] is True


def test_N5_nlr_6m_above_pre_and_ratio():
    (row,) = session_labs(nlr_draw(-1, 2.0, 1.0) + nlr_draw(180, 3.0, 1.0))
    assert (row["nlr_6m"], row["nlr_6m_vs_pre"], row["nlr_6m_above_pre"]) == (3.0, 1.5, True)
    (row,) = session_labs(nlr_draw(-1, 2.0, 1.0) + nlr_draw(180, 2.0, 1.0))
    assert (row["nlr_6m_vs_pre"], row["nlr_6m_above_pre"]) == (1.0, False)
    (row,) = session_labs(nlr_draw(180, 2.0, 1.0))
    assert (row["nlr_6m_vs_pre"], row["nlr_6m_above_pre"]) == (None, None)


def test_N6_slope_per_30_days():
    # NLR 2, 3, 4 on days 0, 30, 60: +1 per 30 days
    labs = nlr_draw(0, 2.0, 1.0) + nlr_draw(30, 3.0, 1.0) + nlr_draw(60, 4.0, 1.0)
    assert session_labs(labs)[0]["nlr_slope_per_30d"] == 1.0


def test_N6_slope_needs_three_values():
    labs = nlr_draw(0, 2.0, 1.0) + nlr_draw(30, 3.0, 1.0) + nlr_draw(60, 4.0, 0.0)
    assert session_labs(labs)[0]["nlr_slope_per_30d"] is None


def test_N6_slope_starts_at_nlr_pre_date():
    # pre on day -10 (1.0), then 20 (2.0), 50 (3.0): slope 1/30 per day; day -20 (9.0) is before
    labs = nlr_draw(-20, 9.0, 1.0) + nlr_draw(-10, 1.0, 1.0)
    labs += nlr_draw(20, 2.0, 1.0) + nlr_draw(50, 3.0, 1.0)
    assert session_labs(labs)[0]["nlr_slope_per_30d"] == 1.0


def test_N6_slope_range_ends_before_next_session_and_at_210_days():
    labs = nlr_draw(0, 2.0, 1.0) + nlr_draw(30, 3.0, 1.0) + nlr_draw(60, 4.0, 1.0)
    sessions = [session(0, 1), session(61, 2)]
    # day 61 (the next session's date, 10.0) is outside session 1's range
    rows = session_labs(labs + nlr_draw(61, 10.0, 1.0), sessions)
    assert rows[0]["nlr_slope_per_30d"] == 1.0
    # without a next session, day 211 is outside and day 210 inside
    assert session_labs(labs + nlr_draw(211, 10.0, 1.0))[0]["nlr_slope_per_30d"] == 1.0
    # day 210 inside: x = 0, 30, 60, 210; y = 2, 3, 4, 10 -> least squares by hand:
    # mean x 75, mean y 4.75; Sxy = 206.25 + 78.75 + 11.25 + 708.75 = 1005,
    # Sxx = 5625 + 2025 + 225 + 18225 = 26100; slope = 1005 / 26100 per day
    slope = session_labs(labs + nlr_draw(210, 10.0, 1.0))[0]["nlr_slope_per_30d"]
    assert slope == pytest.approx(1005 / 26100 * 30, abs=1e-9)  # 1.1551724...


# --- P1-P9: negative prognostic flags -------------------------------------------------


@pytest.mark.parametrize(("value", "flag"), [(2.0, True), (2.1, True), (1.9, False)])
def test_P1_bilirubin_exactly_2_flags(value, flag):
    assert flags([lab(-1, "bilirubin", value)])["flag_bilirubin_ge_2"] is flag


def test_P1_bilirubin_34_2_umol_per_l_is_2_mg_dl_and_flags():
    staged = pa.table(
        {
            "patient_key": [P],
            "collected_at": pa.array([dt.datetime(2024, 2, 29, 9)], pa.timestamp("us")),
            "test": ["bilirubin"],
            "value": ["34.2"],
            "unit": ["µmol/L"],
            "source_file": ["labs.csv"],
            "source_row": pa.array([1], pa.int64()),
        }
    )
    results, _ = normalise_labs(staged, PARAMS)
    tables = compute_lab_tables(
        results,
        table([session()], SESSION_SCHEMA),
        table([], IMAGING_SCHEMA),
        table([], PATIENT_SCHEMA),
        PARAMS,
    )
    f = tables.session_flags.to_pylist()[0]
    assert (f["bilirubin_mg_dl"], f["flag_bilirubin_ge_2"], f["elig_bilirubin"]) == (
        2.0,
        True,
        "fail",
    )


@pytest.mark.parametrize(("value", "flag"), [(3.5, True), (3.4, True), (3.6, False)])
def test_P2_albumin_exactly_3_5_flags(value, flag):
    f = flags([lab(-1, "albumin", value)])
    assert (f["albumin_g_dl"], f["flag_albumin_le_3_5"]) == (value, flag)


def test_P1_P2_lab_lookback_exactly_30_days_counts_31_not():
    assert flags([lab(-30, "bilirubin", 2.5)])["flag_bilirubin_ge_2"] is True
    assert flags([lab(-31, "bilirubin", 2.5)])["flag_bilirubin_ge_2"] is None
    assert flags([lab(1, "bilirubin", 2.5)])["flag_bilirubin_ge_2"] is None  # after the session
    assert flags([lab(0, "albumin", 3.0, at=(16, 0))])["flag_albumin_le_3_5"] is True


@pytest.mark.parametrize(("burden", "flag"), [(70.0, True), (85.0, True), (69.9, False)])
def test_P3_burden_exactly_70_flags(burden, flag):
    f = flags(studies=[study(-10, liver_tumor_burden_pct=burden)])
    assert (f["liver_tumor_burden_pct"], f["flag_burden_ge_70"]) == (burden, flag)


def test_P3_baseline_study_is_the_last_within_90_days_on_or_before_the_session():
    assert flags(studies=[study(-90, liver_tumor_burden_pct=75.0)])["flag_burden_ge_70"] is True
    assert flags(studies=[study(-91, liver_tumor_burden_pct=75.0)])["flag_burden_ge_70"] is None
    assert flags(studies=[study(0, liver_tumor_burden_pct=75.0)])["flag_burden_ge_70"] is True
    assert flags(studies=[study(1, liver_tumor_burden_pct=75.0)])["flag_burden_ge_70"] is None
    two = [study(-40, liver_tumor_burden_pct=75.0), study(-20, liver_tumor_burden_pct=30.0)]
    assert flags(studies=two)["flag_burden_ge_70"] is False


def test_P4_P5_ascites_and_extrahepatic_from_the_baseline_study():
    f = flags(studies=[study(-10, ascites=True, extrahepatic_disease=False)])
    assert (f["ascites"], f["flag_ascites"]) == (True, True)
    assert (f["extrahepatic_disease"], f["flag_extrahepatic"]) == (False, False)
    f = flags(studies=[study(-10)])
    assert (f["flag_ascites"], f["flag_extrahepatic"]) == (None, None)


@pytest.mark.parametrize(("lines", "flag"), [(3, True), (4, True), (2, False), (None, None)])
def test_P6_three_or_more_systemic_lines(lines, flag):
    f = flags(sessions=[session(prior_systemic_lines=lines)])
    assert (f["prior_systemic_lines"], f["flag_systemic_ge_3"]) == (lines, flag)


def test_P7_nlr_elevated_is_N4():
    f = flags(nlr_draw(-3, 5.0, 1.0))
    assert (f["nlr_pre"], f["flag_nlr_elevated"]) == (5.0, True)


def test_P8_counts_true_flags_only():
    labs = [lab(-1, "bilirubin", 2.5), lab(-1, "albumin", 4.0, ">")] + nlr_draw(-1, 5.0, 1.0)
    f = flags(
        labs,
        sessions=[session(prior_systemic_lines=None)],
        studies=[study(-5, liver_tumor_burden_pct=80.0, ascites=True, extrahepatic_disease=False)],
    )
    # true: bilirubin, burden, ascites, NLR; false: extrahepatic, albumin (>4); null: lines
    assert (f["flag_albumin_le_3_5"], f["flag_systemic_ge_3"]) == (False, None)
    assert f["n_negative_flags"] == 4


def test_P9_post_session_window_days_1_to_30():
    labs = [
        lab(0, "bilirubin", 5.0, at=(18, 0)),  # the session day: excluded
        lab(1, "bilirubin", 1.0),
        lab(30, "bilirubin", 2.5),
        lab(31, "bilirubin", 9.0),  # day 31: excluded
        lab(1, "albumin", 2.9),
        lab(15, "albumin", 3.1),
        lab(31, "albumin", 1.0),
    ]
    f = flags(labs)
    assert (f["bilirubin_post_max_mg_dl"], f["albumin_post_min_g_dl"]) == (2.5, 2.9)
    assert f["flag_post_bilirubin_ge_2"] is True


def test_P9_next_session_date_excluded():
    labs = [lab(5, "bilirubin", 1.0), lab(20, "bilirubin", 3.0), lab(19, "albumin", 3.3)]
    rows = run(labs, sessions=[session(0, 1), session(20, 2)]).session_flags.to_pylist()
    first = rows[0]
    assert (first["bilirubin_post_max_mg_dl"], first["flag_post_bilirubin_ge_2"]) == (1.0, False)
    assert rows[0]["albumin_post_min_g_dl"] == 3.3
    # the day-20 value is the second session's pre-session bilirubin
    assert rows[1]["bilirubin_mg_dl"] == 3.0


def test_P9_censored_and_missing_post_values():
    assert flags([lab(3, "bilirubin", 1.0, "<")])["flag_post_bilirubin_ge_2"] is False
    assert flags([lab(3, "bilirubin", 3.0, "<")])["flag_post_bilirubin_ge_2"] is None
    f = flags([lab(3, "bilirubin", 3.0, "<"), lab(4, "bilirubin", 2.0)])
    assert f["flag_post_bilirubin_ge_2"] is True
    f = flags([])
    assert (f["bilirubin_post_max_mg_dl"], f["flag_post_bilirubin_ge_2"]) == (None, None)


# --- G1-G9: eligibility ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "column", "value", "criterion"),
    [
        ("creatinine", "elig_creatinine", 2.0, "fail"),
        ("creatinine", "elig_creatinine", 1.99, "pass"),
        ("ldh", "elig_ldh", 425.0, "fail"),
        ("ldh", "elig_ldh", 424.0, "pass"),
        ("ast", "elig_ast", 100.0, "fail"),
        ("ast", "elig_ast", 99.0, "pass"),
        ("platelets", "elig_platelets", 100.0, "fail"),
        ("platelets", "elig_platelets", 101.0, "pass"),
        ("bilirubin", "elig_bilirubin", 2.0, "fail"),
        ("bilirubin", "elig_bilirubin", 1.9, "pass"),
    ],
)
def test_G1_to_G5_lab_limits_exactly_on_the_threshold(analyte, column, value, criterion):
    assert flags([lab(-2, analyte, value)])[column] == criterion


@pytest.mark.parametrize(
    ("burden", "criterion"), [(50.0, "fail"), (49.9, "pass"), (None, "missing")]
)
def test_G6_burden_below_50(burden, criterion):
    assert flags(studies=[study(-5, liver_tumor_burden_pct=burden)])["elig_burden"] == criterion


@pytest.mark.parametrize(
    ("modality", "occluded", "criterion"),
    [("cTACE", True, "fail"), ("TAE", True, "fail"), ("DEB-TACE", False, "pass"),
     ("cTACE", None, "missing"), ("TARE", True, "pass"), ("TARE", None, "pass")],
)  # fmt: skip
def test_G7_portal_vein_occlusion_fails_TAE_TACE_not_TARE(modality, occluded, criterion):
    f = flags(
        sessions=[session(modality=modality)], studies=[study(portal_vein_occlusion=occluded)]
    )
    assert f["elig_portal_vein"] == criterion


@pytest.mark.parametrize(
    ("modality", "anastomosis", "whipple", "criterion"),
    [("cTACE", False, True, "fail"), ("TARE", False, True, "pass"), ("TAE", True, False, "fail"),
     ("DEB-TACE", False, False, "pass"), ("cTACE", False, None, "missing"),
     ("cTACE", True, None, "fail"), ("TARE", None, None, "pass")],
)  # fmt: skip
def test_G8_whipple_or_anastomosis_fails_TAE_TACE_not_TARE(
    modality, anastomosis, whipple, criterion
):
    f = flags(
        sessions=[session(modality=modality)],
        patients=[patient(bilioenteric_anastomosis=anastomosis, prior_whipple=whipple)],
    )
    assert f["elig_biliary"] == criterion


@pytest.mark.parametrize(
    ("modality", "agent", "lvef", "criterion"),
    [("cTACE", "doxorubicin", 49.0, "fail"), ("cTACE", "Doxorubicin", 50.0, "pass"),
     ("DEB-TACE", "doxorubicin 50 mg", 65.0, "pass"), ("cTACE", "Adriamycin", 40.0, "fail"),
     ("cTACE", "doxorubicin", None, "missing"), ("cTACE", "cisplatin", 30.0, None),
     ("cTACE", None, 30.0, None), ("TAE", "doxorubicin", 30.0, None),
     ("TARE", None, 30.0, None)],
)  # fmt: skip
def test_G9_doxorubicin_tace_needs_lvef_50(modality, agent, lvef, criterion):
    f = flags(sessions=[session(modality=modality, agent=agent, lvef_pct=lvef)])
    assert f["elig_lvef"] == criterion


def all_pass_inputs() -> dict[str, Any]:
    labs = [
        lab(-2, "creatinine", 1.0),
        lab(-2, "ldh", 200.0),
        lab(-2, "ast", 30.0),
        lab(-2, "platelets", 250.0),
        lab(-2, "bilirubin", 0.8),
    ]
    return {
        "labs": labs,
        "sessions": [session(agent="doxorubicin", lvef_pct=60.0)],
        "studies": [study(-5, liver_tumor_burden_pct=30.0, portal_vein_occlusion=False)],
        "patients": [patient(bilioenteric_anastomosis=False, prior_whipple=False)],
    }


def test_G_eligible_true_only_when_every_criterion_passes():
    f = flags(**all_pass_inputs())
    assert [f[c] for c in ("elig_creatinine", "elig_lvef", "eligible")] == ["pass", "pass", True]


def test_G_eligible_null_when_nothing_fails_but_something_is_missing():
    inputs = all_pass_inputs()
    inputs["labs"] = inputs["labs"][:-1]  # no bilirubin
    f = flags(**inputs)
    assert (f["elig_bilirubin"], f["eligible"]) == ("missing", None)


def test_G_eligible_false_when_one_fails_even_with_missing():
    inputs = all_pass_inputs()
    inputs["labs"] = inputs["labs"][:-1] + [lab(-2, "platelets", 80.0, at=(12, 0))]
    f = flags(**inputs)
    assert (f["elig_bilirubin"], f["elig_platelets"], f["eligible"]) == ("missing", "fail", False)


def test_G_not_applicable_lvef_does_not_make_eligibility_missing():
    inputs = all_pass_inputs()
    inputs["sessions"] = [session(modality="TAE", lvef_pct=None)]
    f = flags(**inputs)
    assert (f["elig_lvef"], f["eligible"]) == (None, True)


def test_missing_values_give_null_flags_and_missing_criteria_never_false_or_pass():
    f = flags(sessions=[session(modality="cTACE", agent="doxorubicin")])
    for column in (
        "flag_bilirubin_ge_2", "flag_albumin_le_3_5", "flag_burden_ge_70", "flag_ascites",
        "flag_extrahepatic", "flag_systemic_ge_3", "flag_nlr_elevated", "flag_post_bilirubin_ge_2",
        "eligible",
    ):  # fmt: skip
        assert f[column] is None, column
    for column in (
        "elig_creatinine", "elig_ldh", "elig_ast", "elig_platelets", "elig_bilirubin",
        "elig_burden", "elig_portal_vein", "elig_biliary", "elig_lvef",
    ):  # fmt: skip
        assert f[column] == "missing", column
    assert f["n_negative_flags"] == 0


# --- H1-H3: modality hint -------------------------------------------------------------

H1_REASON = (
    "bilioenteric anastomosis / prior Whipple: TAE/TACE carry a higher risk of biliary "
    "ischaemia and abscess"
)


@pytest.mark.parametrize("modality", ["cTACE", "TARE"])
def test_H1_whipple_hints_TARE_whatever_the_session_modality(modality):
    f = flags(
        sessions=[session(modality=modality)],
        patients=[patient(prior_whipple=True, ki67_pct=1.0)],
    )
    assert (f["modality_hint"], f["modality_hint_reason"]) == ("TARE", H1_REASON)


@pytest.mark.parametrize(
    ("ki67", "hint", "reason"),
    [
        (3.0, "TARE", "Ki-67 ≥ 3 % predicted better response after radioembolisation"),
        (15.0, "TARE", "Ki-67 ≥ 3 % predicted better response after radioembolisation"),
        (2.9, "TACE/TAE", "Ki-67 < 3 % predicted greater benefit with TACE/TAE"),
    ],
)
def test_H2_ki67_exactly_3_hints_TARE(ki67, hint, reason):
    f = flags(patients=[patient(ki67_pct=ki67, bilioenteric_anastomosis=False)])
    assert (f["modality_hint"], f["modality_hint_reason"]) == (hint, reason)


@pytest.mark.parametrize("patients", [[patient(ki67_pct=None)], []])
def test_H3_no_ki67_no_hint(patients):
    f = flags(patients=patients)
    assert (f["modality_hint"], f["modality_hint_reason"]) == (None, "no Ki-67")


# --- several patients and sessions at once; the summary -------------------------------


def test_sessions_of_several_patients_stay_apart():
    other = "b" * 64
    labs = [lab(-1, "bilirubin", 2.5), lab(-1, "bilirubin", 0.5, patient=other)]
    sessions = [session(), session(patient_key=other)]
    rows = run(labs, sessions).session_flags.to_pylist()
    assert {(r["patient_key"], r["flag_bilirubin_ge_2"]) for r in rows} == {
        (P, True),
        (other, False),
    }


def ddl_columns(name: str) -> list[str]:
    """Column names of a public table (warehouse.schema), run_id left out."""
    return [n for n in PUBLIC_COLUMNS[name] if n != "run_id"]


def test_output_columns_are_the_warehouse_columns():
    tables = run(nlr_draw(-1, 2.0, 1.0))
    for name in ("nlr", "session_labs", "session_flags"):
        assert getattr(tables, name).column_names == ddl_columns(name), name
    assert tables.session_labs.schema.field("session_number").type == pa.int32()
    assert tables.session_flags.schema.field("n_negative_flags").type == pa.int32()


def test_flag_distribution_counts_every_category():
    inputs = all_pass_inputs()
    sessions = [session(0, 1, agent="doxorubicin", lvef_pct=60.0), session(60, 2, modality="TARE")]
    tables = run(inputs["labs"], sessions, inputs["studies"], inputs["patients"])
    dist = {
        (r["column_name"], r["category"]): r["n_sessions"]
        for r in flag_distribution(tables.session_flags).to_pylist()
    }
    assert dist[("eligible", "true")] == 1  # session 1: everything passes
    assert dist[("eligible", "null")] == 1  # session 2: no labs within 30 days
    assert dist[("elig_lvef", "pass")] == 1
    assert dist[("elig_lvef", "not applicable")] == 1
    assert dist[("flag_bilirubin_ge_2", "false")] == 1
    assert dist[("flag_bilirubin_ge_2", "null")] == 1
    assert dist[("flag_ascites", "true")] == 0
    assert sum(n for (c, _), n in dist.items() if c == "elig_ldh") == 2
