"""One test per rule of shared/spec/response-criteria.md (B, R, M, F, X), hand-computed.

Patients are built with :class:`Cohort` (dicts -> Arrow tables with the
warehouse column types); lesions with ``T`` (target), ``node`` (nodal target),
``NT`` (non-target) and ``NEW``. Unless a test says otherwise the viable
diameter equals the longest diameter, so mRECIST and RECIST 1.1 agree.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from config import load_config
from transforms.responses import compute_timepoints
from transforms.responses.timepoints import TimepointResult
from transforms.staging import StagedDataset, stage_dataset
from warehouse.schema import PUBLIC_COLUMNS

PARAMS = load_config().section("response")
INGEST = load_config().section("ingest")
ALL_SEGMENTS = list(range(1, 9))
SAME = object()

SESSION_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("session_id", pa.string()),
        ("session_date", pa.date32()),
        ("session_number", pa.int32()),
        ("modality", pa.string()),
        ("treated_segments", pa.list_(pa.int32())),
    ]
)
STUDY_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("study_date", pa.date32()),
        ("modality", pa.string()),
        ("ascites", pa.bool_()),
    ]
)
LESION_SCHEMA = pa.schema(
    [
        ("patient_key", pa.string()),
        ("study_date", pa.date32()),
        ("lesion_id", pa.string()),
        ("role", pa.string()),
        ("organ", pa.string()),
        ("liver_segment", pa.int32()),
        ("status", pa.string()),
        ("longest_diameter_mm", pa.decimal128(10, 1)),
        ("short_axis_mm", pa.decimal128(10, 1)),
        ("viable_diameter_mm", pa.decimal128(10, 1)),
        ("is_nodal", pa.bool_()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def mm(text: str) -> Decimal:
    return Decimal(text)


def _dec(x: float | str | None) -> Decimal | None:
    return None if x is None else Decimal(str(x))


def _lesion(lesion_id, role, status, *, ld=None, sa=None, viable=None, organ="liver", seg=5):
    return {
        "lesion_id": lesion_id,
        "role": role,
        "organ": organ,
        "liver_segment": seg if organ == "liver" else None,
        "status": status,
        "longest_diameter_mm": _dec(ld),
        "short_axis_mm": _dec(sa),
        "viable_diameter_mm": _dec(viable),
        "is_nodal": organ == "lymph_node",
    }


def T(lesion_id, ld=None, status="measured", *, viable=SAME, seg=5, organ="liver"):
    """A non-nodal target; its viable diameter defaults to the longest diameter."""
    return _lesion(
        lesion_id,
        "target",
        status,
        ld=ld,
        viable=ld if viable is SAME else viable,
        organ=organ,
        seg=seg,
    )


def node(lesion_id, sa=None, status="measured", role="target"):
    return _lesion(lesion_id, role, status, sa=sa, organ="lymph_node")


def NT(lesion_id, status="present", *, organ="liver", seg=5, sa=None):
    return _lesion(lesion_id, "non_target", status, organ=organ, seg=seg, sa=sa)


def NEW(lesion_id, status="present", *, organ="liver", seg=5):
    return _lesion(lesion_id, "new", status, organ=organ, seg=seg)


class Cohort:
    """Sessions, studies and lesion rows of a few patients, written by hand."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self.studies: list[dict[str, Any]] = []
        self.lesions: list[dict[str, Any]] = []

    def session(self, date: str, segments=ALL_SEGMENTS, patient: str = "p1") -> Cohort:
        number = 1 + sum(s["patient_key"] == patient for s in self.sessions)
        self.sessions.append(
            {
                "patient_key": patient,
                "session_id": f"{patient}-s{number}",
                "session_date": D(date),
                "session_number": number,
                "modality": "cTACE",
                "treated_segments": list(segments),
            }
        )
        return self

    def study(self, date: str, *lesions: dict, patient: str = "p1", ascites=False) -> Cohort:
        self.studies.append(
            {"patient_key": patient, "study_date": D(date), "modality": "CT", "ascites": ascites}
        )
        return self.rows(date, *lesions, patient=patient)

    def rows(self, date: str, *lesions: dict, patient: str = "p1") -> Cohort:
        """Lesion rows only (no imaging study row)."""
        for lesion in lesions:
            self.lesions.append(
                {
                    **lesion,
                    "patient_key": patient,
                    "study_date": D(date),
                    "source_file": "lesions.csv",
                    "source_row": len(self.lesions) + 1,
                }
            )
        return self

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        return (
            pa.Table.from_pylist(self.sessions, schema=SESSION_SCHEMA),
            pa.Table.from_pylist(self.studies, schema=STUDY_SCHEMA),
            pa.Table.from_pylist(self.lesions, schema=LESION_SCHEMA),
        )

    def run(self, **params: Any) -> TimepointResult:
        return compute_timepoints(*self.tables(), {**PARAMS, **params})


def rows(table: pa.Table, criteria: str = "RECIST1.1", **where: Any) -> list[dict[str, Any]]:
    """Rows of one criteria (and patient/scope/session filters), in date order."""
    where.setdefault("patient_key", "p1")
    if "scope" in table.column_names:
        where.setdefault("scope", "overall")
    found = [
        r
        for r in table.to_pylist()
        if r["criteria"] == criteria and all(r[k] == v for k, v in where.items())
    ]
    return sorted(found, key=lambda r: (r.get("session_number") or 0, r["study_date"]))


def at(table: pa.Table, date: str, criteria: str = "RECIST1.1", **where: Any) -> dict[str, Any]:
    found = [r for r in rows(table, criteria, **where) if r["study_date"] == D(date)]
    assert len(found) == 1, f"{len(found)} rows on {date}"
    return found[0]


def overall(table: pa.Table, criteria: str = "RECIST1.1", **where: Any) -> list[str | None]:
    return [r["overall_response"] for r in rows(table, criteria, **where)]


# ---------------------------------------------------------------- timepoints


def test_B1_a_timepoint_is_an_imaging_study():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30))
    c.rows("2026-02-01", T("L1", 90))  # lesion rows without an imaging study: no timepoint
    c.study("2026-03-01")  # an imaging study without lesion rows is a timepoint
    tp = c.run().timepoint_responses
    assert [r["study_date"] for r in rows(tp)] == [D("2026-01-01"), D("2026-03-01")]
    follow_up = at(tp, "2026-03-01")
    assert follow_up["overall_response"] == "NE"
    assert follow_up["reason"] == "NE (R6): no lesion recorded at this study: target L1 missing"


def test_B1_empty_inputs_give_empty_tables():
    result = Cohort().run()
    assert result.timepoint_responses.num_rows == 0
    assert result.session_responses.num_rows == 0
    assert result.quarantined.num_rows == 0


def test_B2_no_course_baseline_gives_ne_rows_without_baseline_row():
    c = Cohort().session("2026-04-10")
    c.study("2026-01-09", T("L1", 30))  # 91 days before the session: outside the look-back
    c.study("2026-05-01", T("L1", 20)).study("2026-06-01", T("L1", 10))
    c.study("2026-01-01", T("L1", 30), patient="no-session")  # no session: no rows at all
    result = c.run()
    tp = result.timepoint_responses
    assert [r["study_date"] for r in rows(tp)] == [D("2026-05-01"), D("2026-06-01")]
    for r in rows(tp) + rows(tp, "mRECIST"):
        assert r["overall_response"] == "NE"
        assert "no baseline" in r["reason"] and r["reason"].startswith("NE (B2)")
        assert r["baseline_date"] is None and r["target_response"] is None
        assert r["has_target_disease"] is False
    assert "no-session" not in tp["patient_key"].to_pylist()
    sessions = result.session_responses
    assert overall(sessions) == ["NE", "NE"]
    assert rows(sessions)[0]["reason"].startswith("NE (B3): no baseline")
    assert rows(sessions)[0]["out_of_field_progression"] is None


def test_B3_second_session_rebaselines():
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 50)).study("2026-03-01", T("L1", 40))
    c.study("2026-04-01", T("L1", 30)).study("2026-06-01", T("L1", 20))
    result = c.run()
    s1 = rows(result.session_responses, session_id="p1-s1")
    assert [r["study_date"] for r in s1] == [D("2026-01-01"), D("2026-03-01"), D("2026-04-01")]
    assert [r["overall_response"] for r in s1] == [None, "SD", "PR"]  # -20 %, -40 % from 50
    s2 = rows(result.session_responses, session_id="p1-s2")
    assert [r["study_date"] for r in s2] == [D("2026-04-01"), D("2026-06-01")]
    assert s2[1]["baseline_date"] == D("2026-04-01")
    assert s2[1]["baseline_sum_mm"] == mm("30.0")
    assert s2[1]["pct_change_from_baseline"] == -33.3
    assert s2[1]["overall_response"] == "PR"
    assert s2[1]["days_after_session"] == 52
    assert s2[0]["days_after_session"] == -9
    assert at(result.timepoint_responses, "2026-06-01")["pct_change_from_baseline"] == -60.0


def test_B3_study_on_the_next_session_date_is_that_sessions_baseline_only():
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 50)).study("2026-04-10", T("L1", 40))
    c.study("2026-05-01", T("L1", 20))
    sessions = c.run().session_responses
    s1 = rows(sessions, session_id="p1-s1")
    assert [r["study_date"] for r in s1] == [D("2026-01-01")]  # no follow-up before session 2
    s2 = rows(sessions, session_id="p1-s2")
    assert [(r["study_date"], r["reason"]) for r in s2][0] == (D("2026-04-10"), "baseline")
    assert s2[1]["pct_change_from_baseline"] == -50.0
    assert s2[0]["days_after_session"] == 0


def test_B4_studies_before_the_course_baseline_are_ignored():
    c = Cohort().session("2026-02-01")
    c.study("2025-12-01", T("L1", 30))  # within the look-back but not the last: ignored
    c.study("2026-01-15", T("L1", 50)).study("2026-03-01", T("L1", 40))
    tp = c.run().timepoint_responses
    assert [r["study_date"] for r in rows(tp)] == [D("2026-01-15"), D("2026-03-01")]
    r = at(tp, "2026-03-01")
    assert (r["nadir_sum_mm"], r["overall_response"]) == (mm("50.0"), "SD")


def test_B5_baseline_row_has_sums_and_null_responses():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), node("N1", 15)).study(
        "2026-03-01", T("L1", 30), node("N1", 15)
    )
    result = c.run()
    for table in (result.timepoint_responses, result.session_responses):
        for criteria in ("RECIST1.1", "mRECIST"):
            base = at(table, "2026-01-01", criteria)
            assert base["reason"] == "baseline"
            assert (base["sum_mm"], base["baseline_sum_mm"]) == (mm("45.0"), mm("45.0"))
            assert base["days_from_baseline"] == 0 and base["nadir_sum_mm"] is None
            for col in ("target_response", "nontarget_response", "new_lesions", "overall_response"):
                assert base[col] is None
            assert base["pct_change_from_baseline"] is None
    assert at(result.session_responses, "2026-01-01")["out_of_field_progression"] is None
    assert at(result.session_responses, "2026-01-01")["days_after_session"] == -9


def test_B6_windows_are_closed_and_responses_continue_after_pd():
    c = Cohort().session("2026-04-10")
    c.study("2026-01-10", T("L1", 50))  # exactly 90 days before: inside the look-back
    c.study("2026-05-01", T("L1", 40)).study("2026-06-01", T("L1", 50))
    c.study("2026-07-01", T("L1", 45))
    tp = c.run().timepoint_responses
    assert at(tp, "2026-05-01")["baseline_date"] == D("2026-01-10")
    assert overall(tp) == [None, "SD", "PD", "SD"]
    after_pd = at(tp, "2026-07-01")  # nadir is still 40 (2026-05-01): +12.5 %, +5 mm is not PD
    assert after_pd["nadir_sum_mm"] == mm("40.0")
    assert after_pd["pct_change_from_nadir"] == 12.5


# ---------------------------------------------------------------- sums


def test_R1_target_first_seen_after_baseline_is_quarantined_and_ignored():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30))
    c.study("2026-03-01", T("L1", 20), T("L9", 40))  # L9: a "target" that was not one at baseline
    result = c.run()
    assert result.quarantined.to_pylist() == [
        {
            "source_file": "lesions.csv",
            "source_row": 3,
            "column_name": "role",
            "reason_code": "target_after_baseline",
            "action": "row_rejected",
            "reason": "role is target, but the lesion was not a target at the course baseline "
            "(targets are fixed at baseline, response-criteria R1)",
        }
    ]
    r = at(result.timepoint_responses, "2026-03-01")
    assert (r["sum_mm"], r["overall_response"]) == (mm("20.0"), "PR")


def test_R2_nodal_target_uses_short_axis():
    c = Cohort().session("2026-01-10")
    nodal = _lesion("N1", "target", "measured", ld=25, sa=15, organ="lymph_node")
    c.study("2026-01-01", T("L1", 30), nodal)
    base = at(c.run().timepoint_responses, "2026-01-01")
    assert base["sum_mm"] == mm("45.0")  # 30 + short axis 15, not the 25 mm long axis


def test_R2_too_small_counts_5mm_absent_and_coalesced_0mm():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), T("L2", 20), T("L3", 10))
    c.study(
        "2026-03-01",
        T("L1", status="too_small"),
        T("L2", status="absent"),
        T("L3", status="coalesced"),
    )
    r = at(c.run().timepoint_responses, "2026-03-01")
    assert r["sum_mm"] == mm("5.0")
    assert r["pct_change_from_baseline"] == -91.7
    assert r["target_response"] == "PR"  # 5 mm is not 0 mm: not CR


def test_R2_split_fragments_add_up():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 40))
    c.study("2026-03-01", T("L1", 15), T("L1", 12))  # L1 split in two
    r = at(c.run().timepoint_responses, "2026-03-01")
    assert (r["sum_mm"], r["pct_change_from_baseline"], r["overall_response"]) == (
        mm("27.0"),
        -32.5,
        "PR",
    )


def test_R2_fragment_without_size_makes_the_lesion_sizeless():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 40))
    c.study("2026-03-01", T("L1", 15), T("L1", None))
    r = at(c.run().timepoint_responses, "2026-03-01")
    assert r["sum_mm"] is None
    assert r["reason"] == "NE (R6): target L1 without longest diameter"


def _staged_lesions(column: str, texts: list[str], **ingest: Any) -> StagedDataset:
    """Lesion rows of p1 on 2026-01-01 through staging, ``column`` given as ``texts``."""
    n = len(texts)
    given = {
        "patient_key": ["p1"] * n,
        "study_date": ["2026-01-01"] * n,
        "lesion_id": [f"L{i}" for i in range(1, n + 1)],
        "role": ["target"] * n,
        "organ": ["liver"] * n,
        "liver_segment": ["5"] * n,
        "status": ["measured"] * n,
        "longest_diameter_mm": ["30.0"] * n,
        column: texts,
        "source_file": ["lesions.csv"] * n,
        "source_row": list(range(1, n + 1)),
    }
    raw = pa.table(
        {k: pa.array(v, pa.int64() if k == "source_row" else pa.string()) for k, v in given.items()}
    )
    studies = pa.table({"patient_key": ["p1"], "study_date": pa.array([D("2026-01-01")])})
    return stage_dataset("lesions", raw, {**INGEST, **ingest}, studies=studies)


ROUNDED_ONCE = {  # text as given -> mm (half away from zero, one rounding)
    "50.04": "50.0",
    "50.05": "50.1",
    "50.0499": "50.0",  # rounded twice (50.050, then 50.1) before
    "50.15": "50.2",
    "50.049999999999999999999999": "50.0",
    "50.0500": "50.1",
    "5.00499e1": "50.0",
    "0.05": "0.1",
    "0.04": "0.0",
    "-0.0": "0.0",
    "-0.04": "0.0",  # rounds to 0.0: in range, and never a negative zero
}


@pytest.mark.parametrize("column", ["longest_diameter_mm", "short_axis_mm", "viable_diameter_mm"])
def test_R2_diameters_are_rounded_once_half_away_from_zero_from_the_text(column):
    staged = _staged_lesions(column, [*ROUNDED_ONCE, "-0.05"])
    # -0.05 rounds to -0.1: below 0, quarantined (and only it). The longest diameter
    # of a measured non-nodal target is required (the row is rejected); the other
    # diameters are optional there (the value is nulled and the row loads).
    required = column == "longest_diameter_mm"
    assert [str(x) for x in staged.facts.sort_by("source_row").column(column).to_pylist()] == (
        list(ROUNDED_ONCE.values()) + ([] if required else ["None"])
    )
    assert [
        (r["source_row"], r["column_name"], r["reason_code"], r["action"])
        for r in staged.quarantine.to_pylist()
    ] == [
        (
            len(ROUNDED_ONCE) + 1,
            column,
            "out_of_range",
            "row_rejected" if required else "value_nulled",
        )
    ]


def test_R2_one_rounding_keeps_pd_at_the_boundary():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01").study("2026-03-01")
    sessions, studies, _ = c.tables()
    texts = {"2026-01-01": "50.0499", "2026-03-01": "60.0"}  # 50.0 then +10.0 mm, +20.0 %
    raw = pa.table(
        {
            "patient_key": ["p1", "p1"],
            "study_date": list(texts),
            "lesion_id": ["L1", "L1"],
            "role": ["target", "target"],
            "organ": ["liver", "liver"],
            "liver_segment": ["5", "5"],
            "status": ["measured", "measured"],
            "longest_diameter_mm": list(texts.values()),
            "viable_diameter_mm": list(texts.values()),
            "source_file": ["lesions.csv"] * 2,
            "source_row": pa.array([1, 2], pa.int64()),
        }
    )
    lesions = stage_dataset("lesions", raw, INGEST, studies=studies).facts
    tp = compute_timepoints(sessions, studies, lesions, PARAMS).timepoint_responses
    assert at(tp, "2026-01-01")["sum_mm"] == mm("50.0")
    assert at(tp, "2026-03-01")["reason"] == (
        "PD (R5): sum 60.0 mm is +20.0% (+10.0 mm) over nadir 50.0 mm (2026-01-01)"
    )
    assert at(tp, "2026-03-01", "mRECIST")["overall_response"] == "PD"


def test_R2_the_rounding_precision_comes_from_config():
    staged = _staged_lesions("longest_diameter_mm", ["50.5", "50.4999", "-0.4"], diameter_scale=0)
    assert [str(x) for x in staged.facts.sort_by("source_row").column(
        "longest_diameter_mm").to_pylist()] == ["51.0", "50.0", "0.0"]  # fmt: skip
    with pytest.raises(Exception, match="diameter_scale must be 0 or 1"):
        _staged_lesions("longest_diameter_mm", ["50.05"], diameter_scale=2)


def test_R3_sum_not_evaluable_when_a_target_is_not_evaluated_or_missing():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), T("L2", 20))
    c.study("2026-03-01", T("L1", 30), T("L2", status="not_evaluated"))
    c.study("2026-05-01", T("L1", 30))
    tp = c.run().timepoint_responses
    assert at(tp, "2026-03-01")["sum_mm"] is None
    assert at(tp, "2026-03-01")["reason"] == "NE (R6): target L2 not evaluated"
    assert at(tp, "2026-05-01")["reason"] == "NE (R6): target L2 missing"


def test_R4_nadir_is_smallest_earlier_evaluable_sum():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), T("L2", 20))  # 50
    c.study("2026-02-01", T("L1", 20), T("L2", status="not_evaluated"))  # not evaluable
    c.study("2026-03-01", T("L1", 25), T("L2", 15))  # 40
    c.study("2026-04-01", T("L1", 30), T("L2", 15))  # 45
    c.study("2026-05-01", T("L1", 20), T("L2", 15))  # 35
    tp = c.run().timepoint_responses
    assert [r["nadir_sum_mm"] for r in rows(tp)] == [
        None,
        mm("50.0"),
        mm("50.0"),
        mm("40.0"),
        mm("40.0"),
    ]
    assert "nadir 40.0 mm (2026-03-01)" in at(tp, "2026-04-01")["reason"]


# ---------------------------------------------------------------- target response


def test_R5_pd_needs_both_5mm_and_20pct_at_exact_boundaries():
    c = Cohort()
    for patient, base, now in (("p1", 25.0, 30.0), ("p2", 24.5, 29.4), ("p3", 50.0, 59.9)):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", T("L1", base), patient=patient)
        c.study("2026-03-01", T("L1", now), patient=patient)
    tp = c.run().timepoint_responses
    exact = at(tp, "2026-03-01", patient_key="p1")  # +5.0 mm and +20.0 %: PD
    assert exact["overall_response"] == "PD"
    assert exact["reason"] == (
        "PD (R5): sum 30.0 mm is +20.0% (+5.0 mm) over nadir 25.0 mm (2026-01-01)"
    )
    assert exact["progression_date_hint"] == D("2026-03-01")
    assert at(tp, "2026-03-01", patient_key="p2")["overall_response"] == "SD"  # +20 %, +4.9 mm
    assert at(tp, "2026-03-01", patient_key="p3")["overall_response"] == "SD"  # +9.9 mm, +19.8 %


def test_R5_missing_target_gives_pd_only_when_already_certain():
    c = Cohort()
    for patient, l1 in (("p1", 61.0), ("p2", 59.0)):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", T("L1", 30), T("L2", 20), patient=patient)
        c.study("2026-03-01", T("L1", l1), patient=patient)  # L2 has no row
    tp = c.run().timepoint_responses
    certain = at(tp, "2026-03-01", patient_key="p1")
    assert (certain["overall_response"], certain["sum_mm"]) == ("PD", None)
    assert certain["reason"] == (
        "PD (R5): measured targets already sum 61.0 mm, +22.0% (+11.0 mm) over nadir 50.0 mm "
        "(2026-01-01) (L2 missing)"
    )
    unsure = at(tp, "2026-03-01", patient_key="p2")  # 59 mm: +18 % so far
    assert unsure["overall_response"] == "NE"
    assert unsure["reason"] == "NE (R6): target L2 missing"


def test_R5_reappearance_after_cr_is_pd_against_nadir_zero():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 20)).study("2026-03-01", T("L1", status="absent"))
    c.study("2026-05-01", T("L1", 6))
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "CR", "PD"]
    assert at(tp, "2026-05-01")["reason"] == (  # R5 holds, and so does R15 (CR just before)
        "PD (R5, R15): sum 6.0 mm is +6.0 mm over nadir 0.0 mm (2026-03-01); "
        "reappeared after CR (2026-03-01): target L1 at 6.0 mm longest diameter"
    )
    assert at(tp, "2026-05-01")["pct_change_from_nadir"] is None


def test_R6_baseline_not_evaluable_gives_ne_but_new_lesions_still_pd():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), T("L2", status="not_evaluated"))
    c.study("2026-03-01", T("L1", 10), T("L2", 10))
    c.study("2026-05-01", T("L1", 10), T("L2", 10), NEW("X1"))
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "NE", "PD"]
    assert at(tp, "2026-03-01")["reason"] == (
        "NE (R6): baseline sum not evaluable (L2 not evaluated at baseline)"
    )
    assert at(tp, "2026-05-01")["reason"] == "PD (R11): new lesion X1"


def test_R7_nodal_cr_with_non_zero_sum():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), node("N1", 20))
    c.study("2026-03-01", T("L1", status="absent"), node("N1", 9.9))
    c.study("2026-05-01", T("L1", status="absent"), node("N1", 10.0))
    tp = c.run().timepoint_responses
    cr = at(tp, "2026-03-01")
    assert (cr["target_response"], cr["overall_response"], cr["sum_mm"]) == ("CR", "CR", mm("9.9"))
    assert cr["reason"] == (
        "CR (R7): every non-nodal target longest diameter 0 mm and every nodal target "
        "< 10.0 mm short axis (sum 9.9 mm); no non-target at baseline"
    )
    after = at(tp, "2026-05-01")  # a 10.0 mm node is not normal: targets PR, and right after
    assert (after["target_response"], after["overall_response"]) == ("PR", "PD")  # a CR: R15


def test_R8_exactly_minus_30pct_is_pr():
    c = Cohort()
    for patient, l1 in (("p1", "15.0"), ("p2", "15.1")):  # sums 35.0 and 35.1 vs 50.0
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", T("L1", 30), T("L2", 20), patient=patient)
        c.study("2026-03-01", T("L1", l1), T("L2", 20), patient=patient)
    tp = c.run().timepoint_responses
    pr = at(tp, "2026-03-01", patient_key="p1")
    assert pr["overall_response"] == "PR"
    assert pr["reason"] == "PR (R8): sum 35.0 mm is -30.0% (-15.0 mm) from baseline 50.0 mm"
    assert at(tp, "2026-03-01", patient_key="p2")["overall_response"] == "SD"  # -29.8 %


def test_R9_sd_otherwise():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 50)).study("2026-03-01", T("L1", 45))
    r = at(c.run().timepoint_responses, "2026-03-01")
    assert (r["target_response"], r["overall_response"]) == ("SD", "SD")
    assert r["reason"] == (
        "SD (R9): sum 45.0 mm is -10.0% (-5.0 mm) from baseline 50.0 mm and -10.0% (-5.0 mm) "
        "from nadir 50.0 mm (2026-01-01)"
    )


# ---------------------------------------------------------------- non-target and new lesions


def test_R10_nontarget_response_first_match():
    c = Cohort().session("2026-01-10")
    c.study(
        "2026-01-01", T("L1", 50), NT("NT1"), node("NT2", 15, status="present", role="non_target")
    )
    nodes = {"status": "present", "role": "non_target"}
    c.study("2026-02-01", T("L1", 50), NT("NT1", "absent"), node("NT2", 8, **nodes))
    c.study("2026-03-01", T("L1", 50), NT("NT1", "not_evaluated"), node("NT2", 8, **nodes))
    c.study("2026-04-01", T("L1", 50), NT("NT1"))  # NT2 has no row
    c.study("2026-05-01", T("L1", 50), NT("NT1", "progression"), node("NT2", 8, **nodes))
    c.study("2026-06-01", T("L1", 50), NT("NT1"), node("NT2", 12, **nodes))
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", T("L1", 50), patient="p2").study("2026-03-01", T("L1", 50), patient="p2")
    tp = c.run().timepoint_responses
    assert [r["nontarget_response"] for r in rows(tp)] == [
        None,
        "CR",
        "NE",
        "NE",
        "PD",
        "NON-CR/NON-PD",
    ]
    assert overall(tp) == [None, "SD", "SD", "SD", "PD", "SD"]
    assert at(tp, "2026-05-01")["reason"] == "PD (R10): non-target NT1 progressed"
    assert at(tp, "2026-03-01", patient_key="p2")["nontarget_response"] is None  # none at baseline


def test_R11_new_lesion_present_is_pd():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 50)).study("2026-03-01", T("L1", 20), NEW("X7"), NEW("X8"))
    r = at(c.run().timepoint_responses, "2026-03-01")
    assert (r["new_lesions"], r["overall_response"]) == (True, "PD")
    assert r["reason"] == "PD (R11): new lesions X7, X8"
    assert r["progression_date_hint"] == D("2026-03-01")


def test_R11_equivocal_then_present_dates_progression_to_first_sighting():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 50))
    c.study("2026-03-01", T("L1", 50), NEW("X1", "equivocal"))
    c.study("2026-05-01", T("L1", 50), NEW("X1"))
    tp = c.run().timepoint_responses
    first = at(tp, "2026-03-01")
    assert (first["new_lesions"], first["overall_response"]) == (False, "SD")
    assert first["reason"].endswith("; equivocal new lesion X1 is not progression (R11)")
    confirmed = at(tp, "2026-05-01")
    assert confirmed["overall_response"] == "PD"
    assert confirmed["reason"] == "PD (R11): new lesion X1 (first seen 2026-03-01)"
    assert confirmed["progression_date_hint"] == D("2026-03-01")


def test_R11_lesion_present_at_the_scope_baseline_is_not_new():
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 50))
    c.study("2026-04-01", T("L1", 50), NEW("X1"))  # found before session 2
    c.study("2026-06-01", T("L1", 50), NEW("X1"))
    result = c.run()
    assert at(result.timepoint_responses, "2026-06-01")["overall_response"] == "PD"
    s2 = at(result.session_responses, "2026-06-01", session_id="p1-s2")
    assert (s2["new_lesions"], s2["overall_response"]) == (False, "SD")


def test_R11_a_row_at_the_scope_baseline_in_any_role_but_equivocal_new_is_not_new():
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 50))
    c.study(  # session 2's baseline: X1 new, X2 only equivocal, X3 a non-target row
        "2026-04-01", T("L1", 50), NEW("X1"), NEW("X2", "equivocal"), NT("X3", "absent")
    )
    c.study("2026-06-01", T("L1", 50), NEW("X1"), NEW("X2"), NEW("X3"), NEW("L1"))
    result = c.run()
    s2 = at(result.session_responses, "2026-06-01", session_id="p1-s2")
    assert (s2["new_lesions"], s2["overall_response"]) == (True, "PD")
    assert s2["reason"] == "PD (R11): new lesion X2"  # L1 has its target row at baseline
    assert s2["progression_date_hint"] == D("2026-06-01")
    course = at(result.timepoint_responses, "2026-06-01")  # none of X1-X3 at the course baseline
    assert course["reason"] == (
        "PD (R11): new lesions X1 (first seen 2026-04-01), X2 (first seen 2026-04-01), X3"
    )


def test_R11_new_lesion_after_cr_of_targets_is_pd():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 20)).study("2026-03-01", T("L1", status="absent"))
    c.study("2026-05-01", T("L1", status="absent"), NEW("X3"))
    assert overall(c.run().timepoint_responses) == [None, "CR", "PD"]


# ---------------------------------------------------------------- overall response


def test_R12_overall_with_target_disease():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), NT("NT1"))
    c.study("2026-02-01", T("L1", status="absent"), NT("NT1"))
    c.study("2026-03-01", T("L1", status="absent"), NT("NT1", "absent"))
    c.study("2026-04-01", T("L1", status="absent"), NT("NT1", "not_evaluated"))
    c.study("2026-05-01", T("L1", status="not_evaluated"), NT("NT1", "absent"))
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", T("L1", 30), NT("NT1"), patient="p2")
    c.study("2026-03-01", T("L1", 28), NT("NT1", "not_evaluated"), patient="p2")
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "PR", "CR", "PR", "NE"]
    assert at(tp, "2026-02-01")["reason"] == (
        "PR (R12): targets CR (every non-nodal target longest diameter 0 mm and every nodal "
        "target < 10.0 mm short axis (sum 0.0 mm)) but non-target NT1 present"
    )
    assert at(tp, "2026-03-01")["reason"].endswith("; every non-target resolved")
    assert at(tp, "2026-05-01")["reason"] == "NE (R6): target L1 not evaluated"
    assert overall(tp, patient_key="p2") == [None, "SD"]  # target SD, non-target NE


def test_R13_non_target_disease_only():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", NT("NT1"), NT("NT2"))
    c.study("2026-02-01", NT("NT1"), NT("NT2"))
    c.study("2026-03-01", NT("NT1", "absent"), NT("NT2", "absent"))
    c.study("2026-04-01", NT("NT1", "not_evaluated"), NT("NT2", "absent"))
    c.study("2026-05-01", NT("NT1", "absent"), NT("NT2", "absent"), NEW("X1"))
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "NON-CR/NON-PD", "CR", "NE", "PD"]
    assert all(r["target_response"] is None and r["has_target_disease"] is False for r in rows(tp))
    assert at(tp, "2026-02-01")["reason"] == (
        "NON-CR/NON-PD (R13): non-targets NT1, NT2 present; no target at baseline"
    )
    assert at(tp, "2026-03-01")["reason"] == (
        "CR (R10): every non-target resolved; no target at baseline"
    )
    assert at(tp, "2026-04-01")["reason"] == "NE (R13): non-target NT1 not evaluated"


def test_R14_no_disease_at_baseline():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01").study("2026-03-01").study("2026-05-01", NEW("X1"))
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "NE", "PD"]
    assert at(tp, "2026-03-01")["reason"] == (
        "NE (R14): no measurable or evaluable disease at baseline"
    )
    assert at(tp, "2026-05-01")["reason"] == "PD (R11): new lesion X1"


def test_R15_target_reappearing_after_an_overall_cr_is_pd_below_r5():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 20), T("L2", 10))
    c.study("2026-03-01", T("L1", status="absent"), T("L2", status="absent"))
    c.study("2026-05-01", T("L1", 4), T("L2", status="absent"))  # +4 mm: R5 alone says PR
    c.study("2026-07-01", T("L1", 4), T("L2", status="absent"))  # after a PD: R5 alone
    tp = c.run().timepoint_responses
    assert overall(tp) == [None, "CR", "PD", "PR"]
    pd = at(tp, "2026-05-01")
    assert (pd["target_response"], pd["sum_mm"]) == ("PR", mm("4.0"))
    assert pd["reason"] == (
        "PD (R15): reappeared after CR (2026-03-01): target L1 at 4.0 mm longest diameter"
    )
    assert pd["progression_date_hint"] == D("2026-05-01")
    assert at(tp, "2026-07-01")["reason"].startswith("PR (R8): sum 4.0 mm")
    # mRECIST: the nadir is 0 mm, so M2 holds too
    assert at(tp, "2026-05-01", "mRECIST")["reason"] == (
        "PD (M2, M6): sum 4.0 mm is +4.0 mm over nadir 0.0 mm (2026-03-01); "
        "reappeared after CR (2026-03-01): target L1 at 4.0 mm viable diameter"
    )


def test_R15_nodal_target_after_an_overall_cr_is_pd_from_10mm_short_axis():
    c = Cohort()
    for patient, short_axis in (("p1", 9.9), ("p2", 10.0)):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", T("L1", 30), node("N1", 20), patient=patient)
        c.study("2026-03-01", T("L1", status="absent"), node("N1", 9.9), patient=patient)
        c.study("2026-05-01", T("L1", status="absent"), node("N1", short_axis), patient=patient)
    tp = c.run().timepoint_responses
    for criteria in ("RECIST1.1", "mRECIST"):
        assert overall(tp, criteria, patient_key="p1") == [None, "CR", "CR"]  # 9.9 mm: normal
        assert overall(tp, criteria, patient_key="p2") == [None, "CR", "PD"]  # +0.1 mm: not R5
    rule = {"RECIST1.1": "R15", "mRECIST": "M6"}
    for criteria in rule:
        assert at(tp, "2026-05-01", criteria, patient_key="p2")["reason"] == (
            f"PD ({rule[criteria]}): reappeared after CR (2026-03-01): "
            "target N1 at 10.0 mm short axis"
        )


def test_R15_non_target_present_or_progressing_again_after_an_overall_cr_is_pd():
    c = Cohort()
    for patient, status in (("p1", "present"), ("p2", "progression")):
        c.session("2026-01-10", patient=patient)
        c.study("2026-01-01", NT("NT1"), NT("NT2"), patient=patient)
        c.study("2026-03-01", NT("NT1", "absent"), NT("NT2", "absent"), patient=patient)
        c.study("2026-05-01", NT("NT1", status), NT("NT2", "absent"), patient=patient)
    tp = c.run().timepoint_responses
    for criteria in ("RECIST1.1", "mRECIST"):
        assert overall(tp, criteria, patient_key="p1") == [None, "CR", "PD"]  # was NON-CR/NON-PD
        assert overall(tp, criteria, patient_key="p2") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", patient_key="p1")["reason"] == (
        "PD (R15): reappeared after CR (2026-03-01): non-target NT1 present"
    )
    assert at(tp, "2026-05-01", "mRECIST", patient_key="p1")["reason"] == (
        "PD (M6): reappeared after CR (2026-03-01): non-target NT1 present"
    )
    assert at(tp, "2026-05-01", patient_key="p2")["reason"] == (
        "PD (R10, R15): non-target NT1 progressed; "
        "reappeared after CR (2026-03-01): non-target NT1 progression"
    )


def test_R15_names_every_reappearing_lesion_and_keeps_the_other_pd_rules():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 20), T("L2", 20), node("N1", 15), NT("NT1"))
    c.study(
        "2026-03-01",
        T("L1", status="absent"),
        T("L2", status="absent"),
        node("N1", 5),
        NT("NT1", "absent"),
    )
    c.study(
        "2026-05-01",
        T("L1", 3),
        T("L2", status="too_small"),
        node("N1", 12),
        NT("NT1"),
        NEW("X1"),
    )
    r = at(c.run().timepoint_responses, "2026-05-01")
    assert r["reason"] == (
        "PD (R5, R11, R15): sum 20.0 mm is +300.0% (+15.0 mm) over nadir 5.0 mm (2026-03-01); "
        "new lesion X1; reappeared after CR (2026-03-01): targets L1 at 3.0 mm longest diameter, "
        "L2 at 5.0 mm longest diameter, N1 at 12.0 mm short axis and non-target NT1 present"
    )


def test_R15_applies_only_right_after_an_overall_cr():
    c = Cohort()
    # p1: CR, then NE (L2 not evaluated), then L1 back at 4 mm: the previous assessment is NE
    c.session("2026-01-10", patient="p1")
    c.study("2026-01-01", T("L1", 20), T("L2", 10), patient="p1")
    c.study("2026-03-01", T("L1", status="absent"), T("L2", status="absent"), patient="p1")
    c.study("2026-04-01", T("L1", status="absent"), T("L2", status="not_evaluated"), patient="p1")
    c.study("2026-05-01", T("L1", 4), T("L2", status="absent"), patient="p1")
    # p2: PR (L1 gone, L2 shrunk), then L1 back at 4 mm: R5 and R10 alone decide
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", T("L1", 20), T("L2", 20), NT("NT1"), patient="p2")
    c.study("2026-03-01", T("L1", status="absent"), T("L2", 5), NT("NT1", "absent"), patient="p2")
    c.study("2026-05-01", T("L1", 4), T("L2", 5), NT("NT1"), patient="p2")
    tp = c.run().timepoint_responses
    assert overall(tp, patient_key="p1") == [None, "CR", "NE", "PR"]
    assert overall(tp, patient_key="p2") == [None, "PR", "PR"]  # 9 mm vs nadir 5 mm: +4 mm
    assert at(tp, "2026-05-01", patient_key="p2")["nontarget_response"] == "NON-CR/NON-PD"


def test_R15_cr_in_one_session_scope_then_an_assessment_in_the_next_session_scope():
    c = Cohort().session("2026-01-10").session("2026-04-10")
    c.study("2026-01-01", T("L1", 20))
    c.study("2026-03-01", T("L1", status="absent"))  # CR in session 1; session 2's baseline
    c.study("2026-05-01", T("L1", 4))
    result = c.run()
    tp, sessions = result.timepoint_responses, result.session_responses
    for criteria in ("RECIST1.1", "mRECIST"):
        assert overall(tp, criteria) == [None, "CR", "PD"]  # the course saw the CR just before
        assert overall(sessions, criteria, session_id="p1-s1") == [None, "CR"]
    # Session 2's previous assessment is its baseline (no response): no R15 there;
    # RECIST 1.1 +4 mm over the 0 mm nadir is not R5, mRECIST's M2 holds.
    s2 = rows(sessions, session_id="p1-s2")
    assert [(r["study_date"], r["overall_response"]) for r in s2] == [
        (D("2026-03-01"), None),
        (D("2026-05-01"), "SD"),
    ]
    assert s2[1]["reason"].startswith("SD (R9): sum 4.0 mm")
    assert overall(sessions, "mRECIST", session_id="p1-s2") == [None, "PD"]
    assert at(sessions, "2026-05-01", "mRECIST", session_id="p1-s2")["reason"] == (
        "PD (M2): sum 4.0 mm is +4.0 mm over nadir 0.0 mm (2026-03-01)"
    )


def test_R15_in_field_scope_follows_its_own_previous_response():
    c = Cohort().session("2026-01-10", segments=[5, 6])
    c.study("2026-01-01", T("L1", 30, seg=5), T("L2", 30, seg=7))
    c.study("2026-03-01", T("L1", status="absent", seg=5), T("L2", 30, seg=7))
    c.study("2026-05-01", T("L1", 4, seg=5), T("L2", 30, seg=7))
    result = c.run()
    sessions = result.session_responses
    assert overall(sessions, scope="in_field") == [None, "CR", "PD"]
    assert at(sessions, "2026-05-01", scope="in_field")["reason"] == (
        "PD (R15): reappeared after CR (2026-03-01): target L1 at 4.0 mm longest diameter"
    )
    assert overall(sessions) == [None, "PR", "PR"]  # overall: 34 mm vs nadir 30 mm, PR before
    assert overall(result.timepoint_responses) == [None, "PR", "PR"]
    assert [r["out_of_field_progression"] for r in rows(sessions)] == [None, False, False]


# ---------------------------------------------------------------- mRECIST


def test_M1_mrecist_uses_viable_diameter():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 40, viable=30), node("N1", 15))
    c.study("2026-03-01", T("L1", 40, viable=15), node("N1", 15))
    c.study("2026-05-01", T("L1", 40, viable=None), node("N1", 15))
    tp = c.run().timepoint_responses
    assert at(tp, "2026-01-01", "mRECIST")["sum_mm"] == mm("45.0")  # viable 30 + node 15
    assert at(tp, "2026-03-01", "mRECIST")["overall_response"] == "PR"  # 30 vs 45: -33.3 %
    assert at(tp, "2026-03-01")["overall_response"] == "SD"  # RECIST: 55 vs 55
    no_viable = at(tp, "2026-05-01", "mRECIST")
    assert no_viable["reason"] == "NE (R6): target L1 without viable diameter"
    assert at(tp, "2026-05-01")["overall_response"] == "SD"


def test_M2_mrecist_pd_has_no_5mm_condition():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 10)).study("2026-03-01", T("L1", 12))
    c.study("2026-05-01", T("L1", 12, viable=0)).study("2026-07-01", T("L1", 12, viable=1))
    tp = c.run().timepoint_responses
    assert at(tp, "2026-03-01")["overall_response"] == "SD"  # RECIST: +2 mm
    pd = at(tp, "2026-03-01", "mRECIST")
    assert pd["reason"] == (
        "PD (M2): sum 12.0 mm is +20.0% (+2.0 mm) over nadir 10.0 mm (2026-01-01)"
    )
    assert overall(tp, "mRECIST") == [None, "PD", "CR", "PD"]
    assert at(tp, "2026-07-01", "mRECIST")["reason"] == (
        "PD (M2, M6): sum 1.0 mm is +1.0 mm over nadir 0.0 mm (2026-05-01); "
        "reappeared after CR (2026-05-01): target L1 at 1.0 mm viable diameter"
    )


def test_M3_mrecist_cr_and_pr():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30, viable=20)).study("2026-03-01", T("L1", 30, viable=14))
    c.study("2026-05-01", T("L1", 30, viable=0))
    tp = c.run().timepoint_responses
    assert overall(tp, "mRECIST") == [None, "PR", "CR"]  # 14 = 0.70 x 20 exactly
    assert overall(tp) == [None, "SD", "SD"]
    assert at(tp, "2026-05-01", "mRECIST")["reason"] == (
        "CR (M3): every non-nodal target viable diameter 0 mm and every nodal target "
        "< 10.0 mm short axis (sum 0.0 mm); no non-target at baseline"
    )


def test_M4_non_enhancing_non_target_is_resolved_only_under_mrecist():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30), NT("NT1"))
    c.study("2026-03-01", T("L1", status="absent"), NT("NT1", "non_enhancing"))
    tp = c.run().timepoint_responses
    recist, mrecist = at(tp, "2026-03-01"), at(tp, "2026-03-01", "mRECIST")
    assert (recist["nontarget_response"], recist["overall_response"]) == ("NON-CR/NON-PD", "PR")
    assert (mrecist["nontarget_response"], mrecist["overall_response"]) == ("CR", "CR")
    assert mrecist["reason"].startswith("CR (M3)")


def test_M5_ascites_never_affects_a_response():
    def build(ascites: bool) -> TimepointResult:
        c = Cohort().session("2026-01-10")
        c.study("2026-01-01", T("L1", 30), NT("NT1"), ascites=ascites)
        c.study("2026-03-01", T("L1", 20), NT("NT1"), ascites=ascites)
        return c.run()

    with_ascites, without = build(True), build(False)
    assert with_ascites.timepoint_responses.equals(without.timepoint_responses)
    assert with_ascites.session_responses.equals(without.session_responses)


def test_M6_viable_diameter_reappearing_after_an_overall_cr_is_pd():
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 30, viable=20), node("N1", 15))
    c.study("2026-03-01", T("L1", 25, viable=0), node("N1", 8))  # mRECIST CR: viable 0, node 8
    c.study("2026-05-01", T("L1", 25, viable=1), node("N1", 8))  # 9 mm vs nadir 8 mm: not M2
    tp = c.run().timepoint_responses
    assert overall(tp, "mRECIST") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", "mRECIST")["reason"] == (
        "PD (M6): reappeared after CR (2026-03-01): target L1 at 1.0 mm viable diameter"
    )
    assert overall(tp) == [None, "SD", "SD"]  # RECIST 1.1: no CR before, 33 mm vs 45 mm


def test_M6_non_enhancing_non_target_does_not_reappear_under_mrecist():
    c = Cohort()
    # p1: CR under both, then the non-target non-enhancing: resolved under mRECIST only (M4)
    c.session("2026-01-10", patient="p1")
    c.study("2026-01-01", T("L1", 30), NT("NT1"), patient="p1")
    c.study("2026-03-01", T("L1", status="absent"), NT("NT1", "absent"), patient="p1")
    c.study("2026-05-01", T("L1", status="absent"), NT("NT1", "non_enhancing"), patient="p1")
    # p2: non-enhancing at the mRECIST CR, then present again
    c.session("2026-01-10", patient="p2")
    c.study("2026-01-01", T("L1", 30), NT("NT1"), patient="p2")
    c.study("2026-03-01", T("L1", status="absent"), NT("NT1", "non_enhancing"), patient="p2")
    c.study("2026-05-01", T("L1", status="absent"), NT("NT1"), patient="p2")
    tp = c.run().timepoint_responses
    assert overall(tp, patient_key="p1") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", patient_key="p1")["reason"] == (
        "PD (R15): reappeared after CR (2026-03-01): non-target NT1 non-enhancing"
    )
    assert overall(tp, "mRECIST", patient_key="p1") == [None, "CR", "CR"]
    assert overall(tp, "mRECIST", patient_key="p2") == [None, "CR", "PD"]
    assert at(tp, "2026-05-01", "mRECIST", patient_key="p2")["reason"] == (
        "PD (M6): reappeared after CR (2026-03-01): non-target NT1 present"
    )
    assert overall(tp, patient_key="p2") == [None, "PR", "PR"]  # RECIST 1.1: PR before, not CR


# ---------------------------------------------------------------- in-field response


def test_F1_in_field_scope_uses_treated_segment_lesions_only():
    c = Cohort().session("2026-01-10", segments=[5, 6])
    c.study("2026-01-01", T("L1", 40, seg=5), T("L2", 30, seg=7), T("L3", 20, seg=None))
    c.study("2026-03-01", T("L1", 20, seg=5), T("L2", 30, seg=7), T("L3", 20, seg=None))
    c.study(
        "2026-05-01",
        T("L1", 20, seg=5),
        T("L2", 30, seg=7),
        T("L3", 20, seg=None),
        NEW("X1", seg=6),
    )
    sessions = c.run().session_responses
    in_field = rows(sessions, scope="in_field")
    assert [r["sum_mm"] for r in in_field] == [mm("40.0"), mm("20.0"), mm("20.0")]
    assert [r["overall_response"] for r in in_field] == [None, "PR", "PD"]
    assert in_field[2]["reason"] == "PD (R11): new lesion X1"
    assert overall(sessions) == [None, "SD", "PD"]  # 70 vs 90: -22.2 %
    assert [r["out_of_field_progression"] for r in in_field] == [None, False, False]


def test_F2_in_field_pr_with_out_of_field_progression():
    c = Cohort()
    kept = [T("L2", 20, seg=7), NT("NT1", organ="bone")]
    follow_ups = {
        "p1": [*kept, NEW("X2", seg=8)],  # new lesion in an untreated segment
        "p2": [*kept, NEW("X3", organ="lung")],  # new lesion outside the liver
        "p3": [*kept, NEW("X4", seg=None)],  # new liver lesion without a segment
        "p4": [T("L2", 30, seg=7), NT("NT1", organ="bone")],  # out-of-field sum +50 %, +10 mm
        "p5": [T("L2", 20, seg=7), NT("NT1", "progression", organ="bone")],
    }
    for patient, lesions in follow_ups.items():
        c.session("2026-01-10", segments=[5, 6], patient=patient)
        c.study("2026-01-01", T("L1", 40), *kept, patient=patient)
        c.study("2026-03-01", T("L1", 20), *lesions, patient=patient)
    sessions = c.run().session_responses
    for patient in follow_ups:
        in_field = at(sessions, "2026-03-01", scope="in_field", patient_key=patient)
        assert in_field["overall_response"] == "PR", patient
        assert in_field["out_of_field_progression"] is True, patient
    assert [at(sessions, "2026-03-01", patient_key=p)["overall_response"] for p in follow_ups] == [
        "PD",
        "PD",
        "PD",
        "SD",
        "PD",  # p4: 50 vs 60 mm overall, shrinkage in field hides it
    ]
    p1 = at(sessions, "2026-03-01", scope="in_field", patient_key="p1")
    assert p1["reason"] == (
        "PR (R8): sum 20.0 mm is -50.0% (-20.0 mm) from baseline 40.0 mm; "
        "out of field (F2): PD (R11): new lesion X2"
    )
    p4 = at(sessions, "2026-03-01", scope="in_field", patient_key="p4")
    assert p4["reason"].endswith(
        "out of field (F2): PD (R5): sum 30.0 mm is +50.0% (+10.0 mm) over nadir 20.0 mm "
        "(2026-01-01)"
    )


def test_F2_session_without_a_session_baseline_has_null_out_of_field_progression():
    c = Cohort().session("2026-01-10", segments=[5]).session("2026-08-01", segments=[5])
    c.study("2026-01-01", T("L1", 40, seg=5))
    c.study("2026-03-01", T("L1", 20, seg=5), NEW("X1", seg=8))  # out of field, session 1
    c.study("2026-09-01", T("L1", 20, seg=5), NEW("X2", seg=8))  # session 2: no study in 90 days
    sessions = c.run().session_responses
    s1 = at(sessions, "2026-03-01", scope="in_field", session_id="p1-s1")
    assert (s1["overall_response"], s1["out_of_field_progression"]) == ("PR", True)
    for scope in ("overall", "in_field"):
        s2 = rows(sessions, session_id="p1-s2", scope=scope)
        assert [r["study_date"] for r in s2] == [D("2026-09-01")]
        assert s2[0]["reason"].startswith("NE (B3): no baseline")
        assert s2[0]["out_of_field_progression"] is None


def test_F2_reappearance_after_an_out_of_field_cr_is_not_out_of_field_progression():
    """F2 lists what makes out_of_field_progression; R15 is not among it."""
    c = Cohort().session("2026-01-10", segments=[5])
    c.study("2026-01-01", T("L1", 30, seg=5), T("L2", 30, seg=7))
    c.study("2026-03-01", T("L1", 30, seg=5), T("L2", status="absent", seg=7))
    c.study("2026-05-01", T("L1", 30, seg=5), T("L2", 4, seg=7))  # +4 mm out of field: not R5
    in_field = rows(c.run().session_responses, scope="in_field")
    assert [r["overall_response"] for r in in_field] == [None, "SD", "SD"]
    assert [r["out_of_field_progression"] for r in in_field] == [None, False, False]


def test_F3_session_without_in_field_target():
    c = Cohort().session("2026-01-10", segments=[2, 3])
    c.study("2026-01-01", T("L1", 40, seg=5), NT("NT1", seg=2))
    c.study("2026-03-01", T("L1", 40, seg=5), NT("NT1", seg=2))
    c.session("2026-01-10", segments=[1], patient="p2")
    c.study("2026-01-01", T("L1", 40, seg=5), patient="p2")
    c.study("2026-03-01", T("L1", 40, seg=5), patient="p2")
    sessions = c.run().session_responses
    r = at(sessions, "2026-03-01", scope="in_field")
    assert (r["target_response"], r["has_target_disease"]) == (None, False)
    assert (r["nontarget_response"], r["overall_response"]) == ("NON-CR/NON-PD", "NON-CR/NON-PD")
    empty = at(sessions, "2026-03-01", scope="in_field", patient_key="p2")
    assert empty["overall_response"] == "NE"
    assert empty["reason"] == "NE (R14): no measurable or evaluable disease at baseline"


# ---------------------------------------------------------------- reasons


def test_X1_every_response_has_a_checkable_reason_without_patient_ids():
    c = Cohort()
    c.session("2026-01-10", patient="patient-secret-1")
    c.study("2026-01-01", T("L1", 50), NT("NT1"), patient="patient-secret-1")
    c.study("2026-03-01", T("L1", 62), NT("NT1"), patient="patient-secret-1")
    c.study("2026-05-01", NT("NT1"), patient="patient-secret-1")
    c.session("2026-04-10", patient="patient-secret-2")
    c.study("2026-05-01", patient="patient-secret-2")
    result = c.run()
    rule = re.compile(r"^(CR|PR|SD|PD|NE|NON-CR/NON-PD) \((B2|B3|R\d+|M\d)(, (R\d+|M\d))*\): ")
    every = result.timepoint_responses.to_pylist() + result.session_responses.to_pylist()
    assert every
    for r in every:
        assert "secret" not in r["reason"]
        if r["reason"] == "baseline":
            assert r["overall_response"] is None
        else:
            assert rule.match(r["reason"]), r["reason"]
            assert r["reason"].startswith(r["overall_response"] + " ")
    tp = result.timepoint_responses
    assert at(tp, "2026-03-01", patient_key="patient-secret-1")["reason"] == (
        "PD (R5): sum 62.0 mm is +24.0% (+12.0 mm) over nadir 50.0 mm (2026-01-01)"
    )
    assert at(tp, "2026-05-01", patient_key="patient-secret-1")["reason"] == (
        "NE (R6): target L1 missing"
    )


@pytest.mark.parametrize("table", ["timepoint_responses", "session_responses"])
def test_X1_output_columns_follow_the_warehouse_ddl(table):
    result = Cohort().session("2026-01-10").study("2026-01-01", T("L1", 10)).run()
    columns = PUBLIC_COLUMNS[table]
    internal = ["has_target_disease", "progression_date_hint"]
    expected = [c for c in columns if c != "run_id"] + internal
    assert getattr(result, table).column_names == expected
