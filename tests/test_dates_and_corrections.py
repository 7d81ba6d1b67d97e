"""Dates (issue 9, point 5) and corrections delivered in a later file (point 6).

Dates: a date-time with a zone is converted to the site's local time
(``ingest.timezone``) and stored without a zone, never stored with its zone
dropped; implausible dates are quarantined with their own reason codes; no
negative duration is published (a fatal data-quality check).

Corrections: in a one-row-per-key dataset, a row of a later file (file-name
order) with the key of an earlier row replaces it; the earlier row is kept in
the quarantine with action ``superseded``, and an incremental run that brings
the correction gives the same tables as a full refresh.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import (
    CONFIG,
    RESULT_TABLES,
    TEST_KEY,
    make_source,
    once_per_session,
    only_file,
    query,
    read_csv,
    result_rows,
    summary_dict,
    write_csv,
)
from staging_helpers import raw
from test_dq_synthetic import clean_inputs, clean_outputs
from test_response_rules import NEW, Cohort, T

from config import ConfigError, load_config
from config.params import best_response_params
from contract import ROW_KEYS
from expectations import run_quality_checks
from expectations.suites import SUITES
from sources import Pseudonymiser
from transforms.responses import compute_best_responses
from transforms.responses.best import assessments_from_warehouse_tables
from transforms.staging import (
    DEATH_BEFORE_SESSION_OR_STUDY,
    null_death_before_sessions_or_studies,
    run_date_at_site,
    stage_dataset,
)
from warehouse import start_build

INGEST = load_config().section("ingest")
RUN_DATE = date(2026, 6, 1)


def reasons(staged) -> dict[int, str]:
    return {r["source_row"]: r["reason_code"] for r in staged.quarantine.to_pylist()}


def judged(staged) -> dict[int, tuple[str | None, str, str]]:
    """Each quarantined row's (column_name, reason_code, action)."""
    return {
        r["source_row"]: (r["column_name"], r["reason_code"], r["action"])
        for r in staged.quarantine.to_pylist()
    }


def at_site(zone: str) -> dict:
    return {**INGEST, "timezone": zone}


def labs_at(*collected: str, ingest: dict = INGEST):
    n = len(collected)
    return stage_dataset(
        "labs",
        raw(
            collected_at=list(collected),
            test=["albumin"] * n,
            value=[f"{3 + i / 10:.1f}" for i in range(n)],
            unit=["g/dL"] * n,
        ),
        ingest,
        run_date=RUN_DATE,
    )


def patients(birth_year: int = 1960) -> pa.Table:
    return pa.table({"patient_key": ["p1"], "birth_year": pa.array([birth_year], pa.int32())})


# --- time-zone offsets ---------------------------------------------------------------------


def test_offset_datetimes_converted_not_dropped() -> None:
    texts = (
        "2026-03-14T10:00:00+02:00",
        "2026-03-14T10:00:00Z",
        "2026-03-14T10:00:00-05:00",
        "2026-03-14T10:00:00",  # no zone: already local
        "2026-03-14 10:00:00 UTC",
        "2026-03-14T10:00:00+0200",
    )
    in_utc = labs_at(*texts).facts.column("collected_at").to_pylist()
    assert in_utc == [
        datetime(2026, 3, 14, 8),
        datetime(2026, 3, 14, 10),
        datetime(2026, 3, 14, 15),
        datetime(2026, 3, 14, 10),
        datetime(2026, 3, 14, 10),
        datetime(2026, 3, 14, 8),
    ]
    # A site in Paris (UTC+1 in March): every zoned time is shown as Paris time.
    in_paris = labs_at(*texts, ingest=at_site("Europe/Paris")).facts
    assert in_paris.column("collected_at").to_pylist() == [
        datetime(2026, 3, 14, 9),
        datetime(2026, 3, 14, 11),
        datetime(2026, 3, 14, 16),
        datetime(2026, 3, 14, 10),
        datetime(2026, 3, 14, 11),
        datetime(2026, 3, 14, 9),
    ]
    assert all(in_paris.column("collected_has_time").to_pylist())


SITE_ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Adelaide")


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(SITE_ZONES),
    instants=st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2025, 12, 31)),
            st.integers(min_value=-12 * 4, max_value=14 * 4),  # offsets in quarter hours
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_zoned_datetimes_land_on_the_site_clock_property(zone: str, instants: list) -> None:
    """Any instant written with any offset is stored as that instant on the site's clock
    (checked against Python's zoneinfo, independently of DuckDB's ICU)."""
    texts, expected = [], []
    for utc, quarters in instants:
        utc = utc.replace(microsecond=0)
        offset = timedelta(minutes=15 * quarters)
        sign = "+" if quarters >= 0 else "-"
        hh, mm = divmod(abs(quarters) * 15, 60)
        texts.append(f"{(utc + offset).isoformat()}{sign}{hh:02d}:{mm:02d}")
        local = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        expected.append(local)
    staged = labs_at(*texts, ingest=at_site(zone))
    assert staged.quarantine.num_rows == 0
    assert staged.facts.column("collected_at").to_pylist() == expected


def test_offset_datetimes_of_one_draw_share_one_instant_for_L4() -> None:
    # One draw exported by two systems: local time with its offset, and UTC.
    facts = labs_at("2026-03-14T10:00:00+02:00", "2026-03-14T08:00:00Z").facts
    assert len(set(facts.column("collected_at").to_pylist())) == 1


def test_offset_datetime_moves_to_the_local_day() -> None:
    # 23:30 in New York is 04:30 the next day in UTC: a date column takes the local day.
    late = "2026-01-14T23:30:00-05:00"  # New York keeps winter time (UTC-5) in January
    in_utc = labs_at(late).facts.column("collected_at").to_pylist()
    assert in_utc == [datetime(2026, 1, 15, 4, 30)]
    in_new_york = labs_at(late, ingest=at_site("America/New_York")).facts
    assert in_new_york.column("collected_at").to_pylist() == [datetime(2026, 1, 14, 23, 30)]
    staged = stage_dataset(
        "imaging",
        raw(study_date=[late], modality=["CT"]),
        INGEST,
        run_date=RUN_DATE,
    )
    assert staged.facts.column("study_date").to_pylist() == [date(2026, 1, 15)]


def test_unreadable_zone_is_a_bad_date_not_dropped() -> None:
    staged = labs_at(
        "2026-03-14T10:00:00 Mars/Olympus_Mons",
        "2026-03-14T10:00:00+02:00",
        "2026-03-14 10:00 PM",  # not ISO 8601; DuckDB's plain cast would read 10:00
    )
    assert reasons(staged) == {1: "bad_date", 3: "bad_date"}


def test_unknown_site_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ingest.timezone"):
        labs_at("2026-03-14", ingest=at_site("Europe/Atlantis"))


def test_run_date_is_the_day_at_the_site() -> None:
    now = datetime(2026, 3, 14, 23, 30)  # UTC
    assert run_date_at_site(INGEST, now) == date(2026, 3, 14)
    assert run_date_at_site(at_site("Asia/Tokyo"), now) == date(2026, 3, 15)


# --- implausible dates -----------------------------------------------------------------


def test_date_before_1900_quarantined() -> None:
    staged = stage_dataset(
        "sessions",
        raw(
            session_date=["1899-12-31", "1900-01-01"],
            modality=["TAE", "TAE"],
            treated_territory=["5", "6"],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    # session_date is required: the row is rejected
    assert judged(staged) == {1: ("session_date", "date_too_early", "row_rejected")}
    assert staged.facts.column("session_date").to_pylist() == [date(1900, 1, 1)]
    assert reasons(labs_at("1899-12-31T23:00:00", "1900-01-01")) == {1: "date_too_early"}
    staged = stage_dataset("patients", raw(death_date=["1850-05-01"]), INGEST, run_date=RUN_DATE)
    # death_date is optional: the value is nulled and the patient loads
    assert judged(staged) == {1: ("death_date", "date_too_early", "value_nulled")}
    assert staged.facts.column("death_date").to_pylist() == [None]


def test_date_after_run_date_quarantined() -> None:
    staged = stage_dataset(
        "imaging",
        raw(study_date=["2026-06-01", "2026-06-02"], modality=["CT", "MR"]),
        INGEST,
        run_date=RUN_DATE,
    )
    assert judged(staged) == {2: ("study_date", "date_after_run", "row_rejected")}
    # 2026-06-01 21:00 in New York is already 2026-06-02 at a UTC site
    assert reasons(labs_at("2026-06-01T23:59:00", "2026-06-01T21:00:00-05:00")) == {
        2: "date_after_run"
    }
    staged = stage_dataset(
        "patients", raw(last_contact_date=["2027-01-01"]), INGEST, run_date=RUN_DATE
    )
    assert judged(staged) == {1: ("last_contact_date", "date_after_run", "value_nulled")}
    assert staged.facts.column("last_contact_date").to_pylist() == [None]
    assert "2027" not in " ".join(staged.quarantine.column("reason").to_pylist())


def test_birth_year_after_the_year_of_the_run_date_quarantined() -> None:
    """The birth year's upper bound is the run's date at the site, as for every other date."""
    staged = stage_dataset(
        "patients",
        raw(birth_year=["2026", "2027"], patient_key=["p1", "p2"]),
        INGEST,
        run_date=RUN_DATE,
    )
    assert judged(staged) == {2: ("birth_year", "out_of_range", "value_nulled")}
    assert staged.quarantine.column("reason").to_pylist() == ["birth_year is outside 1900–2026"]
    earlier = stage_dataset(
        "patients", raw(birth_year=["2026"]), INGEST, run_date=date(2025, 12, 31)
    )
    assert judged(earlier) == {1: ("birth_year", "out_of_range", "value_nulled")}


def test_study_before_birth_quarantined() -> None:
    staged = stage_dataset(
        "imaging",
        raw(study_date=["1959-12-31", "1960-01-01"], modality=["CT", "CT"]),
        INGEST,
        patients=patients(1960),
        run_date=RUN_DATE,
    )
    assert reasons(staged) == {1: "date_before_birth"}
    # its lesions say why, rather than orphan_study
    staged = stage_dataset(
        "lesions",
        raw(
            study_date=["1959-12-31"],
            lesion_id=["L1"],
            role=["target"],
            organ=["liver"],
            liver_segment=["5"],
            status=["measured"],
            longest_diameter_mm=["30"],
        ),
        INGEST,
        studies=staged.facts,
        patients=patients(1960),
        run_date=RUN_DATE,
    )
    assert reasons(staged) == {1: "date_before_birth"}


def test_session_before_birth_quarantined() -> None:
    staged = stage_dataset(
        "sessions",
        raw(
            session_date=["1959-06-01", "2020-06-01"],
            modality=["TAE", "TAE"],
            treated_territory=["5", "6"],
            patient_key=["p1", "p2"],  # p2 has no patients row: nothing to compare with
        ),
        INGEST,
        patients=patients(1960),
        run_date=RUN_DATE,
    )
    assert reasons(staged) == {1: "date_before_birth"}


def test_death_before_first_session_quarantined() -> None:
    pts = pa.table(
        {
            "patient_key": ["p1", "p2", "p3"],
            "birth_year": pa.array([1950, 1950, 1950], pa.int32()),
            "death_date": pa.array([date(2001, 1, 1), date(2024, 3, 1), None], pa.date32()),
            "source_file": ["patients.csv"] * 3,
            "source_row": pa.array([1, 2, 3], pa.int64()),
        }
    )
    sessions = pa.table(
        {
            "patient_key": ["p1", "p2", "p3"],
            "session_date": pa.array([date(2024, 1, 10)] * 2 + [date(2024, 1, 1)], pa.date32()),
        }
    )
    # p2 dies on the day of a study: possible, and kept
    studies = pa.table(
        {"patient_key": ["p2"], "study_date": pa.array([date(2024, 3, 1)], pa.date32())}
    )
    checked = null_death_before_sessions_or_studies(pts, sessions, studies)
    assert checked.facts.column("death_date").to_pylist() == [None, date(2024, 3, 1), None]
    assert checked.facts.column("birth_year").to_pylist() == [1950] * 3  # the row stays
    [q] = checked.quarantine.to_pylist()
    assert (q["source_row"], q["column_name"], q["reason_code"], q["action"]) == (
        1,
        "death_date",
        DEATH_BEFORE_SESSION_OR_STUDY,
        "value_nulled",
    )


# --- no negative duration is published ------------------------------------------------------


def test_no_negative_duration_published_fatal_check() -> None:
    checks = {
        (s.name, c.name): c.severity for s in SUITES if s.side == "warehouse" for c in s.checks
    }
    for name in ("pfs_days", "ttp_days", "dor_days"):
        assert checks["warehouse.best_responses", f"{name}_not_negative"] == "fatal"
    assert checks["warehouse.timepoint_responses", "days_from_baseline_not_negative"] == "fatal"
    outputs = clean_outputs()
    assert (
        run_quality_checks({}, outputs, "run-ok", load_config().section("dq"), None).fatal_failures
        == []
    )
    best = outputs["best_responses"]
    i = best.schema.get_field_index("pfs_days")
    outputs["best_responses"] = best.set_column(
        i, "pfs_days", pc.subtract(best.column(i), pa.scalar(10_000, pa.int32()))
    )
    outcome = run_quality_checks({}, outputs, "run-bad", load_config().section("dq"), None)
    assert any("pfs_days_not_negative" in f for f in outcome.fatal_failures)


def test_no_negative_duration_when_progression_is_dated_before_the_response() -> None:
    # R11: X1 equivocal on 02-01, present on 06-01: progression is dated 02-01, before the
    # PR of 03-01 (confirmed 04-15). The duration of that response is undefined, not -28.
    c = Cohort().session("2026-01-10")
    c.study("2026-01-01", T("L1", 50))
    c.study("2026-02-01", T("L1", 50), NEW("X1", "equivocal"))
    c.study("2026-03-01", T("L1", 20))
    c.study("2026-04-15", T("L1", 20))
    c.study("2026-06-01", T("L1", 20), NEW("X1"))
    result = c.run()
    assessments, scopes = assessments_from_warehouse_tables(
        result.timepoint_responses, result.session_responses, c.tables()[0]
    )
    patients = pa.table({"patient_key": ["p1"], "death_date": pa.array([None], pa.date32())})
    best = compute_best_responses(
        assessments, scopes, patients, best_response_params(load_config())
    ).to_pylist()
    assert {(r["first_response_date"], r["progression_date"]) for r in best} == {
        (date(2026, 3, 1), date(2026, 2, 1))
    }
    assert {(r["pfs_days"], r["ttp_days"], r["dor_days"]) for r in best} == {(22, 22, None)}


# --- corrections in a later file -------------------------------------------------------------


def test_later_file_supersedes_earlier_row() -> None:
    staged = stage_dataset(
        "patients",
        raw(
            patient_key=["p1", "p2", "p1"],
            sex=["M", "F", "F"],
            birth_year=["1950", "1960", "1951"],
            source_file=["patients_2026-01.csv", "patients_2026-01.csv", "patients_update.csv"],
            source_row=[1, 2, 1],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    facts = sorted(
        zip(
            *(staged.facts.column(c).to_pylist() for c in ("patient_key", "sex", "birth_year")),
            strict=True,
        )
    )
    assert facts == [("p1", "F", 1951), ("p2", "F", 1960)]
    [q] = staged.quarantine.to_pylist()
    assert (q["source_file"], q["source_row"], q["column_name"], q["reason_code"], q["action"]) == (
        "patients_2026-01.csv",
        1,
        None,
        "superseded",
        "superseded",
    )
    assert "patients_update.csv" in q["reason"] and "p1" not in q["reason"]


def test_a_correction_with_a_nulled_optional_value_still_supersedes() -> None:
    """Values are judged per row first: a correction whose optional value is bad
    loads with that value nulled, and replaces the earlier row (its one quarantine
    row is the superseded one; the nulled value has its own)."""
    staged = stage_dataset(
        "patients",
        raw(
            patient_key=["p1", "p1"],
            birth_year=["1950", "1951"],
            last_contact_date=["2026-01-01", "2027-01-01"],
            source_file=["patients_2026-01.csv", "patients_update.csv"],
            source_row=[1, 1],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    assert staged.facts.column("birth_year").to_pylist() == [1951]
    assert staged.facts.column("last_contact_date").to_pylist() == [None]
    assert sorted(
        (r["source_file"], r["column_name"], r["reason_code"], r["action"])
        for r in staged.quarantine.to_pylist()
    ) == [
        ("patients_2026-01.csv", None, "superseded", "superseded"),
        ("patients_update.csv", "last_contact_date", "date_after_run", "value_nulled"),
    ]


def test_full_extract_delivered_again_supersedes_without_duplicates() -> None:
    # Monthly full extracts: February repeats p2 unchanged, corrects p1 back to M, and
    # repeats p3 twice by mistake (a same-file copy is still a duplicate_row).
    staged = stage_dataset(
        "patients",
        raw(
            patient_key=["p1", "p2", "p1", "p1", "p2", "p3", "p3"],
            sex=["M", "F", "F", "M", "F", "U", "U"],
            source_file=["patients_2026-01.csv"] * 2
            + ["patients_2026-01b.csv"]
            + ["patients_2026-02.csv"] * 4,
            source_row=[1, 2, 1, 1, 2, 3, 4],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    assert {
        (r["source_file"], r["source_row"]): r["reason_code"] for r in staged.quarantine.to_pylist()
    } == {
        ("patients_2026-01.csv", 1): "superseded",
        ("patients_2026-01.csv", 2): "superseded",
        ("patients_2026-01b.csv", 1): "superseded",
        ("patients_2026-02.csv", 4): "duplicate_row",
    }
    facts = sorted(
        zip(
            *(staged.facts.column(c).to_pylist() for c in ("patient_key", "sex", "source_file")),
            strict=True,
        )
    )
    assert facts == [
        ("p1", "M", "patients_2026-02.csv"),
        ("p2", "F", "patients_2026-02.csv"),
        ("p3", "U", "patients_2026-02.csv"),
    ]


def test_corrections_are_not_duplicate_errors_for_data_quality() -> None:
    inputs = clean_inputs()
    patients_in = inputs["patients"]
    first, second = patients_in.slice(0, 1).to_pylist()[0], patients_in.slice(1, 1).to_pylist()[0]
    corrected = {**first, "sex": "U" if first["sex"] != "U" else "F"}
    again = dict(second)
    for row in (corrected, again):
        row["source_file"] += ".update"  # sorts after the file it corrects
    later = pa.Table.from_pylist([corrected, again], schema=patients_in.schema)
    inputs["patients"] = pa.concat_tables([patients_in, later])
    outcome = run_quality_checks(inputs, {}, "run-corrected", load_config().section("dq"), None)
    rows = {
        r["expectation"]: r for r in outcome.results.to_pylist() if r["suite"] == "inputs.patients"
    }
    assert rows["is_duplicate_key"]["unexpected_count"] == 0
    assert rows["is_duplicate_row"]["unexpected_count"] == 0
    staged = stage_dataset("patients", inputs["patients"], INGEST, run_date=RUN_DATE)
    assert sorted(r["reason_code"] for r in staged.quarantine.to_pylist()) == ["superseded"] * 2


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2", "p3"]),
            st.sampled_from(["M", "F"]),
            st.sampled_from(["patients_2026-01.csv", "patients_2026-02.csv", "patients_x.csv"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_last_file_wins_and_every_row_is_accounted_for_property(rows: list) -> None:
    """Per patient, the first row of the patient's last file is loaded; every other row
    is quarantined once: superseded (earlier file) or a copy / repeated key (same file)."""
    source_row: dict[str, int] = {}
    lineage = []
    for _, _, file in rows:
        source_row[file] = source_row.get(file, 0) + 1
        lineage.append(source_row[file])
    staged = stage_dataset(
        "patients",
        raw(
            patient_key=[r[0] for r in rows],
            sex=[r[1] for r in rows],
            source_file=[r[2] for r in rows],
            source_row=lineage,
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    expected = {}
    for (patient, sex, file), row in sorted(
        zip(rows, lineage, strict=True), key=lambda x: (x[0][2], x[1])
    ):
        last = max(f for p, _, f in rows if p == patient)
        if file == last and patient not in expected:
            expected[patient] = (sex, file, row)
    loaded = {
        r["patient_key"]: (r["sex"], r["source_file"], r["source_row"])
        for r in staged.facts.to_pylist()
    }
    assert loaded == expected
    quarantined = staged.quarantine.to_pylist()
    assert staged.facts.num_rows + len(quarantined) == len(rows)
    patient_of = {(f, row): p for (p, _, f), row in zip(rows, lineage, strict=True)}
    for q in quarantined:
        patient = patient_of[q["source_file"], q["source_row"]]
        earlier = q["source_file"] < max(f for p, _, f in rows if p == patient)
        expected_codes = ("superseded",) if earlier else ("duplicate_row", "duplicate_key")
        assert q["reason_code"] in expected_codes
        assert (q["action"] == "superseded") == earlier


def test_later_file_supersedes_a_session_by_session_id() -> None:
    # the update moves session S1 to another date: it replaces the earlier row
    staged = stage_dataset(
        "sessions",
        raw(
            session_date=["2024-01-10", "2024-04-02", "2024-01-12"],
            modality=["TAE", "TARE", "TAE"],
            treated_territory=["5", "6", "5"],
            session_id=["S1", "S2", "S1"],
            source_file=["sessions.csv", "sessions.csv", "sessions_update.csv"],
            source_row=[1, 2, 1],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    assert reasons(staged) == {1: "superseded"}
    assert sorted(staged.facts.column("session_date").to_pylist()) == [
        date(2024, 1, 12),
        date(2024, 4, 2),
    ]


def test_a_bad_correction_does_not_supersede_and_same_file_repeat_is_duplicate_key() -> None:
    staged = stage_dataset(
        "imaging",
        raw(
            study_date=["2024-01-10", "2024-01-10", "2024-01-10", "2024-01-10"],
            modality=["CT", "MR", "PET", "XRAY"],
            source_file=["imaging_a.csv", "imaging_b.csv", "imaging_b.csv", "imaging_c.csv"],
            source_row=[1, 1, 2, 1],
        ),
        INGEST,
        run_date=RUN_DATE,
    )
    # c's row is unreadable (modality): b's first row wins, its repeat is a duplicate_key
    assert {
        (r["source_file"], r["source_row"]): r["reason_code"] for r in staged.quarantine.to_pylist()
    } == {
        ("imaging_a.csv", 1): "superseded",
        ("imaging_b.csv", 2): "duplicate_key",
        ("imaging_c.csv", 1): "unknown_vocabulary",
    }
    assert staged.facts.column("modality").to_pylist() == ["MR"]


def _with_rows(dataset: str, *changes: dict) -> dict[str, pa.Table]:
    """The clean DQ inputs with changed copies of the dataset's first row appended
    (rows n+1, n+2, … of the same file unless a change says otherwise)."""
    inputs = clean_inputs()
    table = inputs[dataset]
    first = table.slice(0, 1).to_pylist()[0]
    extra = [
        {**first, "source_row": table.num_rows + i, **change}
        for i, change in enumerate(changes, start=1)
    ]
    inputs[dataset] = pa.concat_tables([table, pa.Table.from_pylist(extra, schema=table.schema)])
    return inputs


def _duplicate_keys_counted_by_dq(inputs: dict[str, pa.Table], dataset: str) -> int:
    outcome = run_quality_checks(
        {dataset: inputs[dataset]}, {}, "run-keys", load_config().section("dq"), None
    )
    (row,) = [
        r
        for r in outcome.results.to_pylist()
        if (r["suite"], r["expectation"]) == (f"inputs.{dataset}", "is_duplicate_key")
    ]
    return row["unexpected_count"]


def test_two_sessions_of_a_patient_on_one_date_are_a_duplicate_key_for_staging_and_dq() -> None:
    """Rule ROW_KEYS (contract.inputs): a session is one row per patient and date *and* one
    per patient and session_id, each key on its own. Two sessions of a patient on one date
    with different session_ids: staging keeps the first and quarantines the second as
    duplicate_key, and the data-quality duplicate_key check counts exactly that row (it
    once used one combined key, session_id or else the date, and counted none)."""
    inputs = _with_rows("sessions", {"session_id": "S9"})
    first = inputs["sessions"].slice(0, 1).to_pylist()[0]
    assert (first["session_date"], first["session_id"]) == ("2024-01-10", "S1")
    staged = stage_dataset("sessions", inputs["sessions"], INGEST, run_date=RUN_DATE)
    second = inputs["sessions"].num_rows
    assert judged(staged) == {second: (None, "duplicate_key", "row_rejected")}
    assert _duplicate_keys_counted_by_dq(inputs, "sessions") == 1
    # the first row is never the one counted: alone, it is no duplicate for either side
    clean = clean_inputs()
    assert reasons(stage_dataset("sessions", clean["sessions"], INGEST, run_date=RUN_DATE)) == {}
    assert _duplicate_keys_counted_by_dq(clean, "sessions") == 0


# One case per key of contract.inputs.ROW_KEYS: changes to a copy of the dataset's first
# clean row that keep that key and no other (and make the row no exact copy).
KEY_CASES = {
    ("patients", ("patient_key",)): {"sex": "F"},
    ("sessions", ("patient_key", "session_date")): {"session_id": "S9"},
    ("sessions", ("patient_key", "session_id")): {"session_date": "2024-02-10"},
    ("imaging", ("patient_key", "study_date")): {"modality": "MR"},
}


def test_the_key_cases_are_the_contract_keys() -> None:
    assert set(KEY_CASES) == {(d, key) for d, keys in ROW_KEYS.items() for key in keys}


@pytest.mark.parametrize(
    ("dataset", "key"), [pytest.param(d, k, id=f"{d}:{'+'.join(k)}") for d, k in KEY_CASES]
)
def test_staging_and_dq_agree_on_a_repeated_contract_key(dataset: str, key: tuple) -> None:
    """A row repeating one contract key in the same file: staging's duplicate_key, and one
    row for the data-quality duplicate_key check (a key the SQL missed would count 0)."""
    inputs = _with_rows(dataset, KEY_CASES[dataset, key])
    staged = stage_dataset(dataset, inputs[dataset], INGEST, run_date=RUN_DATE)
    assert reasons(staged) == {inputs[dataset].num_rows: "duplicate_key"}
    assert _duplicate_keys_counted_by_dq(inputs, dataset) == 1


@pytest.mark.parametrize(
    ("changes", "staged_reasons", "dq_duplicate_keys"),
    [
        pytest.param(
            # S1's date again (a repeat, removed), then S7 again on another date: the
            # only row left with S7, so no repeat
            [{"session_id": "S7"}, {"session_id": "S7", "session_date": "2024-02-10"}],
            {("sessions.csv", 5): "duplicate_key"},
            1,
            id="a-repeated-date-takes-its-id-along",
        ),
        pytest.param(
            # S1 on another date, and a later file's session on S1's date: S1's first row
            # is superseded (by the date), so the row moved to another date is no repeat
            [
                {"session_date": "2024-02-10"},
                {"session_id": "S9", "source_file": "sessions_update.csv", "source_row": 1},
            ],
            {("sessions.csv", 1): "superseded"},
            0,
            id="a-superseded-row-repeats-nothing",
        ),
    ],
)
def test_staging_and_dq_agree_when_the_two_session_keys_cross(
    changes: list, staged_reasons: dict, dq_duplicate_keys: int
) -> None:
    """The session keys are judged one after the other, as staging does: a row already
    taken out by the date key (a repeat, a correction) is not counted again by the id."""
    inputs = _with_rows("sessions", *changes)
    staged = stage_dataset("sessions", inputs["sessions"], INGEST, run_date=RUN_DATE)
    quarantined = {
        (r["source_file"], r["source_row"]): r["reason_code"] for r in staged.quarantine.to_pylist()
    }
    assert quarantined == staged_reasons
    assert _duplicate_keys_counted_by_dq(inputs, "sessions") == dq_duplicate_keys


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2024-01-10", "2024-01-10T00:00", "2024-02-10"]),
            st.sampled_from(["S1", "S7", ""]),
            st.sampled_from(["", "doxorubicin"]),
            st.sampled_from(["sessions.csv", "sessions_update.csv"]),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_staging_and_dq_count_the_same_session_repeats_property(rows: list) -> None:
    """Clean sessions of one patient on crossing dates, ids and files: as many
    duplicate_key and duplicate_row rows for data quality as staging quarantines."""
    changes = []
    for session_date, session_id, agent, file in rows:
        # after the clean rows (4) in their file, from 1 in the other
        row = sum(c["source_file"] == file for c in changes) + (5 if file == "sessions.csv" else 1)
        changes.append(
            {
                "session_date": session_date,
                "session_id": session_id,
                "agent": agent,
                "source_file": file,
                "source_row": row,
            }
        )
    inputs = _with_rows("sessions", *changes)
    staged = stage_dataset("sessions", inputs["sessions"], INGEST, run_date=RUN_DATE)
    codes = [r["reason_code"] for r in staged.quarantine.to_pylist()]
    outcome = run_quality_checks(
        {"sessions": inputs["sessions"]}, {}, "run-keys", load_config().section("dq"), None
    )
    counted = {
        r["expectation"]: r["unexpected_count"]
        for r in outcome.results.to_pylist()
        if r["expectation"] in ("is_duplicate_key", "is_duplicate_row")
    }
    assert counted == {
        "is_duplicate_key": codes.count("duplicate_key"),
        "is_duplicate_row": codes.count("duplicate_row"),
    }


def test_quarantine_action_added_to_an_older_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    build = start_build(db, "r1")
    # as built before quarantine had column_name and action
    build.con.execute("ALTER TABLE quarantine DROP COLUMN action")
    build.con.execute("ALTER TABLE quarantine DROP COLUMN column_name")
    build.con.execute(
        "INSERT INTO quarantine VALUES ('r1', 'labs', 'labs.csv', 3, 'bad_date', 'x')"
    )
    build.publish()
    build = start_build(db, "r2")
    try:
        rows = build.con.execute(
            "SELECT reason_code, column_name, action FROM quarantine"
        ).fetchall()
    finally:
        build.abort()
    assert rows == [("bad_date", None, "row_rejected")]


# --- end to end: a correction file, incremental vs full refresh -----------------------------

KEYS = Pseudonymiser(TEST_KEY.encode())
CORRECTED = "NELM-000004"
EARLIER_RUN_DATE = date(2026, 3, 1)  # death date moved before the first session, then corrected


def _patient_row(path: Path, patient_id: str) -> tuple[list[str], list[str]]:
    rows = read_csv(path)
    header = rows[0]
    return header, next(r for r in rows[1:] if r[header.index("patient_id")] == patient_id)


def correction_history(root: Path) -> dict:
    """v1: a death date before the first session; v2: v1 plus update files correcting it."""
    from flows.pipeline import run_pipeline

    v1 = make_source(root / "v1", patients=12, seed=5)
    header, row = _patient_row(only_file(v1, "patients"), CORRECTED)
    # the generator's end of follow-up: after every session and study of the patient
    died = row[header.index("death_date")] or row[header.index("last_contact_date")]
    rows = read_csv(only_file(v1, "patients"))
    for r in rows[1:]:
        if r[header.index("patient_id")] == CORRECTED:
            r[header.index("death_date")] = "2001-02-03"
    write_csv(only_file(v1, "patients"), rows)
    v2 = root / "v2"
    shutil.copytree(v1, v2)
    row[header.index("death_date")] = died
    write_csv(v2 / "patients_update.csv", [header, row])
    rows = read_csv(only_file(v2, "imaging"))
    h = rows[0]
    study = next(r for r in rows[1:] if r[h.index("patient_id")] == "NELM-000007")
    study[h.index("ascites")] = "yes" if study[h.index("ascites")] != "yes" else "no"
    write_csv(v2 / "imaging_update.csv", [h, study])
    db = root / "incremental.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        with pytest.MonkeyPatch.context() as earlier:
            # The first run is dated earlier: the rows dated after it wait in the quarantine
            # (date_after_run) and load in the second run, their files unchanged.
            earlier.setattr("flows.stages.run_date_at_site", lambda *_: EARLIER_RUN_DATE)
            run_pipeline(v1, db, CONFIG)
        shutil.copyfile(db, root / "after_v1.duckdb")
        second = run_pipeline(v2, db, CONFIG)
        run_pipeline(v2, root / "full_v2.duckdb", CONFIG, full_refresh=True)
        # The same files on a later day: the rows held back load, and only their patients
        # are recomputed.
        held = root / "held.duckdb"
        with pytest.MonkeyPatch.context() as earlier:
            earlier.setattr("flows.stages.run_date_at_site", lambda *_: EARLIER_RUN_DATE)
            run_pipeline(v1, held, CONFIG)
        later_day = run_pipeline(v1, held, CONFIG)
        run_pipeline(v1, root / "full_v1.duckdb", CONFIG, full_refresh=True)
    return {
        "db": str(db),
        "died": died,
        "changed_patients": second.report.changed_patients,
        "later_day": summary_dict(later_day),
        "counts": second.counts,
    }


@pytest.fixture(scope="module")
def corrections(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = once_per_session(tmp_path_factory, "corrections", correction_history)
    out["db"] = Path(out["db"])
    out["root"] = out["db"].parent
    return out


@pytest.mark.slow
def test_death_before_first_session_quarantined_in_a_run(corrections: dict) -> None:
    after_v1 = corrections["root"] / "after_v1.duckdb"
    pk = KEYS.reference_key(CORRECTED)
    assert query(after_v1, "SELECT death_date FROM patients WHERE patient_key = ?", [pk]) == [
        (None,)
    ]
    assert query(
        after_v1,
        "SELECT r.patient_key, q.action FROM quarantine q "
        "JOIN raw.patients r USING (source_file, source_row) WHERE q.reason_code = ?",
        [DEATH_BEFORE_SESSION_OR_STUDY],
    ) == [(pk, "value_nulled")]
    # no negative duration anywhere, and the run published
    assert query(
        after_v1,
        "SELECT count(*) FROM best_responses WHERE pfs_days < 0 OR ttp_days < 0 OR dor_days < 0",
    ) == [(0,)]


@pytest.mark.slow
def test_correction_incremental_equals_full_refresh(corrections: dict) -> None:
    pk = KEYS.reference_key(CORRECTED)
    db, full = corrections["db"], corrections["root"] / "full_v2.duckdb"
    assert query(
        db, "SELECT death_date::VARCHAR, source_file FROM patients WHERE patient_key = ?", [pk]
    ) == [(corrections["died"], "patients_update.csv")]
    superseded = query(
        db,
        "SELECT dataset, source_file, action FROM quarantine WHERE reason_code = 'superseded' "
        "ORDER BY ALL",
    )
    assert superseded == [
        ("imaging", "imaging_part001.csv", "superseded"),
        ("patients", "patients_part001.csv", "superseded"),
    ]
    assert corrections["changed_patients"] == 2
    waited = query(
        corrections["root"] / "after_v1.duckdb",
        "SELECT count(DISTINCT r.patient_key) FROM quarantine q "
        "JOIN raw.sessions r USING (source_file, source_row) "
        "WHERE q.reason_code = 'date_after_run'",
    )
    assert waited[0][0] >= 1  # patients not otherwise changed, whose sessions now load
    assert query(db, "SELECT count(*) FROM quarantine WHERE reason_code = 'date_after_run'") == [
        (0,)
    ]
    # the summary balances: every row read is loaded or quarantined, once
    for dataset, c in corrections["counts"].items():
        assert c["read"] == c["loaded"] + c["quarantined"], dataset
    incremental, refreshed = result_rows(db), result_rows(full)
    for table in RESULT_TABLES:
        assert incremental[table] == refreshed[table], table


@pytest.mark.slow
def test_rows_dated_after_a_run_load_when_their_day_comes(corrections: dict) -> None:
    later_day = corrections["later_day"]
    assert later_day["read_files"] == [] and later_day["held_rows_due"] is True
    assert later_day["recomputed"] is True
    held, full = corrections["root"] / "held.duckdb", corrections["root"] / "full_v1.duckdb"
    assert query(held, "SELECT count(*) FROM quarantine WHERE reason_code = 'date_after_run'") == [
        (0,)
    ]
    incremental, refreshed = result_rows(held), result_rows(full)
    for table in RESULT_TABLES:
        assert incremental[table] == refreshed[table], table
