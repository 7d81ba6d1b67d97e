"""Invariants of compute_timepoints over random patients (hypothesis).

Random patients have 1-3 sessions, 1-6 studies and a small pool of lesions
(targets, non-targets, new lesions, nodes) whose rows come and go with random
statuses, sizes, fragments and segments, so missing targets, R1 quarantine,
sizeless fragments and equivocal new lesions all occur.
"""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_response_rules import NEW, NT, Cohort, T, _lesion, node

START = dt.date(2026, 1, 1)
# Each example runs compute_timepoints 1-3 times (about 0.1 s each on an idle machine).
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

sizes = st.one_of(st.none(), st.integers(0, 800).map(lambda tenths: f"{tenths / 10:.1f}"))
segments = st.one_of(st.none(), st.integers(1, 8))


@st.composite
def lesion_row(draw, lesion_id: str) -> dict:
    kind = lesion_id[0]
    if kind == "T":
        status = draw(
            st.sampled_from(
                ["measured", "measured", "too_small", "absent", "coalesced", "not_evaluated"]
            )
        )
        return T(lesion_id, draw(sizes), status, viable=draw(sizes), seg=draw(segments))
    if kind == "N":
        return node(lesion_id, draw(sizes), draw(st.sampled_from(["measured", "absent"])))
    if kind == "U":
        status = draw(
            st.sampled_from(["present", "non_enhancing", "absent", "progression", "not_evaluated"])
        )
        organ = draw(st.sampled_from(["liver", "liver", "bone"]))
        return NT(lesion_id, status, organ=organ, seg=draw(segments))
    return NEW(
        lesion_id,
        draw(st.sampled_from(["present", "equivocal"])),
        organ=draw(st.sampled_from(["liver", "lung"])),
        seg=draw(segments),
    )


LESION_IDS = ["T1", "T2", "T3", "N1", "U1", "U2", "X1", "X2"]


@st.composite
def study_rows(draw) -> list[dict]:
    rows = []
    for lesion_id in LESION_IDS:
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):  # absent, one row, fragments
            rows.append(draw(lesion_row(lesion_id)))
    return rows


@st.composite
def patient(draw, key: str = "p1") -> dict:
    session_days = sorted(draw(st.sets(st.integers(0, 300), min_size=1, max_size=3)))
    study_days = sorted(draw(st.sets(st.integers(-120, 400), min_size=1, max_size=6)))
    return {
        "key": key,
        "sessions": [
            (day, draw(st.lists(st.integers(1, 8), min_size=1, max_size=8, unique=True)))
            for day in session_days
        ],
        "studies": [(day, draw(study_rows())) for day in study_days],
    }


def day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat()


def build(patients: list[dict]) -> Cohort:
    c = Cohort()
    for p in patients:
        for offset, segs in p["sessions"]:
            c.session(day(offset), segments=segs, patient=p["key"])
        for offset, lesions in p["studies"]:
            c.study(day(offset), *lesions, patient=p["key"])
    return c


def by_patient(table: pa.Table, key: str) -> list[dict]:
    return [r for r in table.to_pylist() if r["patient_key"] == key]


@EXAMPLES
@given(patient(), study_rows(), st.integers(1, 200))
def test_appending_later_studies_never_changes_earlier_rows(p, extra_rows, gap):
    before = build([p]).run()
    last = max([d for d, _ in p["studies"]] + [d for d, _ in p["sessions"]])
    longer = {**p, "studies": [*p["studies"], (last + gap, extra_rows)]}
    after = build([longer]).run()
    cutoff = START + dt.timedelta(days=last)
    for name in ("timepoint_responses", "session_responses"):
        old = getattr(before, name).to_pylist()
        new = [r for r in getattr(after, name).to_pylist() if r["study_date"] <= cutoff]
        assert new == old, name


@EXAMPLES
@given(patient("p1"), patient("p2"))
def test_one_patient_alone_gives_the_same_rows_as_in_a_cohort(p1, p2):
    together = build([p1, p2]).run()
    for p in (p1, p2):
        alone = build([p]).run()
        for name in ("timepoint_responses", "session_responses"):
            assert by_patient(getattr(together, name), p["key"]) == getattr(alone, name).to_pylist()


@EXAMPLES
@given(patient("p1"), patient("p2"), st.randoms(use_true_random=False))
def test_input_row_order_does_not_matter(p1, p2, rnd: random.Random):
    cohort = build([p1, p2])
    expected = cohort.run()
    for rows in (cohort.sessions, cohort.studies, cohort.lesions):
        rnd.shuffle(rows)
    shuffled = cohort.run()
    assert shuffled.timepoint_responses.equals(expected.timepoint_responses)
    assert shuffled.session_responses.equals(expected.session_responses)
    assert shuffled.quarantined.equals(expected.quarantined)


@EXAMPLES
@given(patient(), st.data())
def test_a_present_new_lesion_always_gives_overall_pd(p, data):
    first_session = p["sessions"][0][0]
    follow_ups = [i for i, (d, _) in enumerate(p["studies"]) if d > first_session]
    if not follow_ups:
        p = {**p, "studies": [*p["studies"], (first_session + 30, [])]}
        follow_ups = [len(p["studies"]) - 1]
    index = data.draw(st.sampled_from(follow_ups))
    offset, rows = p["studies"][index]
    organ = data.draw(st.sampled_from(["liver", "lung"]))
    fresh = _lesion("NEW-ONLY-HERE", "new", "present", organ=organ, seg=data.draw(segments))
    studies = list(p["studies"])
    studies[index] = (offset, [*rows, fresh])
    result = build([{**p, "studies": studies}]).run()
    date = START + dt.timedelta(days=offset)
    for r in result.timepoint_responses.to_pylist() + result.session_responses.to_pylist():
        if r["study_date"] == date and r["reason"] not in ("baseline",) and r["baseline_date"]:
            if r.get("scope") == "in_field" and r["new_lesions"] is False:
                continue  # the lesion is outside this session's treated field (F1)
            assert r["new_lesions"] is True
            assert r["overall_response"] == "PD"
            assert "R11" in r["reason"]
    for r in result.timepoint_responses.to_pylist() + result.session_responses.to_pylist():
        if r["new_lesions"]:
            assert r["overall_response"] == "PD"


def _all_absent() -> list[dict]:
    """Every lesion of the pool gone: an overall CR wherever the baseline sum is evaluable."""
    return [
        *(T(t, status="absent") for t in ("T1", "T2", "T3")),
        node("N1", status="absent"),
        *(NT(u, "absent") for u in ("U1", "U2")),
    ]


@EXAMPLES
@given(patient(), st.integers(1, 90), st.integers(1, 90), study_rows())
def test_R15_M6_the_assessment_after_an_overall_cr_is_never_sd_or_non_cr_non_pd(
    p, cr_gap, next_gap, next_rows
):
    first_session = p["sessions"][0][0]
    later = [d for d, _ in p["studies"] if d > first_session]
    cr_day = max(later, default=first_session) + cr_gap
    studies = [*p["studies"], (cr_day, _all_absent()), (cr_day + next_gap, next_rows)]
    result = build([{**p, "studies": studies}]).run()
    scoped = {}
    for r in result.timepoint_responses.to_pylist() + result.session_responses.to_pylist():
        key = (r["criteria"], r.get("session_id"), r.get("scope"))
        scoped.setdefault(key, []).append(r)
    for scope_rows in scoped.values():
        scope_rows.sort(key=lambda r: r["study_date"])
        for before, after in zip([None, *scope_rows], scope_rows, strict=False):
            after_cr = before is not None and before["overall_response"] == "CR"
            if after_cr:
                assert after["overall_response"] in ("CR", "PR", "NE", "PD"), after["reason"]
            if "reappeared after CR" in after["reason"]:
                assert after_cr and after["overall_response"] == "PD"
                assert f"after CR ({before['study_date']})" in after["reason"]
