"""Issue 12 round trip: the CSV and FHIR forms of one generated cohort give the same results.

The same seed writes the cohort in the input contract and as FHIR R4 ndjson
(``generate --format fhir``); both are run by the CLI. The derived tables
(responses, best responses, labs, flags) must have equal digests
(tools/table_digests.py), and the quarantine the same rows per reason: every
spoiled row carries its defect through FHIR, at the same line number.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from contract import DERIVED_TABLES
from tests.pipeline_helpers import run_cli
from tools.table_digests import table_digests

pytestmark = pytest.mark.slow

PATIENTS = 300
SEED = 11
# Responses, labs, flags and the survival mart: every derived table (contract).
DERIVED = DERIVED_TABLES


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("fhir_round_trip")
    dbs = {}
    for fmt in ("csv", "fhir"):
        src, db = work / fmt, work / f"{fmt}.duckdb"
        gen = run_cli(
            "generate", "--out", str(src), "--patients", str(PATIENTS), "--seed", str(SEED),
            "--format", fmt,
        )  # fmt: skip
        assert gen.returncode == 0, gen.stderr
        run = run_cli("run", "--source", str(src), "--db", str(db), timeout=900)
        assert run.returncode == 0, run.stderr
        dbs[fmt] = db
    return dbs


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_derived_tables_have_equal_digests(runs: dict[str, Path]) -> None:
    csv, fhir = table_digests(runs["csv"], DERIVED), table_digests(runs["fhir"], DERIVED)
    assert all(csv[t][0] > 0 for t in DERIVED)
    assert fhir == csv


def test_quarantine_has_the_same_rows_per_reason(runs: dict[str, Path]) -> None:
    by_reason = (
        "SELECT dataset, reason_code, action, column_name, count(*) FROM quarantine GROUP BY ALL"
    )
    assert _rows(runs["fhir"], by_reason) == _rows(runs["csv"], by_reason)
    # The same records: one resource per CSV data row, so the ndjson line is the CSV row.
    where = (
        "SELECT dataset, source_row, reason_code, "
        "regexp_extract(source_file, '_part(\\d+)', 1) AS part FROM quarantine"
    )
    assert _rows(runs["fhir"], where) == _rows(runs["csv"], where)


def test_facts_match_but_for_lineage_and_raw_spellings(runs: dict[str, Path]) -> None:
    """Loaded values are the same; only the file names and the raw lab spellings differ."""
    for table, columns in {
        "patients": "patient_key, sex, birth_year, ki67_pct, who_grade, death_date",
        "sessions": "patient_key, session_date, modality, treated_segments, agent",
        "lesion_measurements": "patient_key, study_date, lesion_id, role, longest_diameter_mm",
        "lab_results": "patient_key, analyte, value, unit, qualifier",
    }.items():
        sql = f"SELECT {columns} FROM {table}"
        assert _rows(runs["fhir"], sql) == _rows(runs["csv"], sql), table
