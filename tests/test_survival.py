"""The survival mart (issue 10; warehouse contract "Survival"): one rule per test.

Every case is built by hand around a first session on D0, with the warehouse
tables' own columns (schemas from warehouse/ddl); days are calendar days
relative to D0. The landmark is config's report.landmark_days (180).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_config
from transforms.survival import INPUTS, compute_survival
from warehouse import DDL_TABLES

PARAMS = load_config().section("report")
LANDMARK = PARAMS["landmark_days"]
D0 = dt.date(2024, 3, 1)
P, Q = "a" * 64, "b" * 64


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def _schemas() -> dict[str, pa.Schema]:
    con = duckdb.connect()
    try:
        out = {}
        for name in INPUTS:
            con.execute(DDL_TABLES[name])
            out[name] = con.sql(f"SELECT * EXCLUDE (run_id) FROM {name}").to_arrow_table().schema
        return out
    finally:
        con.close()


SCHEMAS = _schemas()


def patient(key: str = P, **kw: Any) -> dict[str, Any]:
    return {"patient_key": key, "primary_site": "small_intestine", **kw}


def session(n: int, on: int, key: str = P, modality: str = "cTACE") -> dict[str, Any]:
    return {
        "patient_key": key,
        "session_id": f"S{n}",
        "session_date": day(on),
        "session_number": n,
        "modality": modality,
    }


def assessment(on: int, response: str | None, criteria: str = "mRECIST", key: str = P) -> dict:
    return {
        "patient_key": key,
        "criteria": criteria,
        "study_date": day(on),
        "sum_unit": "mm",
        "overall_response": response,
    }


def survival(
    patients: list[dict],
    sessions: list[dict],
    timepoints: list[dict] = (),
    best: list[dict] = (),
    labs: list[dict] = (),
    studies: list[dict] = (),
    **params: Any,
) -> dict[str, dict[str, Any]]:
    rows = {
        "patients": patients,
        "sessions": sessions,
        "imaging_studies": list(studies),
        "timepoint_responses": list(timepoints),
        "best_responses": list(best),
        "session_labs": list(labs),
    }
    tables = {name: pa.Table.from_pylist(rows[name], SCHEMAS[name]) for name in INPUTS}
    out = compute_survival(tables, {**PARAMS, **params})
    return {r["patient_key"]: r for r in out.to_pylist()}


def test_one_row_per_patient_with_a_session_only() -> None:
    rows = survival([patient(P), patient(Q)], [session(1, 0), session(2, 90)])
    assert list(rows) == [P]


def test_first_session_is_the_earliest_and_gives_the_modality() -> None:
    rows = survival([patient()], [session(2, 60, modality="TARE"), session(1, 0, modality="TAE")])
    assert rows[P]["first_session_date"] == D0
    assert rows[P]["first_modality"] == "TAE"


def test_os_runs_from_the_first_session_to_death() -> None:
    rows = survival([patient(death_date=day(400), last_contact_date=day(300))], [session(1, 0)])
    assert (rows[P]["os_days"], rows[P]["os_event"]) == (400, True)


def test_os_is_censored_at_last_contact_when_alive() -> None:
    rows = survival([patient(last_contact_date=day(500))], [session(1, 0), session(2, 90)])
    assert (rows[P]["os_days"], rows[P]["os_event"]) == (500, False)


def test_os_censoring_uses_the_latest_day_known_alive() -> None:
    """A session or imaging study after the recorded last contact proves the patient alive."""
    studies = [{"patient_key": P, "study_date": day(700), "modality": "CT"}]
    rows = survival(
        [patient(last_contact_date=day(200))],
        [session(1, 0), session(2, 250)],
        studies=studies,
    )
    assert (rows[P]["os_days"], rows[P]["os_event"]) == (700, False)
    rows = survival([patient()], [session(1, 0), session(2, 250)])  # no last contact at all
    assert (rows[P]["os_days"], rows[P]["os_event"]) == (250, False)


def test_pancreatic_primary() -> None:
    keys = ["c" * 64, "d" * 64, "e" * 64, "f" * 64]
    sites = ["pancreas", "small_intestine", "unknown", None]
    rows = survival(
        [patient(k, primary_site=s) for k, s in zip(keys, sites, strict=True)],
        [session(1, 0, key=k) for k in keys],
    )
    assert [rows[k]["pancreatic_primary"] for k in keys] == [True, False, None, None]
    assert rows[keys[0]]["primary_site"] == "pancreas"


def test_nlr_flags_come_from_the_first_session() -> None:
    labs = [
        {"patient_key": P, "session_id": "S1", "session_number": 1, "session_date": D0,
         "nlr_elevated_pre": True, "nlr_6m_above_pre": False},
        {"patient_key": P, "session_id": "S2", "session_number": 2, "session_date": day(90),
         "nlr_elevated_pre": False, "nlr_6m_above_pre": True},
    ]  # fmt: skip
    rows = survival([patient(death_date=day(900))], [session(1, 0), session(2, 90)], labs=labs)
    assert rows[P]["nlr_elevated_pre_first"] is True
    assert rows[P]["nlr_6m_above_pre_first"] is False


def test_responder_at_landmark_per_criteria() -> None:
    """A CR/PR on or before the landmark (day 180 closed) under each criteria separately."""
    tps = [
        assessment(-5, None, "RECIST1.1"),
        assessment(90, "SD", "RECIST1.1"),
        assessment(LANDMARK, "PR", "RECIST1.1"),  # on the landmark: counts
        assessment(-5, None, "mRECIST"),
        assessment(90, "SD", "mRECIST"),
        assessment(LANDMARK + 1, "CR", "mRECIST"),  # a day late
    ]
    rows = survival([patient(death_date=day(800))], [session(1, 0)], tps)
    assert rows[P]["responder_at_landmark_recist"] is True
    assert rows[P]["responder_at_landmark_mrecist"] is False


def test_landmark_leaves_out_patients_dead_or_censored_before_it() -> None:
    tps = [assessment(-5, None), assessment(60, "PR")]
    dead = survival([patient(death_date=day(LANDMARK - 1))], [session(1, 0)], tps)
    lost = survival([patient(last_contact_date=day(LANDMARK - 1))], [session(1, 0)], tps)
    at = survival([patient(death_date=day(LANDMARK))], [session(1, 0)], tps)
    assert dead[P]["responder_at_landmark_mrecist"] is None
    assert lost[P]["responder_at_landmark_mrecist"] is None
    assert at[P]["responder_at_landmark_mrecist"] is True  # alive up to the landmark itself


def test_no_course_assessment_is_null_and_no_response_is_false() -> None:
    rows = survival(
        [patient(P, death_date=day(900)), patient(Q, death_date=day(900))],
        [session(1, 0, key=P), session(1, 0, key=Q)],
        [assessment(-5, None, key=Q)],  # Q has a baseline, no follow-up; P has nothing
    )
    assert rows[P]["responder_at_landmark_mrecist"] is None
    assert rows[Q]["responder_at_landmark_mrecist"] is False


def test_a_response_after_progression_does_not_count() -> None:
    """Response-criteria E1: assessments after the first PD are not used."""
    tps = [assessment(-5, None), assessment(60, "PD"), assessment(120, "PR")]
    course = {"patient_key": P, "criteria": "mRECIST", "scope": "course"}
    best = [{**course, "progression_date": day(60)}]
    rows = survival([patient(death_date=day(900))], [session(1, 0)], tps, best)
    assert rows[P]["responder_at_landmark_mrecist"] is False


def test_confirmed_only_switch_uses_the_first_confirmed_response() -> None:
    tps = [assessment(-5, None), assessment(60, "PR"), assessment(150, "PR")]
    course = {"patient_key": P, "criteria": "mRECIST", "scope": "course"}
    unconfirmed_only = [course]
    confirmed = [{**course, "first_response_date": day(60)}]
    args = ([patient(death_date=day(900))], [session(1, 0)], tps)
    assert survival(*args, unconfirmed_only)[P]["responder_at_landmark_mrecist"] is True
    off = {"landmark_counts_unconfirmed": False}
    assert survival(*args, unconfirmed_only, **off)[P]["responder_at_landmark_mrecist"] is False
    assert survival(*args, confirmed, **off)[P]["responder_at_landmark_mrecist"] is True


def test_landmark_is_configurable() -> None:
    tps = [assessment(-5, None), assessment(100, "PR")]
    args = ([patient(death_date=day(900))], [session(1, 0)], tps)
    assert survival(*args, landmark_days=90)[P]["responder_at_landmark_mrecist"] is False
    assert survival(*args, landmark_days=100)[P]["responder_at_landmark_mrecist"] is True
    assert load_config().tree["report"]["landmark_days"]["source"]


@settings(max_examples=60, deadline=None)
@given(
    session_days=st.lists(st.integers(0, 2000), min_size=1, max_size=4, unique=True),
    extra=st.one_of(st.none(), st.integers(0, 3000)),
    dies=st.booleans(),
    contact=st.one_of(st.none(), st.integers(-100, 3000)),
)
def test_durations_are_never_negative(
    session_days: list[int], extra: int | None, dies: bool, contact: int | None
) -> None:
    """Whatever the dates (a death is never before a session: staging nulls it), os_days >= 0."""
    last = max(session_days)
    death = day(last + extra) if dies and extra is not None else None
    rows = survival(
        [patient(death_date=death, last_contact_date=None if contact is None else day(contact))],
        [session(i + 1, d) for i, d in enumerate(sorted(session_days))],
    )
    assert rows[P]["os_days"] >= 0
    assert rows[P]["os_event"] is (death is not None)
    assert rows[P]["first_session_date"] == day(min(session_days))


def _warehouse(name: str, rows: list[dict]) -> pa.Table:
    con = duckdb.connect()
    try:
        con.execute(DDL_TABLES[name])
        schema = con.sql(f"SELECT * FROM {name}").to_arrow_table().schema
    finally:
        con.close()
    return pa.Table.from_pylist([{"run_id": "r1", **r} for r in rows], schema)


def test_dq_suite_passes_a_good_table_and_catches_broken_rows() -> None:
    """os_days never negative, os_event given, one row per patient with a session."""
    from expectations import run_quality_checks

    patients = [patient(P, death_date=day(100)), patient(Q)]
    sessions = [session(1, 0, key=P), session(1, 0, key=Q)]
    good = survival(patients, sessions)
    outputs = {
        "patients": _warehouse("patients", patients),
        "sessions": _warehouse("sessions", sessions),
        "survival": _warehouse("survival", list(good.values())),
    }
    dq = load_config().section("dq")

    def failures(outputs: dict[str, pa.Table]) -> set[str]:
        outcome = run_quality_checks({}, outputs, "r1", dq, None)
        return {
            r["expectation"]
            for r in outcome.results.to_pylist()
            if r["suite"] == "warehouse.survival" and not r["success"]
        }

    assert failures(outputs) == set()
    broken = [  # Q has no row; P has two, one with a negative duration, one with a status
        {**good[P], "os_days": -3},
        {**good[P], "first_modality": "TARE", "responder_at_landmark_mrecist": True},
    ]
    assert failures({**outputs, "survival": _warehouse("survival", broken)}) == {
        "os_days_not_negative",
        "is_duplicate_key",
        "session_patient_has_row",
        "first_session_is_earliest",
        "landmark_excludes_early_exits",
    }
