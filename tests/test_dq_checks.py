"""Data-quality suites: the clean run passes, each kind of bad row is caught by its named check.

The synthetic run (tests/test_dq_synthetic.py) is validated once per scenario
(module-scoped fixtures): Great Expectations costs about a second per run of
the five input suites and a few seconds for all sixteen.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from rich.console import Console
from test_dq_synthetic import (
    P1,
    P2,
    P3,
    PATIENT_KEYS,
    clean_inputs,
    clean_outputs,
    raw_inputs_with,
)

from config import load_config
from contract import CHECKED_TABLES, DATASETS, INPUT_COLUMNS, ROW_KEYS
from expectations import check_build, print_dq_summary, run_quality_checks
from expectations.runner import (
    SQL_DIR,
    allowed_failures,
    build_reference,
    check_description,
    columns_match,
)
from expectations.suites import INPUT_SUITES, KAHN_CATEGORIES, SEVERITIES, SUITES, Check
from transforms.staging import stage_dataset
from warehouse.schema import PUBLIC_COLUMNS, arrow_schemas

CONFIG = load_config()
PARAMS = CONFIG.section("dq")


def by_name(results: pa.Table) -> dict[tuple[str, str], dict]:
    return {(r["suite"], r["expectation"]): r for r in results.to_pylist()}


@pytest.fixture(scope="module")
def clean():
    return run_quality_checks(clean_inputs(), clean_outputs(), "run-clean", PARAMS, None)


def test_clean_run_passes_every_fatal_and_error_check(clean) -> None:
    failed = [r for r in clean.results.to_pylist() if not r["success"]]
    assert clean.fatal_failures == []
    assert [(r["suite"], r["expectation"], r["severity"]) for r in failed] == [
        # ferritin is kept but not a recognised analyte (input contract): 1 of 10 rows > 5 %
        ("inputs.labs", "test_recognised", "warning")
    ]
    assert failed[0]["unexpected_count"] == 1 and failed[0]["element_count"] == 10
    assert clean.skipped_suites == []


def test_results_have_exactly_the_columns_of_dq_results(clean) -> None:
    assert clean.results.column_names == PUBLIC_COLUMNS["dq_results"]
    assert clean.results.schema == arrow_schemas()["dq_results"]
    assert set(clean.results.column("run_id").to_pylist()) == {"run-clean"}


def test_one_result_row_per_check_of_every_suite(clean) -> None:
    expected = [(s.name, c.name) for s in SUITES for c in s.checks]
    got = [(r["suite"], r["expectation"]) for r in clean.results.to_pylist()]
    assert got == expected
    assert len(set(got)) == len(got)


def test_every_check_is_tagged_with_kahn_category_and_severity(clean) -> None:
    for row in clean.results.to_pylist():
        assert row["kahn_category"] in KAHN_CATEGORIES
        assert row["severity"] in SEVERITIES


def test_summary_counts_checks_by_category_and_severity(clean) -> None:
    rows = clean.summary.to_pylist()
    assert sum(r["checks"] for r in rows) == clean.results.num_rows
    assert sum(r["failed"] for r in rows) == 1
    cv_warning = next(
        r for r in rows if (r["kahn_category"], r["severity"]) == ("conformance.value", "warning")
    )
    assert cv_warning["failed"] == 1
    assert all(r["passed"] + r["failed"] == r["checks"] for r in rows)


def test_counts_are_rows_checked_not_rows_of_the_table(clean) -> None:
    rows = by_name(clean.results)
    # 18 lesion rows, 10 of them with a longest diameter (P1: 4, P2: 3, P3: 3)
    assert rows["inputs.lesions", "longest_diameter_mm_in_range"]["element_count"] == 10
    assert rows["inputs.lesions", "is_duplicate_row"]["element_count"] == 18
    # follow-up studies of patients with baseline targets: P1 x2, P2 x1, P3 x1
    measured = rows["warehouse.imaging_studies", "share_with_all_targets_measured"]
    assert (measured["unexpected_count"], measured["element_count"]) == (0, 4)
    # both flagged sessions had labs before them (P2's only as a creatinine criterion)
    labs = rows["warehouse.session_flags", "share_with_pre_session_labs"]
    assert (labs["unexpected_count"], labs["element_count"]) == (0, 2)


def test_no_input_check_is_fatal() -> None:
    """Bad source rows are quarantined by the ingestion: they never block publication."""
    assert all(c.severity != "fatal" for s in INPUT_SUITES for c in s.checks)


# --- each kind of bad raw row (ARCHITECTURE.md quarantine codes) ----------------------------

BAD_ROWS = {
    "patients": [(P2, "F", "1963", "pancreas", "10", "G2", "no", "", "", "", "2024-08-15")],
    "sessions": [
        (P2, "2024-06-01", "laser ablation", "5", "S2", "", "", "", "2", ""),
        (P2, "2024-07-01", "TAE", "segment nine", "S3", "", "", "", "2", ""),
    ],
    "imaging": [
        (P3, "2024-13-45", "CT", "no", "no", "10", "no"),
        (P1, "2024-06-15", "CT", "maybe", "no", "12", "no"),
    ],
    "lesions": [
        (P3, "2024-06-01", "L2", "new", "liver", "3", "present", "-4", "", "", ""),
        (P3, "2024-06-01", "L3", "new", "liver", "3", "present", "4500", "", "", ""),
        (P3, "2024-04-15", "L1", "target", "liver", "2", "measured", "23", "", "", ""),
        (P1, "2024-03-01", "L4", "new", "brain", "", "present", "", "", "", ""),
        (P1, "2024-03-01", "L5", "new", "liver", "5", "", "", "", "", ""),
        (P1, "2024-06-01", "L7", "target", "liver", "8", "measured", "15", "", "", ""),
    ],
    "labs": [
        (P1, "2024-01-06", "albumin", "4.0", "furlongs"),
        (P1, "2024-01-07", "creatinine", "high", "mg/dL"),
        (P2, "2024-01-21", "bilirubin", "75", "mg/dL"),
        (P1, "2024-01-05", "1975-2", "0.8", "mg/dL"),
    ],
}

# kind of bad row -> (suite, named expectation, failing rows, quarantine reason code)
CAUGHT_BY = {
    "negative or absurd diameter": (
        "inputs.lesions",
        "longest_diameter_mm_in_range",
        2,
        "out_of_range",
    ),
    "bad date": ("inputs.imaging", "study_date_readable", 1, "bad_date"),
    "unknown unit": ("inputs.labs", "unit_convertible", 1, "unknown_unit"),
    "bad lab number": ("inputs.labs", "value_readable", 1, "bad_number"),
    "lab out of range": ("inputs.labs", "value_in_physiological_range", 1, "out_of_range"),
    "orphan study lesion": ("inputs.lesions", "is_orphan_study", 1, "orphan_study"),
    "unknown modality": ("inputs.sessions", "modality_recognised", 1, "unknown_modality"),
    "unknown territory": (
        "inputs.sessions",
        "treated_territory_recognised",
        1,
        "unknown_territory",
    ),
    "unknown vocabulary": ("inputs.lesions", "organ_in_vocabulary", 1, "unknown_vocabulary"),
    "bad boolean": ("inputs.imaging", "extrahepatic_disease_is_boolean", 1, "bad_boolean"),
    "duplicate row": ("inputs.labs", "is_duplicate_row", 1, "duplicate_row"),
    "duplicate key": ("inputs.patients", "is_duplicate_key", 1, "duplicate_key"),
    "missing required": ("inputs.lesions", "status_given", 1, "missing_required"),
    "target after baseline": (
        "inputs.lesions",
        "is_target_after_baseline",
        1,
        "target_after_baseline",
    ),
}


def bad_inputs() -> dict[str, pa.Table]:
    tables = clean_inputs()
    for dataset, rows in BAD_ROWS.items():
        tables[dataset] = raw_inputs_with(dataset, *rows)[dataset]
    return tables


@pytest.fixture(scope="module")
def bad():
    # the public tables are those of the clean run: the ingestion quarantined the bad rows
    return run_quality_checks(bad_inputs(), clean_outputs(), "run-bad", PARAMS, None)


@pytest.mark.parametrize("kind", sorted(CAUGHT_BY))
def test_each_kind_of_bad_raw_row_is_caught_by_its_named_expectation(bad, kind) -> None:
    suite, expectation, failing, reason_code = CAUGHT_BY[kind]
    row = by_name(bad.results)[suite, expectation]
    assert row["unexpected_count"] == failing
    assert row["success"] is False
    assert row["severity"] == "error"
    check = next(c for s in SUITES if s.name == suite for c in s.checks if c.name == expectation)
    assert check.reason_code == reason_code


def test_bad_raw_rows_fail_only_their_own_error_checks(bad) -> None:
    expected = {(suite, name) for suite, name, _, _ in CAUGHT_BY.values()}
    failed_errors = {
        (r["suite"], r["expectation"])
        for r in bad.results.to_pylist()
        if not r["success"] and r["severity"] != "warning"
    }
    assert failed_errors == expected
    assert bad.fatal_failures == []


def test_bad_raw_rows_raise_warnings_where_a_reader_may_be_right(bad) -> None:
    rows = by_name(bad.results)
    # a liver lesion without its segment (the unknown-organ row has none, and is not liver)
    assert rows["inputs.lesions", "liver_lesion_has_segment"]["unexpected_count"] == 0
    # the study dated after P1's last lesions is not after death; the K1 grade check is output-side
    assert rows["inputs.labs", "test_recognised"]["unexpected_count"] == 1


# --- identical raw rows: every contract column takes part (contract.INPUT_COLUMNS) ----------


def test_no_input_model_lists_the_contract_columns_to_find_identical_rows() -> None:
    """The input models compare rows on ``dq_row``, which the runner makes from
    contract.INPUT_COLUMNS; a window or hash naming other contract columns than a
    key's would be a second list of them, left behind by the next contract column."""
    for dataset in DATASETS:
        text = (SQL_DIR / f"inputs_{dataset}.sql").read_text()
        assert "PARTITION BY dq_row" in text, dataset
        clauses = re.findall(r"PARTITION BY(.*?)(?:ORDER BY|\)\s+AS\b)", text, re.S)
        clauses += re.findall(r"\bhash\((.*?)\)\s*(?:AS|IN)\b", text, re.S)
        named = {word for clause in clauses for word in re.findall(r"\w+", clause)}
        keys = {column for key in ROW_KEYS[dataset] for column in key}
        assert named & set(INPUT_COLUMNS[dataset]) <= keys, dataset


def test_a_column_added_to_the_contract_takes_part_in_finding_identical_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a new contract column in every dataset, a copy of a row that differs only
    there is no duplicate_row for any input suite; one that agrees there too is."""
    for dataset in DATASETS:
        monkeypatch.setitem(INPUT_COLUMNS, dataset, (*INPUT_COLUMNS[dataset], "comment"))

    def with_copy_of_first_row(comment: str | None) -> dict[str, pa.Table]:
        tables = {}
        for dataset, table in clean_inputs().items():
            table = table.append_column("comment", pa.nulls(table.num_rows, pa.string()))
            first = table.slice(0, 1).to_pylist()[0]
            copy = {**first, "comment": comment, "source_row": table.num_rows + 1}
            tables[dataset] = pa.concat_tables(
                [table, pa.Table.from_pylist([copy], schema=table.schema)]
            )
        return tables

    for comment, copies in (("corrected", 0), (None, 1)):
        outcome = run_quality_checks(with_copy_of_first_row(comment), {}, "run-col", PARAMS, None)
        rows = by_name(outcome.results)
        found = {d: rows[f"inputs.{d}", "is_duplicate_row"]["unexpected_count"] for d in DATASETS}
        assert found == dict.fromkeys(DATASETS, copies), comment


# --- broken public tables: fatal checks block publication -----------------------------------


def broken_outputs() -> dict[str, pa.Table]:
    """The clean public tables with one planted defect per fatal or output check below."""
    import duckdb

    tables = clean_outputs()
    con = duckdb.connect(":memory:")
    for name, table in tables.items():
        con.register(f"src_{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM src_{name}")
    con.execute(f"""
        -- a second row for a timepoint key, and a response outside the vocabulary
        INSERT INTO timepoint_responses SELECT * FROM timepoint_responses
            WHERE patient_key = '{P2}' AND study_date = DATE '2024-05-01';
        UPDATE timepoint_responses SET overall_response = 'GOOD'
            WHERE patient_key = '{P3}' AND study_date = DATE '2024-06-01';
        -- a lesion row whose study is not in imaging_studies
        INSERT INTO lesion_measurements
            SELECT * REPLACE (DATE '2024-04-15' AS study_date, 99 AS source_row)
            FROM lesion_measurements WHERE source_row = 16;
        -- best response never seen at an assessment
        UPDATE best_responses SET bor = 'CR', bor_confirmed = 'CR'
            WHERE patient_key = '{P2}' AND scope = 'course';
        -- K1: a given grade that disagrees with Ki-67 (G1 needs Ki-67 < 3 %)
        UPDATE patients SET who_grade = 'G1' WHERE patient_key = '{P3}';
        -- RECIST baseline: three more 8 mm liver targets at P1's baseline (6 targets, 5 liver)
        INSERT INTO lesion_measurements
        SELECT l.* REPLACE (
            'L1' || r.n AS lesion_id,
            8.0::DECIMAL(10, 1) AS longest_diameter_mm,
            100 + r.n AS source_row
        )
        FROM lesion_measurements AS l, range(3) AS r(n) WHERE l.source_row = 1;
        """)
    out = {name: con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in tables}
    con.close()
    return out


@pytest.fixture(scope="module")
def broken():
    return run_quality_checks({}, broken_outputs(), "run-broken", PARAMS, None)


def test_broken_public_tables_report_fatal_failures(broken) -> None:
    assert sorted(f.split(" ")[0] for f in broken.fatal_failures) == [
        "warehouse.lesion_measurements.is_orphan_study",
        "warehouse.timepoint_responses.is_duplicate_key",
        "warehouse.timepoint_responses.overall_response_in_vocabulary",
    ]
    assert "warehouse.timepoint_responses.is_duplicate_key (conformance.relational, fatal): " in (
        " ".join(broken.fatal_failures)
    )
    # both rows of the duplicated key fail
    assert "2 of 8 rows fail" in " ".join(broken.fatal_failures)


def test_fatal_failure_messages_name_no_patient(broken) -> None:
    text = "\n".join(broken.fatal_failures)
    assert not any(key in text for key in PATIENT_KEYS)
    assert "GOOD" not in text


def test_best_responses_must_agree_with_timepoint_responses(broken) -> None:
    row = by_name(broken.results)["warehouse.best_responses", "bor_seen_in_assessments"]
    # P2's planted CR, and P3's PD whose only assessment now reads 'GOOD'
    assert (row["unexpected_count"], row["element_count"]) == (2, 4)
    assert (row["success"], row["severity"]) == (False, "error")


def test_K1_grade_disagreeing_with_ki67_is_reported(broken) -> None:
    row = by_name(broken.results)["warehouse.patients", "grade_agrees_with_ki67"]
    # P3: Ki-67 25 % is G3 (K1: > 20 %), the table says G1; 1 of 3 graded patients > 5 %
    assert (row["unexpected_count"], row["element_count"], row["success"]) == (1, 3, False)


def test_recist_baseline_target_limits_are_reported(broken) -> None:
    rows = by_name(broken.results)
    total = rows["warehouse.patients", "baseline_targets_within_total_limit"]
    organ = rows["warehouse.patients", "baseline_targets_within_organ_limit"]
    size = rows["warehouse.lesion_measurements", "baseline_nonnodal_target_measurable"]
    assert (total["unexpected_count"], total["element_count"]) == (1, 3)  # P1: 6 targets > 5
    assert (organ["unexpected_count"], organ["element_count"]) == (1, 3)  # P1: 5 liver > 2
    # baseline non-nodal targets: P1 L1, L2, L10-L12, P2 L1, P3 L1; the three 8 mm ones fail
    assert (size["unexpected_count"], size["element_count"]) == (3, 7)
    # the added targets have no follow-up rows: P1's two follow-ups are not fully measured
    share = rows["warehouse.imaging_studies", "share_with_all_targets_measured"]
    assert (share["unexpected_count"], share["element_count"], share["success"]) == (2, 4, False)


def test_absent_tables_skip_their_suites_and_the_checks_needing_them() -> None:
    facts = {k: v for k, v in clean_outputs().items() if k in ("patients", "sessions")}
    outcome = run_quality_checks({}, facts, "run-partial", PARAMS, None)
    suites = set(outcome.results.column("suite").to_pylist())
    assert suites == {"warehouse.patients", "warehouse.sessions"}
    assert "warehouse.timepoint_responses" in outcome.skipped_suites
    assert "inputs.labs" in outcome.skipped_suites
    names = {r["expectation"] for r in outcome.results.to_pylist()}
    # needs lesion_measurements and imaging_studies, both absent
    assert "baseline_targets_within_total_limit" not in names
    assert "patient_known" in names
    assert outcome.fatal_failures == []


def test_checks_on_a_build_connection_read_tables_in_place_and_leave_it_as_it_was(clean) -> None:
    """The flow's path (check_build on the build) gives the rows of the Arrow path, and the
    connection keeps other stages' temporary objects and variables of the same names."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    for dataset, table in clean_inputs().items():
        con.register("arrow", table)
        con.execute(f"CREATE TABLE raw.{dataset} AS SELECT * FROM arrow")
    for name, table in clean_outputs().items():
        con.register("arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow")
    con.unregister("arrow")
    # as the derive and staging stages leave them on the build connection
    con.execute("CREATE TEMP VIEW in_patients AS SELECT 1 AS derived")
    con.execute("CREATE TEMP MACRO txt(x) AS 'staging'")
    con.execute("SET VARIABLE landmark_days = 'from another stage'")
    inputs = {d: f"raw.{d}" for d in clean_inputs()}
    inputs["lesions"] = None  # no stored rows: an empty relation, the suite still runs
    outcome = check_build(con, inputs, CHECKED_TABLES, "run-clean", PARAMS, None, config=CONFIG)
    rows, expected = by_name(outcome.results), by_name(clean.results)
    assert rows["inputs.lesions", "status_given"]["element_count"] == 0
    assert {k: v for k, v in rows.items() if k[0] != "inputs.lesions"} == {
        k: v for k, v in expected.items() if k[0] != "inputs.lesions"
    }
    assert con.sql("SELECT * FROM in_patients").fetchall() == [(1,)]
    assert con.sql("SELECT txt(1), getvariable('landmark_days')").fetchall() == [
        ("staging", "from another stage")
    ]
    assert con.sql("SELECT count(*) FROM duckdb_variables()").fetchall() == [(1,)]
    left = con.sql(
        "SELECT count(*) FROM (SELECT view_name AS name FROM duckdb_views() "
        "UNION ALL SELECT table_name FROM duckdb_tables() "
        "UNION ALL SELECT function_name FROM duckdb_functions()) WHERE name LIKE 'dq%'"
    ).fetchall()
    assert left == [(0,)]


def test_a_public_table_with_other_column_types_is_fatal() -> None:
    tables = clean_outputs()
    labs = tables["session_labs"]
    labs = labs.set_column(4, "nlr_pre", labs["nlr_pre"].cast(pa.float32()))
    outcome = run_quality_checks(
        {}, {"sessions": tables["sessions"], "session_labs": labs}, "run-schema", PARAMS, None
    )
    row = by_name(outcome.results)["warehouse.session_labs", "columns_match_ddl"]
    assert (row["unexpected_count"], row["element_count"], row["severity"]) == (2, 2, "fatal")
    assert by_name(outcome.results)["warehouse.sessions", "columns_match_ddl"]["success"]
    assert [f.split(" ")[0] for f in outcome.fatal_failures] == [
        "warehouse.session_labs.columns_match_ddl"
    ]


def test_columns_match_ignores_string_flavour_and_timestamp_unit_only() -> None:
    ddl = pa.schema([("k", pa.string()), ("t", pa.timestamp("us")), ("d", pa.decimal128(10, 1))])
    same = pa.schema(
        [("t", pa.timestamp("ns")), ("k", pa.large_string()), ("d", pa.decimal128(10, 1))]
    )
    assert columns_match(same, ddl)
    assert not columns_match(same.set(2, pa.field("d", pa.decimal128(10, 2))), ddl)
    assert not columns_match(pa.schema([("k", pa.string()), ("t", pa.timestamp("us"))]), ddl)


# --- thresholds ---------------------------------------------------------------------------


def _check(severity: str, kind: str = "true", threshold: str | None = None) -> Check:
    return Check("x", "x", kind, "completeness", severity, "x", threshold=threshold)


def test_allowed_failures_follow_the_configured_share() -> None:
    ref = build_reference(CONFIG, PARAMS)
    assert PARAMS["warning_max_failure_pct"] == 5.0
    assert allowed_failures(_check("warning"), 40, ref) == 2  # 5 % of 40
    assert allowed_failures(_check("warning"), 39, ref) == 1  # 1.95 rounds down
    assert allowed_failures(_check("error"), 1_000_000, ref) == 0
    assert allowed_failures(_check("fatal"), 10, ref) == 0
    share = _check("warning", "share", "min_sessions_with_pre_labs_pct")  # at least 80 % pass
    assert allowed_failures(share, 10, ref) == 2
    assert allowed_failures(share, 0, ref) == 0


def test_a_user_threshold_changes_the_verdict() -> None:
    params = {**PARAMS, "warning_max_failure_pct": 20.0}
    outcome = run_quality_checks(clean_inputs(), {}, "run-lenient", params, None)
    row = by_name(outcome.results)["inputs.labs", "test_recognised"]
    assert (row["unexpected_count"], row["element_count"], row["success"]) == (1, 10, True)


# --- plausibility limits and cut-offs come from the run's config ---------------------------

# P2's TARE session with 1500 GBq and 51 prior systemic lines (defaults: at most 1000 and 50)
IMPLAUSIBLE_SESSION = (P2, "2024-08-01", "Y90", "whole_liver", "S9", "", "glass", "1500", "51", "")


def _limits_run(config_text: str | None, tmp_path: Path) -> tuple[dict, set]:
    """(DQ results by name, staging's quarantine as (column, code)) of IMPLAUSIBLE_SESSION."""
    config = load_config()
    if config_text is not None:
        user = tmp_path / "limits.toml"
        user.write_text(config_text)
        config = load_config(user)
    inputs = raw_inputs_with("sessions", IMPLAUSIBLE_SESSION)
    staged = stage_dataset("sessions", inputs["sessions"], config.section("ingest"))
    last = inputs["sessions"].num_rows
    quarantined = {
        (q["column_name"], q["reason_code"], q["reason"])
        for q in staged.quarantine.to_pylist()
        if q["source_row"] == last
    }
    outputs = clean_outputs()
    sessions = outputs["sessions"]  # and one published session with 1500 GBq
    column = sessions.schema.get_field_index("activity_gbq")
    field = sessions.schema.field(column)
    activity = [1500, *sessions.column("activity_gbq").to_pylist()[1:]]
    outputs["sessions"] = sessions.set_column(column, field, pa.array(activity, field.type))
    outcome = run_quality_checks(inputs, outputs, "run-limits", PARAMS, None, config=config)
    return by_name(outcome.results), quarantined


def test_A5_activity_and_lines_above_their_ingest_maximum_are_quarantined_and_counted_by_dq(
    tmp_path: Path,
) -> None:
    """ingest.max_activity_gbq / max_prior_systemic_lines: staging and DQ judge the same rows."""
    rows, quarantined = _limits_run(None, tmp_path)
    assert quarantined == {
        ("activity_gbq", "out_of_range", "activity_gbq is outside 0–1000 GBq"),
        ("prior_systemic_lines", "out_of_range", "prior_systemic_lines is outside 0–50"),
    }
    for name in ("activity_gbq_in_range", "prior_systemic_lines_in_range"):
        row = rows["inputs.sessions", name]
        assert (row["unexpected_count"], row["success"]) == (1, False), name
    published = rows["warehouse.sessions", "activity_gbq_in_range"]
    assert (published["unexpected_count"], published["success"]) == (1, False)

    raised = "[ingest]\nmax_activity_gbq = 2000\nmax_prior_systemic_lines = 60\n"
    rows, quarantined = _limits_run(raised, tmp_path)
    assert quarantined == set()
    for suite, name in (
        ("inputs.sessions", "activity_gbq_in_range"),
        ("inputs.sessions", "prior_systemic_lines_in_range"),
        ("warehouse.sessions", "activity_gbq_in_range"),
    ):
        assert rows[suite, name]["unexpected_count"] == 0, name


def _k1_check() -> Check:
    return next(c for s in SUITES for c in s.checks if c.name == "grade_agrees_with_ki67")


def test_K1_description_quotes_the_configured_ki67_grade_cut_offs(tmp_path: Path) -> None:
    default = check_description(_k1_check(), build_reference(CONFIG, PARAMS))
    assert default == "a WHO grade G1-G3 agrees with Ki-67 (K1: G1 < 3 %, G2 3-20 %, G3 > 20 %)"
    user = tmp_path / "grades.toml"
    user.write_text("[ingest]\nderived_grade_g2_min_ki67_pct = 2.5\n")
    shifted = check_description(_k1_check(), build_reference(load_config(user), PARAMS))
    assert "G1 < 2.5 %, G2 2.5-20 %" in shifted


def test_every_description_placeholder_names_a_configured_number() -> None:
    ref = build_reference(CONFIG, PARAMS)
    for suite in SUITES:
        for check in suite.checks:
            assert "{" not in check_description(check, ref), check.name


# --- terminal summary -------------------------------------------------------------------------


def test_print_dq_summary_shows_categories_then_failing_checks(bad) -> None:
    out = io.StringIO()
    print_dq_summary(bad.results, Console(file=out, width=160, color_system=None))
    text = out.getvalue()
    assert "conformance.value" in text and "plausibility.temporal" in text
    assert text.index("Failing checks") > text.index("Kahn category")
    assert "is_target_after_baseline" in text and "unit_convertible" in text
    assert not any(key in text for key in PATIENT_KEYS)


def test_print_dq_summary_of_no_rows() -> None:
    out = io.StringIO()
    print_dq_summary(arrow_schemas()["dq_results"].empty_table(), Console(file=out))
    assert "No data-quality results" in out.getvalue()
