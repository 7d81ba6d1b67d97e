"""Staging on a given DuckDB connection (issue 11, "one engine": bounded memory).

The run stages on the build connection, over the raw tables where they are:
``stage_in`` leaves its results as temp relations ``stg_<dataset>_*`` (never a
public table's name), which the run loads and drops. These tests run it the way
the build does, on a connection holding the public tables and a ``raw`` schema.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from staging_helpers import raw

from config import load_config
from config.params import DeriveParams
from contract import PUBLIC_TABLES
from transforms.staging import drop_staged, stage_dataset, stage_in, staging_params
from warehouse.schema import create_schema

CFG = load_config()
INGEST = CFG.section("ingest")
RUN_DATE = date(2026, 3, 14)


@pytest.fixture
def build() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse's public tables, as a run's build has them."""
    con = duckdb.connect(":memory:")
    create_schema(con)
    yield con
    con.close()


def temp_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
    }


def test_staging_variables_are_bound_by_no_other_transform() -> None:
    """Staging binds its SQL variables on the build connection beside the other transforms'."""
    names = set(staging_params(INGEST, RUN_DATE).values)
    for params in DeriveParams.from_config(CFG).all():
        assert not names & set(params.values), params.transform


def test_staged_relations_are_prefixed_and_dropped_once_loaded(
    build: duckdb.DuckDBPyConnection,
) -> None:
    build.register("arrow_patients", raw(sex=["F", "X"], patient_key=["p1", "p2"]))
    before = temp_relations(build)
    staged = stage_in(build, "patients", "arrow_patients", INGEST, RUN_DATE)
    made = temp_relations(build) - before
    assert made == {name for _, name in staged.objects}
    assert all(name.startswith("stg_patients_") for name in made)
    assert not made & set(PUBLIC_TABLES)
    facts = build.sql(f"SELECT patient_key, sex FROM {staged.facts} ORDER BY ALL").fetchall()
    assert facts == [("p1", "F"), ("p2", None)]  # X is not a sex of the vocabulary: nulled
    quarantine = build.sql(f"SELECT column_name, action FROM {staged.quarantine}").fetchall()
    assert quarantine == [("sex", "value_nulled")]
    drop_staged(build, staged)
    assert temp_relations(build) == before


def test_raw_table_of_the_build_without_a_contract_column_reads_it_as_empty(
    build: duckdb.DuckDBPyConnection,
) -> None:
    """A dataset whose files never had ``ascites`` stages as if every value were empty."""
    build.execute("CREATE SCHEMA IF NOT EXISTS raw")
    build.execute(
        "CREATE TABLE raw.imaging AS SELECT 'p1' AS patient_key, '2026-01-05' AS study_date, "
        "'CT' AS modality, 'f.csv' AS source_file, 1::BIGINT AS source_row"
    )
    build.register("arrow_patients", raw(birth_year=["1950"]))
    patients = stage_in(build, "patients", "arrow_patients", INGEST, RUN_DATE)
    staged = stage_in(build, "imaging", "raw.imaging", INGEST, RUN_DATE, patients=patients.facts)
    rows = build.sql(f"SELECT study_date, modality, ascites FROM {staged.facts}").fetchall()
    assert rows == [(date(2026, 1, 5), "CT", None)]
    assert build.sql(f"SELECT count(*) FROM {staged.quarantine}").fetchall() == [(0,)]


def test_a_dataset_never_delivered_stages_to_no_rows(build: duckdb.DuckDBPyConnection) -> None:
    staged = stage_in(build, "sessions", None, INGEST, RUN_DATE)
    assert build.sql(f"SELECT count(*) FROM {staged.facts}").fetchall() == [(0,)]
    assert build.sql(f"SELECT count(*) FROM {staged.quarantine}").fetchall() == [(0,)]


LINEAGE_ORDER = [("source_file", "ascending"), ("source_row", "ascending")]


def test_the_arrow_entry_gives_what_the_relations_hold(build: duckdb.DuckDBPyConnection) -> None:
    """stage_dataset (the tests' entry) is stage_in in an in-memory DuckDB, fetched as Arrow."""
    table = raw(sex=["F", "M", "M"], patient_key=["p1", "p2", "p1"], birth_year=["1950"] * 3)
    build.register("arrow_patients", table)
    staged = stage_in(build, "patients", "arrow_patients", INGEST, RUN_DATE)
    arrow = stage_dataset("patients", table, INGEST, run_date=RUN_DATE)
    # Row order in a relation is not defined (DuckDB scans in parallel): compare by lineage.
    for arrow_rows, relation in (
        (arrow.facts, staged.facts),
        (arrow.quarantine, staged.quarantine),
    ):
        in_build = build.sql(f"SELECT * FROM {relation}").to_arrow_table()
        assert arrow_rows.sort_by(LINEAGE_ORDER) == in_build.sort_by(LINEAGE_ORDER)
    assert arrow.quarantine.column("reason_code").to_pylist() == ["duplicate_key"]
