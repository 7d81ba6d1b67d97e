"""A warehouse published by an earlier version: the next run brings its tables to this one.

The "older" warehouse is a published one with the columns EASL and Choi added taken
away again (timepoint_responses / session_responses: sum_unit and the three density
columns; lesion_measurements: viable_perpendicular_mm), one audit column missing, and
schema version 1. A run on the unchanged source must then make those tables anew from
the DDL, recompute every patient from the raw layer, keep the audit history, and end
with exactly what a run from scratch gives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from pipeline_helpers import TEST_KEY, make_source, query, result_rows, summary_dict

from flows.pipeline import run_pipeline
from warehouse import PUBLIC_COLUMNS, SCHEMA_VERSION

pytestmark = pytest.mark.slow

# The columns a warehouse of schema version 1 lacked, and one audit column taken away
# to show that audit rows are carried over by name.
RESPONSE_COLUMNS_ADDED = ("sum_unit", "mean_hu", "baseline_mean_hu", "pct_change_hu_from_baseline")
OLDER_TABLES = {
    "timepoint_responses": RESPONSE_COLUMNS_ADDED,
    "session_responses": RESPONSE_COLUMNS_ADDED,
    "lesion_measurements": ("viable_perpendicular_mm",),
    "dq_results": ("severity",),
}


def make_older(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        for table, columns in OLDER_TABLES.items():
            for column in columns:
                con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        con.execute("UPDATE meta.schema_version SET version = 1")
        con.execute("CHECKPOINT")
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("migration")
    source = make_source(root / "source", patients=12, seed=5)
    db = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        first = summary_dict(run_pipeline(source, db, None))
        fresh = result_rows(db)
        make_older(db)
        older = root / "older.duckdb"
        shutil.copyfile(db, older)
        audit_before = {
            t: query(older, f"SELECT count(*) FROM {t}")[0][0]
            for t in ("pipeline_runs", "dq_results")
        }
        migrated = summary_dict(run_pipeline(source, db, None))
    return {
        "db": db,
        "first": first,
        "fresh": fresh,
        "migrated": migrated,
        "audit_before": audit_before,
    }


def test_run_on_an_older_warehouse_recomputes_every_patient(runs: dict) -> None:
    assert runs["migrated"]["read_files"] == []  # the source did not change
    assert runs["migrated"]["recomputed"] is True
    assert query(runs["db"], "SELECT version FROM meta.schema_version") == [(SCHEMA_VERSION,)]


def test_migrated_tables_have_the_ddl_columns_in_order(runs: dict) -> None:
    for table in OLDER_TABLES:
        columns = query(
            runs["db"],
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        )
        assert [c for (c,) in columns] == PUBLIC_COLUMNS[table], table


def test_migrated_warehouse_equals_a_fresh_run(runs: dict) -> None:
    after = result_rows(runs["db"])
    for table, rows in runs["fresh"].items():
        assert after[table] == rows, table
    assert query(runs["db"], "SELECT DISTINCT sum_unit FROM timepoint_responses ORDER BY 1") == [
        ("mm",)
    ]


def test_migration_keeps_the_audit_history(runs: dict) -> None:
    db, before = runs["db"], runs["audit_before"]
    assert query(db, "SELECT count(*) FROM pipeline_runs")[0][0] == before["pipeline_runs"] + 1
    first_run = [runs["first"]["run_id"]]
    # dq_results rows of the first run are carried over, the column they lacked null.
    assert query(
        db, "SELECT count(*), count(severity) FROM dq_results WHERE run_id = ?", first_run
    ) == [(before["dq_results"], 0)]
    assert query(
        db,
        "SELECT count(*) > 0, count(*) = count(severity) FROM dq_results WHERE run_id = ?",
        [runs["migrated"]["run_id"]],
    ) == [(True, True)]
