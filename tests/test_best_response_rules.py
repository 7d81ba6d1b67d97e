"""Best overall response and time to event: rules E1–E5 and E3b of
shared/spec/response-criteria.md, with hand-computed values.

Every scenario starts its scope on START (day 0); assessments are given as
(day, response) or (day, response, progression_hint_day).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_response_rules import Cohort, T

from config import load_config
from config.params import TransformParams, best_response_params
from transforms.responses.best import assessments_from_warehouse_tables, compute_best_responses
from warehouse.schema import arrow_schemas

START = dt.date(2024, 1, 1)
RECIST = "RECIST1.1"
DEFAULT_CONFIG = load_config()
ONLY_RECIST = best_response_params(DEFAULT_CONFIG, {"criteria": [RECIST]})
RANKING = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]


def day(n: int | None) -> dt.date | None:
    return None if n is None else START + dt.timedelta(days=n)


def assessments_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "patient_key": [r["patient_key"] for r in rows],
            "criteria": [r.get("criteria", RECIST) for r in rows],
            "scope": [r.get("scope", "course") for r in rows],
            "study_date": pa.array([r["study_date"] for r in rows], pa.date32()),
            "overall_response": pa.array([r["overall_response"] for r in rows], pa.string()),
            "has_target_disease": pa.array([r.get("has_target", True) for r in rows], pa.bool_()),
            "progression_date_hint": pa.array([r.get("hint") for r in rows], pa.date32()),
        }
    )


def scopes_table(rows: list[tuple[str, str, int, int | None]]) -> pa.Table:
    return pa.table(
        {
            "patient_key": [r[0] for r in rows],
            "scope": [r[1] for r in rows],
            "start_date": pa.array([day(r[2]) for r in rows], pa.date32()),
            "event_window_end": pa.array([day(r[3]) for r in rows], pa.date32()),
        }
    )


def patients_table(deaths: dict[str, int | None]) -> pa.Table:
    return pa.table(
        {
            "patient_key": list(deaths),
            "death_date": pa.array([day(d) for d in deaths.values()], pa.date32()),
            "last_contact_date": pa.array([day(900)] * len(deaths), pa.date32()),
        }
    )


def best(
    visits: list[tuple],
    *,
    has_target: bool = True,
    death: int | None = None,
    window_end: int | None = None,
    params: dict[str, Any] | TransformParams | None = None,
) -> dict[str, Any]:
    """The single best_responses row of patient 'p', scope 'course', RECIST 1.1.

    ``params``: overrides of the default config's best-response parameters, or the
    parameter object itself.
    """
    if not isinstance(params, TransformParams):
        params = best_response_params(DEFAULT_CONFIG, {"criteria": [RECIST], **(params or {})})
    rows = [{"patient_key": "p", "study_date": START, "overall_response": None}]  # baseline
    for visit in visits:
        hint = day(visit[2]) if len(visit) > 2 else None
        rows.append(
            {
                "patient_key": "p",
                "study_date": day(visit[0]),
                "overall_response": visit[1],
                "hint": hint,
            }
        )
    for r in rows:
        r["has_target"] = has_target
    out = compute_best_responses(
        assessments_table(rows),
        scopes_table([("p", "course", 0, window_end)]),
        patients_table({"p": death}),
        params,
    ).to_pylist()
    assert len(out) == 1
    return out[0]


# --- E1: which assessments count ---------------------------------------------


def test_E1_assessments_after_first_pd_are_ignored() -> None:
    r = best([(50, "SD"), (84, "PD"), (120, "CR"), (160, "CR")])
    assert (r["bor"], r["bor_confirmed"]) == ("SD", "SD")
    assert r["progression_date"] == day(84)
    assert r["first_response_date"] is None


def test_E1_assessments_before_scope_start_and_baseline_row_are_ignored() -> None:
    r = best([(-10, "CR"), (0, None), (50, "SD")])
    assert (r["bor"], r["bor_confirmed"]) == ("SD", "SD")


def test_E1_worst_response_kept_when_a_date_has_two() -> None:
    assert best([(60, "CR"), (60, "PD")])["bor"] == "PD"
    # admiralonco's order puts NE below CR, so a CR beats an NE on the same date
    assert best([(60, "NE"), (60, "CR")])["bor"] == "CR"


# --- E2: unconfirmed best overall response -------------------------------------


def test_E2_sd_needs_42_days() -> None:
    r = best([(41, "SD")])
    assert (r["bor"], r["bor_confirmed"]) == ("NE", "NE")


def test_E2_exactly_42_days_counts() -> None:
    r = best([(42, "SD")])
    assert (r["bor"], r["bor_confirmed"]) == ("SD", "SD")


def test_E2_non_cr_non_pd_needs_42_days() -> None:
    assert best([(41, "NON-CR/NON-PD")], has_target=False)["bor"] == "NE"
    assert best([(42, "NON-CR/NON-PD")], has_target=False)["bor"] == "NON-CR/NON-PD"


def test_E2_early_sd_then_pd_is_pd() -> None:
    assert best([(21, "SD"), (42, "PD")])["bor"] == "PD"


def test_E2_best_of_the_ranking() -> None:
    assert best([(30, "PR"), (60, "SD"), (90, "PD")])["bor"] == "PR"
    assert best([(60, "SD"), (90, "NON-CR/NON-PD")])["bor"] == "SD"


def test_E2_scope_without_assessments_is_ne() -> None:
    r = best([])
    assert r == {
        "patient_key": "p",
        "criteria": RECIST,
        "scope": "course",
        "bor": "NE",
        "bor_confirmed": "NE",
        "first_response_date": None,
        "progression_date": None,
        "pfs_days": 0,
        "pfs_event": False,
        "ttp_days": 0,
        "dor_days": None,
    }


def test_B2_no_baseline_rows_all_ne_give_ne() -> None:
    r = best([(30, "NE"), (90, "NE")])
    assert (r["bor"], r["bor_confirmed"], r["pfs_days"], r["pfs_event"]) == ("NE", "NE", 0, False)


# --- E3: confirmation -----------------------------------------------------------


def test_E3_confirmation_too_soon() -> None:
    r = best([(42, "PR"), (69, "PR")])  # 27 days apart
    assert (r["bor"], r["bor_confirmed"]) == ("PR", "SD")
    assert r["first_response_date"] is None


def test_E3_confirmation_at_exactly_28_days() -> None:
    r = best([(42, "PR"), (70, "PR")])
    assert (r["bor"], r["bor_confirmed"]) == ("PR", "PR")
    assert r["first_response_date"] == day(42)


def test_E3_unconfirmed_pr_becomes_sd() -> None:
    r = best([(50, "PR"), (100, "SD")])
    assert (r["bor"], r["bor_confirmed"]) == ("PR", "SD")


def test_E3_unconfirmed_pr_before_42_days_becomes_ne() -> None:
    r = best([(30, "PR"), (60, "NE")])
    assert (r["bor"], r["bor_confirmed"]) == ("PR", "NE")


def test_E3_ne_between_allowed_once() -> None:
    r = best([(42, "PR"), (63, "NE"), (84, "PR")])
    assert r["bor_confirmed"] == "PR"
    assert r["first_response_date"] == day(42)


def test_E3_two_ne_between_break_confirmation() -> None:
    r = best([(42, "PR"), (56, "NE"), (63, "NE"), (84, "PR")])
    assert r["bor_confirmed"] == "SD"


def test_E3_sd_between_breaks_confirmation() -> None:
    r = best([(42, "PR"), (56, "SD"), (84, "PR")])
    assert r["bor_confirmed"] == "SD"


def test_E3_pr_after_cr_breaks() -> None:
    # PR(42) is first confirmable by PR(84), but a CR(56) lies before that PR.
    r = best([(42, "PR"), (56, "CR"), (84, "PR")])
    assert (r["bor"], r["bor_confirmed"]) == ("CR", "SD")


def test_E3_pr_confirmed_by_later_cr() -> None:
    r = best([(42, "PR"), (70, "CR")])
    assert (r["bor"], r["bor_confirmed"]) == ("CR", "PR")
    assert r["first_response_date"] == day(42)  # the confirmed response, not the confirming


def test_E3_cr_confirmed_by_cr_with_one_ne_between() -> None:
    r = best([(42, "CR"), (56, "NE"), (84, "CR")])
    assert (r["bor"], r["bor_confirmed"]) == ("CR", "CR")
    assert r["first_response_date"] == day(42)


def test_E3_pr_between_crs_breaks_cr_confirmation_but_pr_is_confirmed() -> None:
    r = best([(42, "CR"), (56, "PR"), (84, "CR")])
    assert r["bor_confirmed"] == "PR"
    assert r["first_response_date"] == day(56)


def test_E3_later_confirmation_is_used_when_first_response_fails() -> None:
    r = best([(42, "PR"), (56, "SD"), (70, "PR"), (98, "PR")])
    assert r["bor_confirmed"] == "PR"
    assert r["first_response_date"] == day(70)


# --- E3b: no target disease ----------------------------------------------------


def test_E3b_unconfirmed_cr_without_target_disease_is_non_cr_non_pd() -> None:
    visits = [(60, "CR"), (70, "NON-CR/NON-PD")]
    assert best(visits, has_target=False)["bor_confirmed"] == "NON-CR/NON-PD"
    assert best(visits, has_target=True)["bor_confirmed"] == "SD"


def test_E3b_early_unconfirmed_cr_without_target_disease_is_ne() -> None:
    r = best([(30, "CR"), (35, "NE")], has_target=False)
    assert (r["bor"], r["bor_confirmed"]) == ("CR", "NE")


def test_E3b_confirmed_cr_without_target_disease_stays_cr() -> None:
    r = best([(42, "CR"), (70, "CR")], has_target=False)
    assert r["bor_confirmed"] == "CR"


# --- E4: time to event --------------------------------------------------------


def test_E4_death_without_progression() -> None:
    r = best([(50, "SD"), (100, "SD")], death=150)
    assert r["progression_date"] is None
    assert (r["pfs_days"], r["pfs_event"]) == (150, True)
    assert r["ttp_days"] == 100  # death is no TTP event: censored at the last evaluable


def test_E4_censoring_at_last_evaluable() -> None:
    r = best([(50, "SD"), (100, "NE")])
    assert (r["pfs_days"], r["pfs_event"], r["ttp_days"]) == (50, False, 50)


def test_E4_no_evaluable_assessment_censors_at_start() -> None:
    r = best([(50, "NE")])
    assert (r["pfs_days"], r["pfs_event"], r["ttp_days"]) == (0, False, 0)


def test_E4_progression_dated_by_hint() -> None:
    r = best([(50, "SD"), (100, "PD", 80)])
    assert r["progression_date"] == day(80)
    assert (r["pfs_days"], r["pfs_event"], r["ttp_days"]) == (80, True, 80)


def test_E4_progression_before_death() -> None:
    r = best([(50, "SD"), (100, "PD")], death=200)
    assert (r["pfs_days"], r["pfs_event"], r["ttp_days"]) == (100, True, 100)


def test_E4_dor_from_first_confirmed_response_to_progression() -> None:
    r = best([(42, "PR"), (84, "PR"), (126, "PD")])
    assert r["first_response_date"] == day(42)
    assert r["dor_days"] == 84


def test_E4_dor_ends_at_death() -> None:
    r = best([(42, "PR"), (84, "PR")], death=100)
    assert (r["dor_days"], r["pfs_days"], r["pfs_event"], r["ttp_days"]) == (58, 100, True, 84)


def test_E4_dor_censored_at_last_evaluable() -> None:
    r = best([(42, "PR"), (84, "PR"), (126, "NE")])
    assert r["dor_days"] == 42


def test_E4_dor_null_without_confirmed_response() -> None:
    r = best([(42, "PR"), (126, "PD")])
    assert (r["first_response_date"], r["dor_days"]) == (None, None)


# --- E5: scopes -------------------------------------------------------------


def test_E5_session_scope_death_after_next_session_not_event() -> None:
    r = best([(50, "SD")], window_end=90, death=100)
    assert (r["pfs_days"], r["pfs_event"]) == (50, False)
    r = best([(50, "SD")], window_end=90, death=80)
    assert (r["pfs_days"], r["pfs_event"]) == (80, True)


def test_E5_session_scope_death_on_next_session_date_not_event() -> None:
    r = best([(50, "SD")], window_end=90, death=90)
    assert r["pfs_event"] is False


def test_E5_session_scope_ignores_assessments_from_next_session_on() -> None:
    r = best([(50, "SD"), (90, "PD")], window_end=90)
    assert (r["bor"], r["progression_date"], r["pfs_event"]) == ("SD", None, False)


def test_E5_one_row_per_patient_criteria_and_scope() -> None:
    rows = [
        {"patient_key": "a", "scope": "course", "study_date": day(50), "overall_response": "SD"},
        {"patient_key": "a", "scope": "s2", "study_date": day(150), "overall_response": "PD"},
        {
            "patient_key": "a",
            "criteria": "mRECIST",
            "scope": "course",
            "study_date": day(50),
            "overall_response": "PR",
        },
        {"patient_key": "b", "scope": "course", "study_date": day(50), "overall_response": "SD"},
    ]
    out = compute_best_responses(
        assessments_table(rows),
        scopes_table([("a", "course", 0, None), ("a", "s2", 100, None), ("b", "course", 0, None)]),
        patients_table({"a": None, "b": None}),
        best_response_params(DEFAULT_CONFIG),
    )
    got = {(r["patient_key"], r["criteria"], r["scope"]): r["bor"] for r in out.to_pylist()}
    assert got == {
        ("a", RECIST, "course"): "SD",
        ("a", RECIST, "s2"): "PD",
        ("a", "mRECIST", "course"): "PR",
        ("a", "mRECIST", "s2"): "NE",
        ("b", RECIST, "course"): "SD",
        ("b", "mRECIST", "course"): "NE",
    }
    public = [f for f in arrow_schemas()["best_responses"] if f.name != "run_id"]
    assert [(f.name, f.type) for f in out.schema] == [(f.name, f.type) for f in public]


def test_E5_warehouse_tables_give_course_and_session_scopes() -> None:
    sessions = pa.table(
        {
            "patient_key": ["a", "a"],
            "session_id": ["s1", "s2"],
            "session_date": pa.array([day(0), day(100)], pa.date32()),
            "session_number": [1, 2],
        }
    )
    timepoints = pa.table(
        {
            "patient_key": ["a", "a", "a"],
            "criteria": [RECIST] * 3,
            "study_date": pa.array([day(-5), day(60), day(130)], pa.date32()),
            "target_response": [None, "SD", "PD"],
            "overall_response": [None, "SD", "PD"],
        }
    )
    session_rows = pa.table(
        {
            "patient_key": ["a"] * 4,
            "criteria": [RECIST] * 4,
            "session_id": ["s1", "s1", "s2", "s2"],
            "scope": ["overall", "in_field", "overall", "overall"],
            "study_date": pa.array([day(60), day(60), day(60), day(130)], pa.date32()),
            "target_response": [None, None, None, None],
            "overall_response": ["SD", "PR", None, "NON-CR/NON-PD"],
        }
    )
    assessments, scopes = assessments_from_warehouse_tables(timepoints, session_rows, sessions)
    got_scopes = sorted(
        (r["scope"], r["start_date"], r["event_window_end"]) for r in scopes.to_pylist()
    )
    assert got_scopes == [
        ("course", day(0), None),
        ("s1", day(0), day(100)),
        ("s2", day(100), None),
    ]
    got = sorted(
        (r["scope"], r["study_date"], r["overall_response"], r["has_target_disease"])
        for r in assessments.to_pylist()
    )
    assert got == [
        ("course", day(-5), None, True),
        ("course", day(60), "SD", True),
        ("course", day(130), "PD", True),
        ("s1", day(60), "SD", False),
        ("s2", day(60), None, False),
        ("s2", day(130), "NON-CR/NON-PD", False),
    ]
    out = compute_best_responses(assessments, scopes, patients_table({"a": None}), ONLY_RECIST)
    by_scope = {r["scope"]: (r["bor"], r["pfs_days"], r["pfs_event"]) for r in out.to_pylist()}
    assert by_scope == {
        "course": ("SD", 130, True),
        "s1": ("SD", 60, False),
        "s2": ("NE", 30, False),
    }


# --- parameters come from config ------------------------------------------------


def test_E2_min_sd_days_from_a_user_config_file(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[best_response]\nmin_sd_days = 56\nconfirm_days = 35\n")
    params = best_response_params(load_config(user), {"criteria": [RECIST]})
    assert best([(50, "SD")], params=params)["bor"] == "NE"
    assert best([(56, "SD")], params=params)["bor"] == "SD"
    assert best([(56, "PR"), (84, "PR")], params=params)["bor_confirmed"] == "SD"
    assert best([(56, "PR"), (91, "PR")], params=params)["bor_confirmed"] == "PR"


def test_E3_max_ne_between_is_a_parameter() -> None:
    visits = [(42, "PR"), (56, "NE"), (63, "NE"), (84, "PR")]
    assert best(visits, params={"max_ne_between": 2})["bor_confirmed"] == "PR"


def test_no_threshold_is_written_into_the_sql() -> None:
    sql_dir = Path(__file__).resolve().parents[1] / "transforms" / "sql"
    for path in sql_dir.glob("best_*.sql"):
        code = "\n".join(
            ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--")
        )
        assert not re.search(r"\b(?![01]\b)\d+\b", code), f"{path.name} contains a numeric literal"


def test_unknown_parameter_is_an_error() -> None:
    with pytest.raises(ValueError, match="min_sd_dayz"):
        best([(50, "SD")], params={"min_sd_dayz": 10})


def test_unknown_response_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside response_ranking"):
        best([(50, "CHECK")])


# --- properties ------------------------------------------------------------

RESPONSES = st.sampled_from(RANKING)
VISITS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=400), RESPONSES), min_size=0, max_size=10
)
COHORT = st.lists(VISITS, min_size=1, max_size=10)


def cohort_rows(cohort: list[list[tuple[int, str]]], has_target: bool = True) -> list[dict]:
    return [
        {
            "patient_key": f"p{i}",
            "study_date": day(d),
            "overall_response": resp,
            "has_target": has_target,
        }
        for i, visits in enumerate(cohort)
        for d, resp in visits
    ]


def run_cohort(rows: list[dict], n_patients: int) -> dict[str, dict]:
    keys = [f"p{i}" for i in range(n_patients)]
    out = compute_best_responses(
        assessments_table(rows),
        scopes_table([(k, "course", 0, None) for k in keys]),
        patients_table(dict.fromkeys(keys)),
        ONLY_RECIST,
    )
    return {r["patient_key"]: r for r in out.to_pylist()}


def first_pd_day(visits: list[tuple[int, str]]) -> int | None:
    return min((d for d, resp in visits if resp == "PD"), default=None)


@settings(max_examples=25, deadline=None)
@given(COHORT, st.booleans())
def test_property_bor_never_better_than_best_assessment_in_range(cohort, has_target) -> None:
    got = run_cohort(cohort_rows(cohort, has_target), len(cohort))
    for i, visits in enumerate(cohort):
        pd_day = first_pd_day(visits)
        in_range = [resp for d, resp in visits if pd_day is None or d <= pd_day]
        best_rank = min((RANKING.index(resp) for resp in in_range), default=RANKING.index("NE"))
        row = got[f"p{i}"]
        assert RANKING.index(row["bor"]) >= best_rank
        assert RANKING.index(row["bor_confirmed"]) >= RANKING.index(row["bor"])
        assert row["pfs_days"] >= row["ttp_days"] or row["pfs_event"]


@settings(max_examples=25, deadline=None)
@given(COHORT, VISITS)
def test_property_assessments_after_first_pd_change_nothing(cohort, extra) -> None:
    before = run_cohort(cohort_rows(cohort), len(cohort))
    appended = []
    for visits in cohort:
        pd_day = first_pd_day(visits)
        later = [] if pd_day is None else [(pd_day + d, resp) for d, resp in extra]
        appended.append(visits + later)
    assert run_cohort(cohort_rows(appended), len(cohort)) == before


@settings(max_examples=25, deadline=None)
@given(COHORT, st.randoms(use_true_random=False))
def test_property_row_order_is_irrelevant(cohort, rnd: random.Random) -> None:
    rows = cohort_rows(cohort)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert run_cohort(shuffled, len(cohort)) == run_cohort(rows, len(cohort))


def reference(visits: list[tuple[int, str]], has_target: bool, death: int | None) -> dict[str, Any]:
    """A plain per-patient reading of E1–E4 (admiralonco's event definitions), for checking."""
    worst_first = ["PD", "NON-CR/NON-PD", "SD", "PR", "CR", "NE"]
    by_day: dict[int, str] = {}
    for d, resp in visits:
        if d not in by_day or worst_first.index(resp) < worst_first.index(by_day[d]):
            by_day[d] = resp
    seq = sorted(by_day.items())
    pd_at = next((i for i, (_, resp) in enumerate(seq) if resp == "PD"), None)
    if pd_at is not None:
        seq = seq[: pd_at + 1]

    def is_confirmed(i: int) -> bool:
        d, resp = seq[i]
        for j in range(i + 1, len(seq)):
            dj, rj = seq[j]
            if dj - d >= 28 and (rj == "CR" or (resp == "PR" and rj == "PR")):
                between = [r for _, r in seq[i + 1 : j + 1]]
                allowed = {"CR", "NE"} if resp == "CR" else {"CR", "PR", "NE"}
                crs = [k for k, r in enumerate(between) if r == "CR"]
                prs = [k for k, r in enumerate(between) if r == "PR"]
                return (
                    set(between) <= allowed
                    and between.count("NE") <= 1
                    and not (crs and prs and min(crs) < max(prs))
                )
        return False

    def value(i: int, confirmed: bool) -> str:
        d, resp = seq[i]
        if resp in ("CR", "PR") and (not confirmed or is_confirmed(i)):
            return resp
        if resp in ("PD", "NE"):
            return resp
        if d < 42:
            return "NE"
        if resp == "CR" and not has_target:
            return "NON-CR/NON-PD"
        return "SD" if resp in ("CR", "PR") else resp

    def best_of(values: list[str]) -> str:
        return min(values, key=RANKING.index, default="NE")

    responses = [i for i in range(len(seq)) if seq[i][1] in ("CR", "PR") and is_confirmed(i)]
    first_response = seq[responses[0]][0] if responses else None
    progression = seq[pd_at][0] if pd_at is not None else None
    last_evaluable = max((d for d, r in seq if r != "NE"), default=None)
    event = min((x for x in (progression, death) if x is not None), default=None)
    censor = last_evaluable if last_evaluable is not None else 0
    return {
        "bor": best_of([value(i, False) for i in range(len(seq))]),
        "bor_confirmed": best_of([value(i, True) for i in range(len(seq))]),
        "first_response_date": day(first_response),
        "progression_date": day(progression),
        "pfs_days": event if event is not None else censor,
        "pfs_event": event is not None,
        "ttp_days": progression if progression is not None else censor,
        "dor_days": None
        if first_response is None
        else (event if event is not None else censor) - first_response,
    }


DENSE_VISITS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=150), RESPONSES), min_size=0, max_size=10
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(DENSE_VISITS, st.booleans(), st.none() | st.integers(200, 300)),
        min_size=1,
        max_size=8,
    )
)
def test_property_set_based_sql_agrees_with_a_per_patient_reading_of_the_rules(cohort) -> None:
    rows = [
        {"patient_key": f"p{i}", "study_date": day(d), "overall_response": resp, "has_target": tgt}
        for i, (visits, tgt, _) in enumerate(cohort)
        for d, resp in visits
    ]
    keys = [f"p{i}" for i in range(len(cohort))]
    out = compute_best_responses(
        assessments_table(rows),
        scopes_table([(k, "course", 0, None) for k in keys]),
        patients_table({k: death for k, (_, _, death) in zip(keys, cohort, strict=True)}),
        ONLY_RECIST,
    )
    got = {r.pop("patient_key"): r for r in out.to_pylist()}
    for key, (visits, tgt, death) in zip(keys, cohort, strict=True):
        row = got[key]
        del row["criteria"], row["scope"]
        assert row == reference(visits, tgt, death)


def test_E4_last_contact_date_does_not_censor_pfs() -> None:
    rows = [
        {"patient_key": "p", "study_date": day(50), "overall_response": "SD"},
        {"patient_key": "p", "study_date": day(100), "overall_response": "SD"},
    ]
    patients = patients_table({"p": None}).set_column(
        2, "last_contact_date", pa.array([day(30)], pa.date32())
    )
    out = compute_best_responses(
        assessments_table(rows), scopes_table([("p", "course", 0, None)]), patients, ONLY_RECIST
    ).to_pylist()
    assert (out[0]["pfs_days"], out[0]["pfs_event"], out[0]["ttp_days"]) == (100, False, 100)


# --- R15 / M6 through to best response and time to event --------------------------


def test_R15_reappearance_after_cr_sets_progression_date_pfs_and_ttp_per_scope() -> None:
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 20))
    c.study("2026-03-01", T("L1", status="absent"))  # CR (session 1); session 2's baseline
    c.study("2026-05-01", T("L1", 4))  # PD by R15 in the course, not in session 2 (its baseline)
    result = c.run()
    sessions = c.tables()[0]
    assessments, scopes = assessments_from_warehouse_tables(
        result.timepoint_responses, result.session_responses, sessions
    )
    out = compute_best_responses(
        assessments, scopes, patients_table({"p1": None}), best_response_params(DEFAULT_CONFIG)
    )
    got = {
        (r["criteria"], r["scope"]): (
            r["bor"],
            r["bor_confirmed"],
            r["progression_date"],
            r["pfs_days"],
            r["pfs_event"],
            r["ttp_days"],
        )
        for r in out.to_pylist()
    }
    pd_day = dt.date(2026, 5, 1)
    for criteria in (RECIST, "mRECIST"):
        # course: CR on day 50, unconfirmed (SD); PD on day 111 ends PFS and TTP
        assert got[(criteria, "course")] == ("CR", "SD", pd_day, 111, True, 111)
        assert got[(criteria, "p1-s1")] == ("CR", "SD", None, 50, False, 50)
    # session 2: day 21 SD (too early: NE) under RECIST 1.1, PD by M2 under mRECIST
    assert got[(RECIST, "p1-s2")] == ("NE", "NE", None, 21, False, 21)
    assert got[("mRECIST", "p1-s2")] == ("PD", "PD", pd_day, 21, True, 21)
