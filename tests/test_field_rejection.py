"""Field-level rejection (issue 9, point 4; point 7's reasons; point 11's segment aliases).

A bad value in an optional column (../shared/contract/inputs.md) is nulled and
its row loads; a bad required value still rejects the row. Each problem is one
quarantine row with its column, its code and its action. A target whose
baseline measurement row was rejected keeps its follow-ups, and the responses
that needed its size are NE (response-criteria R1, R3, R6).
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from staging_helpers import raw

from config import load_config
from contract import DERIVED_TABLES, FACT_TABLES
from transforms.quarantine import COLUMNS, Action
from transforms.responses import compute_timepoints
from transforms.staging import CHECKS, REQUIRED, stage_dataset

INGEST = load_config().section("ingest")
RESPONSE = load_config().section("response")
STUDY = pa.table({"patient_key": ["p1"], "study_date": pa.array(["2026-01-05"]).cast(pa.date32())})


# A valid row of each dataset (text, as read), which a test spoils one column of.
VALID_ROW: dict[str, dict[str, str]] = {
    "patients": {},
    "sessions": {"session_date": "2026-01-10", "modality": "TAE", "treated_territory": "5"},
    "imaging": {"study_date": "2026-01-05", "modality": "CT"},
    "lesions": {
        "study_date": "2026-01-05",
        "lesion_id": "L1",
        "role": "target",
        "organ": "liver",
        "liver_segment": "5",
        "status": "measured",
        "longest_diameter_mm": "30.0",
    },
    "labs": {"collected_at": "2026-01-05", "test": "albumin", "value": "3.9", "unit": "g/dL"},
}


def problems(staged) -> list[tuple]:
    """(source_row, column_name, reason_code, action) of each quarantine row."""
    return [
        (q["source_row"], q["column_name"], q["reason_code"], q["action"])
        for q in staged.quarantine.to_pylist()
    ]


def test_quarantine_rows_have_the_columns_of_the_one_definition() -> None:
    staged = stage_dataset("patients", raw(sex=["X"]), INGEST)
    assert tuple(staged.quarantine.column_names) == COLUMNS
    assert {a.value for a in Action} >= {"value_nulled", "row_rejected"}


# --- optional columns: nulled, the row loads ----------------------------------------------


def test_optional_bad_value_nulled_row_loads_ascites_maybe() -> None:
    imaging = stage_dataset(
        "imaging",
        raw(
            study_date=["2026-01-05"],
            modality=["CT"],
            ascites=["maybe"],
            portal_vein_occlusion=["no"],
        ),
        INGEST,
    )
    [study] = imaging.facts.to_pylist()
    assert study["ascites"] is None and study["portal_vein_occlusion"] is False
    assert problems(imaging) == [(1, "ascites", "bad_boolean", "value_nulled")]
    # ... and the study's lesions are not orphans any more
    lesions = stage_dataset(
        "lesions",
        raw(
            study_date=["2026-01-05"],
            lesion_id=["L1"],
            role=["target"],
            organ=["liver"],
            liver_segment=["5"],
            status=["measured"],
            longest_diameter_mm=["30.0"],
        ),
        INGEST,
        studies=imaging.facts,
    )
    assert lesions.facts.num_rows == 1 and lesions.quarantine.num_rows == 0


@pytest.mark.parametrize(
    ("dataset", "given", "column", "code"),
    [
        ("imaging", {"liver_tumor_burden_pct": "150"}, "liver_tumor_burden_pct", "out_of_range"),
        ("imaging", {"extrahepatic_disease": "perhaps"}, "extrahepatic_disease", "bad_boolean"),
        ("patients", {"sex": "NELM-000040"}, "sex", "unknown_vocabulary"),
        ("patients", {"birth_year": "1850"}, "birth_year", "out_of_range"),
        ("patients", {"ki67_pct": "12,5"}, "ki67_pct", "bad_number"),
        ("patients", {"death_date": "31.04.2024"}, "death_date", "bad_date"),
        ("patients", {"prior_whipple": "2"}, "prior_whipple", "bad_boolean"),
        ("sessions", {"lvef_pct": "120"}, "lvef_pct", "out_of_range"),
        ("sessions", {"microsphere": "ceramic"}, "microsphere", "unknown_vocabulary"),
        ("sessions", {"prior_systemic_lines": "two"}, "prior_systemic_lines", "bad_number"),
        ("lesions", {"attenuation_hu": "n/a"}, "attenuation_hu", "bad_number"),
        ("lesions", {"viable_diameter_mm": "-3"}, "viable_diameter_mm", "out_of_range"),
        # optional for a lesion outside the liver
        ("lesions", {"organ": "lung", "liver_segment": "9"}, "liver_segment", "out_of_range"),
        # optional for a non-target
        (
            "lesions",
            {"role": "non_target", "status": "present", "longest_diameter_mm": "12,5"},
            "longest_diameter_mm",
            "bad_number",
        ),
    ],
)
def test_optional_bad_value_nulled_row_loads(
    dataset: str, given: dict[str, str], column: str, code: str
) -> None:
    base = VALID_ROW[dataset] | given
    studies = STUDY
    staged = stage_dataset(
        dataset,
        raw(**{k: [v] for k, v in base.items()} or {"sex": [None]}),
        INGEST,
        studies=studies if dataset == "lesions" else None,
    )
    assert problems(staged) == [(1, column, code, "value_nulled")]
    [row] = staged.facts.to_pylist()
    assert row[column] is None


def test_each_bad_optional_value_gets_its_own_row_and_the_others_load() -> None:
    staged = stage_dataset(
        "patients",
        raw(sex=["F"], ki67_pct=["101"], functional=["maybe"], who_grade=["G2"]),
        INGEST,
    )
    assert problems(staged) == [
        (1, "functional", "bad_boolean", "value_nulled"),
        (1, "ki67_pct", "out_of_range", "value_nulled"),
    ]
    [row] = staged.facts.to_pylist()
    assert (row["sex"], row["ki67_pct"], row["functional"], row["who_grade"]) == (
        "F",
        None,
        None,
        "G2",
    )


# --- required columns: the row is rejected ---------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "given", "column", "code"),
    [
        ("imaging", {"modality": "XRAY"}, "modality", "unknown_vocabulary"),
        ("imaging", {"study_date": "yesterday"}, "study_date", "bad_date"),
        ("sessions", {"modality": "laser ablation"}, "modality", "unknown_modality"),
        ("lesions", {"longest_diameter_mm": "12,5"}, "longest_diameter_mm", "bad_number"),
        ("lesions", {"liver_segment": "9"}, "liver_segment", "out_of_range"),
        ("lesions", {"status": None}, "status", "missing_required"),
    ],
)
def test_required_bad_value_rejects_the_row(
    dataset: str, given: dict[str, str | None], column: str, code: str
) -> None:
    base = {
        "sessions": {"session_date": "2026-01-10", "modality": "TAE", "treated_territory": "5"},
        "imaging": {"study_date": "2026-01-05", "modality": "CT", "ascites": "maybe"},
        "lesions": {
            "study_date": "2026-01-05",
            "lesion_id": "L1",
            "role": "target",
            "organ": "liver",
            "liver_segment": "5",
            "status": "measured",
            "longest_diameter_mm": "30.0",
            "attenuation_hu": "n/a",
        },
    }[dataset] | given
    studies = STUDY
    staged = stage_dataset(
        dataset,
        raw(**{k: [v] for k, v in base.items()}),
        INGEST,
        studies=studies if dataset == "lesions" else None,
    )
    # one row: the rejection (a rejected row's other, optional problems are not listed)
    assert problems(staged) == [(1, column, code, "row_rejected")]
    assert staged.facts.num_rows == 0


def test_duplicates_are_rejected_rows_without_a_column() -> None:
    staged = stage_dataset("patients", raw(sex=["F", "F"], patient_key=["p1", "p1"]), INGEST)
    assert problems(staged) == [(2, None, "duplicate_row", "row_rejected")]


def test_every_checked_column_is_either_required_or_optional_per_the_contract() -> None:
    # the contract's required columns, as the staging reads them
    assert set(REQUIRED["imaging"]) == {"patient_key", "study_date", "modality"}
    assert set(REQUIRED["patients"]) == {"patient_key"}
    for dataset, checks in CHECKS.items():
        for check in checks:
            assert check.column, (dataset, check.code)


# --- point 7: a reason never echoes a value ----------------------------------------------

MARKER = "NELM-000040"


@pytest.mark.parametrize(
    ("dataset", "column"),
    [
        ("patients", "sex"),
        ("patients", "primary_site"),
        ("patients", "who_grade"),
        ("patients", "birth_year"),
        ("patients", "ki67_pct"),
        ("patients", "functional"),
        ("patients", "death_date"),
        ("sessions", "modality"),
        ("sessions", "treated_territory"),
        ("sessions", "microsphere"),
        ("sessions", "activity_gbq"),
        ("sessions", "session_date"),
        ("imaging", "modality"),
        ("imaging", "ascites"),
        ("imaging", "liver_tumor_burden_pct"),
        ("lesions", "role"),
        ("lesions", "organ"),
        ("lesions", "status"),
        ("lesions", "liver_segment"),
        ("lesions", "longest_diameter_mm"),
        ("lesions", "attenuation_hu"),
        ("labs", "collected_at"),
    ],
)
def test_reason_never_echoes_value(dataset: str, column: str) -> None:
    base = VALID_ROW[dataset] | {column: MARKER}
    studies = STUDY
    staged = stage_dataset(
        dataset,
        raw(**{k: [v] for k, v in base.items()}),
        INGEST,
        studies=studies if dataset == "lesions" else None,
    )
    [q] = staged.quarantine.to_pylist()
    assert q["column_name"] == column and column in q["reason"]
    assert "NELM" not in q["reason"] and "000040" not in q["reason"]
    assert (q["source_file"], q["source_row"]) == ("f.csv", 1)  # the way back to the value


def test_reason_names_the_vocabulary_not_the_value_sex() -> None:
    staged = stage_dataset("patients", raw(sex=[MARKER]), INGEST)
    assert staged.quarantine.column("reason").to_pylist() == ["sex is not one of M, F, U"]


# --- point 11: segment aliases (config [ingest.segment_aliases]) -------------------------


@pytest.mark.parametrize(
    ("spelling", "segment"),
    [
        ("4a", 4),
        ("4B", 4),
        ("IVa", 4),
        ("ivb", 4),
        ("I", 1),
        ("iv", 4),
        ("VII", 7),
        ("VIII", 8),
        ("6", 6),
    ],
)
def test_segment_alias_4a_roman_liver_segment(spelling: str, segment: int) -> None:
    studies = STUDY
    staged = stage_dataset(
        "lesions",
        raw(
            study_date=["2026-01-05"],
            lesion_id=["L1"],
            role=["target"],
            organ=["liver"],
            liver_segment=[spelling],
            status=["measured"],
            longest_diameter_mm=["30.0"],
        ),
        INGEST,
        studies=studies,
    )
    assert staged.quarantine.num_rows == 0
    assert staged.facts.column("liver_segment").to_pylist() == [segment]


@pytest.mark.parametrize(
    ("territory", "segments"),
    [("4a,4b", [4]), ("IVa, IVb, V", [4, 5]), ("VI;VII;VIII", [6, 7, 8]), ("2,3,4a", [2, 3, 4])],
)
def test_segment_alias_4a_roman_treated_territory(territory: str, segments: list[int]) -> None:
    staged = stage_dataset(
        "sessions",
        raw(session_date=["2026-01-10"], modality=["TAE"], treated_territory=[territory]),
        INGEST,
    )
    assert staged.quarantine.num_rows == 0
    assert staged.facts.column("treated_segments").to_pylist() == [segments]


@pytest.mark.parametrize("spelling", ["IX", "4c", "segment IX", "0"])
def test_segment_alias_unknown_spellings_are_still_refused(spelling: str) -> None:
    staged = stage_dataset(
        "sessions",
        raw(session_date=["2026-01-10"], modality=["TAE"], treated_territory=[spelling]),
        INGEST,
    )
    assert problems(staged) == [(1, "treated_territory", "unknown_territory", "row_rejected")]


# --- R1/R3/R6: a baseline target whose measurement row was rejected ------------------------


def _course(baseline_l1: str) -> tuple:
    """One patient: baseline 2026-01-05, session 2026-01-10, follow-ups every 2 months."""
    dates = ["2026-01-05", "2026-03-05", "2026-05-05", "2026-07-05"]
    imaging = stage_dataset(
        "imaging", raw(study_date=dates, modality=["CT"] * len(dates)), INGEST
    ).facts
    sessions = stage_dataset(
        "sessions",
        raw(session_date=["2026-01-10"], modality=["TAE"], treated_territory=["5,6"]),
        INGEST,
    ).facts
    l1 = [baseline_l1, "28.0", "26.0", "25.0"]
    l2 = ["20.0", "12.0", "11.0", "10.0"]
    n = len(dates)
    lesions = stage_dataset(
        "lesions",
        raw(
            study_date=dates * 2,
            lesion_id=["L1"] * n + ["L2"] * n,
            role=["target"] * (2 * n),
            organ=["liver"] * (2 * n),
            liver_segment=["5"] * n + ["6"] * n,
            status=["measured"] * (2 * n),
            longest_diameter_mm=l1 + l2,
            viable_diameter_mm=l1 + l2,
        ),
        INGEST,
        studies=imaging,
    )
    return sessions, imaging, lesions


def test_baseline_target_rejected_followups_kept_responses_NE_R1_R6() -> None:
    sessions, imaging, lesions = _course("12,5")
    # the baseline row is rejected, its three follow-ups load
    assert problems(lesions) == [(1, "longest_diameter_mm", "bad_number", "row_rejected")]
    assert lesions.facts.num_rows == 7
    assert lesions.rejected_targets.column("lesion_id").to_pylist() == ["L1"]

    result = compute_timepoints(
        sessions, imaging, lesions.facts, RESPONSE, rejected_targets=lesions.rejected_targets
    )
    # not target_after_baseline
    assert result.quarantined.num_rows == 0
    course = [
        r
        for r in result.timepoint_responses.to_pylist()
        if r["study_date"].isoformat() != "2026-01-05"
    ]
    assert len(course) == 6  # 3 follow-ups x 2 criteria
    for row in course:
        # not a smaller sum: no baseline sum, and NE
        assert row["baseline_sum_mm"] is None
        assert row["target_response"] == "NE" and row["overall_response"] == "NE"
        assert "baseline sum not evaluable" in row["reason"]
        assert "L1 measurement row rejected" in row["reason"]
    # the session's scopes share that baseline study: NE as well
    overall = [
        r
        for r in result.session_responses.to_pylist()
        if r["scope"] == "overall" and r["study_date"].isoformat() != "2026-01-05"
    ]
    assert len(overall) == 6 and {r["target_response"] for r in overall} == {"NE"}


def test_baseline_target_rejected_without_the_rule_would_lose_followups_R1() -> None:
    """What the old behaviour did: without the rejected row, L1's follow-ups break R1."""
    sessions, imaging, lesions = _course("12,5")
    result = compute_timepoints(sessions, imaging, lesions.facts, RESPONSE)
    assert result.quarantined.column("reason_code").to_pylist() == ["target_after_baseline"] * 3


def test_baseline_target_measured_gives_a_real_response_R8() -> None:
    sessions, imaging, lesions = _course("32.0")
    assert lesions.quarantine.num_rows == 0 and lesions.rejected_targets.num_rows == 0
    result = compute_timepoints(
        sessions, imaging, lesions.facts, RESPONSE, rejected_targets=lesions.rejected_targets
    )
    last = [
        r
        for r in result.timepoint_responses.to_pylist()
        if r["criteria"] == "RECIST1.1" and r["study_date"].isoformat() == "2026-07-05"
    ]
    assert [(r["target_response"], str(r["baseline_sum_mm"])) for r in last] == [("PR", "52.0")]


def test_rejected_followup_fragment_makes_the_sum_not_evaluable_not_smaller_R2_R3() -> None:
    sessions, imaging, _ = _course("30.0")
    dates = ["2026-01-05", "2026-03-05"]
    # L1 is split in two fragments; at the follow-up one fragment's row is unreadable
    lesions = stage_dataset(
        "lesions",
        raw(
            study_date=[dates[0], dates[0], dates[1], dates[1]],
            lesion_id=["L1"] * 4,
            role=["target"] * 4,
            organ=["liver"] * 4,
            liver_segment=["5"] * 4,
            status=["measured"] * 4,
            longest_diameter_mm=["20.0", "20.0", "19.0", "abc"],
            viable_diameter_mm=["20.0", "20.0", "19.0", "19.0"],
        ),
        INGEST,
        studies=imaging,
    )
    result = compute_timepoints(
        sessions, imaging, lesions.facts, RESPONSE, rejected_targets=lesions.rejected_targets
    )
    [row] = [
        r
        for r in result.timepoint_responses.to_pylist()
        if r["criteria"] == "RECIST1.1" and r["study_date"].isoformat() == dates[1]
    ]
    # 19 mm alone would be a 52.5 % decrease (PR); the lesion has no size instead
    assert row["target_response"] == "NE" and row["sum_mm"] is None
    assert "L1 measurement row rejected" in row["reason"]


def test_baseline_target_rejected_choi_density_and_easl_area_not_evaluable_C1_A1_R3() -> None:
    """A rejected baseline target has no size nor attenuation under EASL and Choi either:
    the density of the other target alone (down 50 %) must not make Choi a PR (C5)."""
    dates = ["2026-01-05", "2026-03-05"]
    imaging = stage_dataset("imaging", raw(study_date=dates, modality=["CT"] * 2), INGEST).facts
    sessions = stage_dataset(
        "sessions",
        raw(session_date=["2026-01-10"], modality=["TARE"], treated_territory=["5,6"]),
        INGEST,
    ).facts
    lesions = stage_dataset(
        "lesions",
        raw(
            study_date=dates * 2,
            lesion_id=["L1", "L1", "L2", "L2"],
            role=["target"] * 4,
            organ=["liver"] * 4,
            liver_segment=["5", "5", "6", "6"],
            status=["measured"] * 4,
            longest_diameter_mm=["12,5", "28.0", "20.0", "21.0"],
            viable_diameter_mm=["12.0", "28.0", "20.0", "21.0"],
            viable_perpendicular_mm=["10.0", "20.0", "15.0", "16.0"],
            attenuation_hu=["80", "40", "80", "40"],
        ),
        INGEST,
        studies=imaging,
    )
    assert lesions.rejected_targets.column("lesion_id").to_pylist() == ["L1"]
    result = compute_timepoints(
        sessions,
        imaging,
        lesions.facts,
        {**RESPONSE, "criteria": ["RECIST1.1", "mRECIST", "EASL", "Choi"]},
        rejected_targets=lesions.rejected_targets,
    )
    follow_up = {
        r["criteria"]: r
        for r in result.timepoint_responses.to_pylist()
        if r["study_date"].isoformat() == dates[1]
    }
    assert {c: r["target_response"] for c, r in follow_up.items()} == dict.fromkeys(
        ("RECIST1.1", "mRECIST", "EASL", "Choi"), "NE"
    )
    choi = follow_up["Choi"]
    assert choi["baseline_mean_hu"] is None and choi["pct_change_hu_from_baseline"] is None
    assert "L1 measurement row rejected" in choi["reason"]
    assert "L1 measurement row rejected" in follow_up["EASL"]["reason"]


# --- a whole run: the cases of issue 9 on a generated cohort ----------------------------


def _first_rows(rows: list[list[str]], patient: str) -> list[int]:
    """Data-row indexes (1-based, as in the file) of a patient's first study date."""
    mine = [i for i, r in enumerate(rows) if i and r[0] == patient]
    first = min(rows[i][1] for i in mine)
    return [i for i in mine if rows[i][1] == first]


@pytest.fixture(scope="module")
def spoiled_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from pipeline_helpers import (
        CONFIG,
        TEST_KEY,
        make_source,
        only_file,
        query,
        read_csv,
        write_csv,
    )

    from flows.pipeline import run_pipeline
    from sources import Pseudonymiser

    root = tmp_path_factory.mktemp("fields")
    src = make_source(root / "src", patients=20, seed=5)
    # NELM-000004: ascites = maybe on the baseline study, which has lesions
    imaging = only_file(src, "imaging")
    rows = read_csv(imaging)
    [ascites_row] = _first_rows(rows, "NELM-000004")
    rows[ascites_row][rows[0].index("ascites")] = "maybe"
    write_csv(imaging, rows)
    # NELM-000006: the baseline diameter of its first measured liver target is "12,5"
    lesions = only_file(src, "lesions")
    rows = read_csv(lesions)
    h = rows[0]
    baseline = _first_rows(rows, "NELM-000006")
    diameter_row = next(
        i
        for i in baseline
        if rows[i][h.index("role")] == "target"
        and rows[i][h.index("status")] == "measured"
        and rows[i][h.index("organ")] == "liver"
    )
    lesion_id = rows[diameter_row][h.index("lesion_id")]
    assert sum(rows[i][h.index("lesion_id")] == lesion_id for i in baseline) == 1  # no fragments
    rows[diameter_row][h.index("longest_diameter_mm")] = "12,5"
    write_csv(lesions, rows)
    # NELM-000008 has no patients row
    patients = only_file(src, "patients")
    write_csv(patients, [r for r in read_csv(patients) if r[0] != "NELM-000008"])

    db = root / "w.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        run_pipeline(src, db, CONFIG)
    key = Pseudonymiser(TEST_KEY.encode()).reference_key

    def q(sql: str, params: list | None = None) -> list[tuple]:
        return query(db, sql, params)

    return {
        "q": q,
        "key": key,
        "imaging": imaging.name,
        "ascites_row": ascites_row,
        "lesions": lesions.name,
        "diameter_row": diameter_row,
        "lesion_id": lesion_id,
    }


@pytest.mark.slow
def test_optional_bad_value_nulled_row_loads_ascites_maybe_end_to_end(spoiled_run: dict) -> None:
    q, key = spoiled_run["q"], spoiled_run["key"]
    assert q(
        "SELECT column_name, reason_code, action FROM quarantine "
        "WHERE source_file = ? AND source_row = ?",
        [spoiled_run["imaging"], spoiled_run["ascites_row"]],
    ) == [("ascites", "bad_boolean", "value_nulled")]
    [(ascites,)] = q(
        "SELECT ascites FROM imaging_studies WHERE source_file = ? AND source_row = ?",
        [spoiled_run["imaging"], spoiled_run["ascites_row"]],
    )
    assert ascites is None
    # its lesions are not orphans: not one lesion row of that patient is quarantined as such
    assert q(
        "SELECT count(*) FROM quarantine q JOIN raw.lesions r USING (source_file, source_row) "
        "WHERE r.patient_key = ? AND q.reason_code = 'orphan_study'",
        [key("NELM-000004")],
    ) == [(0,)]


@pytest.mark.slow
def test_baseline_target_rejected_followups_kept_responses_NE_end_to_end_R1(
    spoiled_run: dict,
) -> None:
    q, key = spoiled_run["q"], spoiled_run["key"]
    patient = key("NELM-000006")
    assert q(
        "SELECT column_name, reason_code, action FROM quarantine "
        "WHERE source_file = ? AND source_row = ?",
        [spoiled_run["lesions"], spoiled_run["diameter_row"]],
    ) == [("longest_diameter_mm", "bad_number", "row_rejected")]
    # not target_after_baseline: the lesion's follow-ups are kept
    assert q(
        "SELECT count(*) FROM quarantine q JOIN raw.lesions r USING (source_file, source_row) "
        "WHERE r.patient_key = ? AND r.lesion_id = ? AND q.reason_code = 'target_after_baseline'",
        [patient, spoiled_run["lesion_id"]],
    ) == [(0,)]
    [(followups,)] = q(
        "SELECT count(*) FROM lesion_measurements WHERE patient_key = ? AND lesion_id = ?",
        [patient, spoiled_run["lesion_id"]],
    )
    assert followups >= 2
    rows = q(
        "SELECT target_response, baseline_sum_mm, reason FROM timepoint_responses "
        "WHERE patient_key = ? AND study_date > baseline_date",
        [patient],
    )
    assert rows
    for target, baseline_sum, reason in rows:
        assert target == "NE" and baseline_sum is None  # not a smaller sum
        assert f"{spoiled_run['lesion_id']} measurement row rejected" in reason


@pytest.mark.slow
def test_derived_rows_only_for_known_patients(spoiled_run: dict) -> None:
    q, key = spoiled_run["q"], spoiled_run["key"]
    orphan = key("NELM-000008")
    assert q("SELECT count(*) FROM sessions WHERE patient_key = ?", [orphan])[0][0] > 0
    for table in DERIVED_TABLES:
        assert q(
            f"SELECT count(*) FROM {table} WHERE patient_key NOT IN "
            "(SELECT patient_key FROM patients)"
        ) == [(0,)], table
    assert q("SELECT count(*) FROM best_responses") != [(0,)]


@pytest.mark.slow
def test_rows_read_balance_loaded_plus_rejected_rows(spoiled_run: dict) -> None:
    q = spoiled_run["q"]
    [(read,)] = q("SELECT sum(rows) FROM ingested_files")
    loaded = sum(q(f"SELECT count(*) FROM {t}")[0][0] for t in FACT_TABLES.values())
    [(rejected,)] = q(
        "SELECT count(DISTINCT (source_file, source_row)) FROM quarantine "
        "WHERE action = 'row_rejected'"
    )
    assert read == loaded + rejected
    [(run_read, run_loaded, run_quarantined)] = q(
        "SELECT rows_read, rows_loaded, rows_quarantined FROM pipeline_runs"
    )
    assert (run_read, run_loaded, run_quarantined) == (read, loaded, rejected)
    assert q("SELECT DISTINCT action FROM quarantine ORDER BY 1") == [
        ("row_rejected",),
        ("value_nulled",),
    ]


# --- invariant: a row loads (maybe with nulled values) or is rejected, never both ------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2026-01-05", "2026-02-05", "2026-13-01", "", "2026-01-05"]),
            st.sampled_from(["CT", "mr", "XRAY", ""]),
            st.sampled_from(["yes", "no", "maybe", "", "NELM-000001"]),
            st.sampled_from(["20", "150", "-1", "abc", ""]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_property_every_row_loads_or_is_rejected_and_nulled_values_are_null(rows) -> None:
    staged = stage_dataset(
        "imaging",
        raw(
            study_date=[r[0] for r in rows],
            modality=[r[1] for r in rows],
            ascites=[r[2] for r in rows],
            liver_tumor_burden_pct=[r[3] for r in rows],
        ),
        INGEST,
    )
    loaded = {f["source_row"]: f for f in staged.facts.to_pylist()}
    q = staged.quarantine.to_pylist()
    rejected = {r["source_row"] for r in q if r["action"] == "row_rejected"}
    assert not loaded.keys() & rejected
    assert loaded.keys() | rejected == set(range(1, len(rows) + 1))
    assert len([r for r in q if r["action"] == "row_rejected"]) == len(rejected)
    for r in q:
        if r["action"] == "value_nulled":
            assert loaded[r["source_row"]][r["column_name"]] is None
            assert r["column_name"] in ("ascites", "liver_tumor_burden_pct")
        assert "NELM" not in r["reason"] and "abc" not in r["reason"]


def test_segment_and_unit_aliases_pass_the_input_checks_too_L1() -> None:
    """Data quality reads the same alias tables: what staging accepts is no DQ failure."""
    from expectations import run_quality_checks

    inputs = {
        "lesions": raw(
            study_date=["2026-01-05"] * 3,
            lesion_id=["L1", "L2", "L3"],
            role=["target"] * 3,
            organ=["liver"] * 3,
            liver_segment=["4a", "IVb", "VII"],
            status=["measured"] * 3,
            longest_diameter_mm=["30.0"] * 3,
        ),
        "sessions": raw(
            session_date=["2026-01-10", "2026-03-10"],
            modality=["TAE", "TAE"],
            treated_territory=["4a, 4b", "VI, VII, VIII"],
        ),
        "labs": raw(
            collected_at=["2026-01-05"] * 4,
            test=["platelets", "albumin", "bilirubin", "neutrophils"],
            value=["250", "35", "34.2", "4.2"],
            unit=["G/L", "G/L", "µM", "10³/µL"],
        ),
    }
    outcome = run_quality_checks(inputs, {}, "run-aliases", load_config().section("dq"), None)
    checks = {
        (r["suite"], r["expectation"]): r["unexpected_count"] for r in outcome.results.to_pylist()
    }
    for name in (
        ("inputs.lesions", "liver_segment_readable"),
        ("inputs.lesions", "liver_segment_is_couinaud"),
        ("inputs.sessions", "treated_territory_recognised"),
        ("inputs.labs", "unit_convertible"),
        ("inputs.labs", "value_in_physiological_range"),
    ):
        assert checks[name] == 0, name
