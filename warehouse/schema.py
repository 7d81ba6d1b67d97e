"""The warehouse's schema: the only reader of the DDL files (``warehouse/ddl/*.sql``).

Everything that needs a public table's columns, types or CREATE statement
asks this module: the build (writes by column name), the migration of older
warehouses, the data-quality suites (absent tables, "columns match the DDL")
and the tests. ``contract.tables`` names the tables and their groups; a test
checks that the DDL creates exactly those.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from contract.tables import AUDIT_TABLES

DDL_DIR = Path(__file__).parent / "ddl"
# 2: timepoint_responses and session_responses gained sum_unit and the Choi density
# columns, lesion_measurements viable_perpendicular_mm (EASL and Choi).
# 3: the survival table (issue 10).
SCHEMA_VERSION = 3
_TABLE_RE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.DOTALL)

# The private tables of the warehouse (schemas raw and meta), beside the public DDL.
META_DDL = """
CREATE SCHEMA raw;
CREATE SCHEMA meta;
CREATE TABLE meta.schema_version (version INTEGER NOT NULL);
-- The files whose rows are in the raw layer now (the state of the source).
CREATE TABLE meta.source_files (
    path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, rows BIGINT NOT NULL);
-- Lines of a CSV file that could not be split into the header's columns, and
-- records of a standard-format file an adapter could not map (reason_code set).
CREATE TABLE meta.malformed_rows (
    dataset VARCHAR NOT NULL, source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL,
    run_id VARCHAR NOT NULL, reason VARCHAR);
"""


def _read_ddl() -> dict[str, tuple[str, list[str]]]:
    """Each public table's CREATE TABLE statement and column names, in DDL order."""
    tables: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(DDL_DIR.glob("*.sql")):
        for match in _TABLE_RE.finditer(path.read_text()):
            name, body = match.group(1), match.group(2)
            columns = [
                line.strip().split()[0]
                for line in body.strip().splitlines()
                if line.strip() and not line.strip().startswith("--")
            ]
            tables[name] = (match.group(0), columns)
    return tables


_DDL = _read_ddl()
#: Each public table's CREATE TABLE statement, by table name.
DDL_TABLES: dict[str, str] = {name: statement for name, (statement, _) in _DDL.items()}
#: Each public table's columns, in order.
PUBLIC_COLUMNS: dict[str, list[str]] = {name: columns for name, (_, columns) in _DDL.items()}
#: The tables the DDL creates, in its order (equal to ``contract.PUBLIC_TABLES``).
PUBLIC_TABLES: tuple[str, ...] = tuple(PUBLIC_COLUMNS)


#: session_flags' prognostic flags (labs-and-flags P1-P9) and eligibility criteria
#: (G1-G9), by their public names, in the DDL's order.
FLAG_COLUMNS: tuple[str, ...] = tuple(
    c for c in PUBLIC_COLUMNS["session_flags"] if c.startswith("flag_")
)
ELIGIBILITY_COLUMNS: tuple[str, ...] = tuple(
    c for c in PUBLIC_COLUMNS["session_flags"] if c.startswith("elig_")
)


@cache
def arrow_schemas() -> dict[str, pa.Schema]:
    """The Arrow schema DuckDB gives each public table of the DDL (an empty table's schema)."""
    con = duckdb.connect()
    try:
        schemas = {}
        for name, statement in DDL_TABLES.items():
            con.execute(statement)
            schemas[name] = con.sql(f"SELECT * FROM {name}").to_arrow_table().schema
        return schemas
    finally:
        con.close()


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Make a new, empty warehouse: the public tables, the raw and meta schemas."""
    for path in sorted(DDL_DIR.glob("*.sql")):
        con.execute(path.read_text())
    con.execute(META_DDL)
    _add_rejection_columns(con)
    create_key_check(con)
    con.execute("INSERT INTO meta.schema_version VALUES (?)", [SCHEMA_VERSION])


def create_key_check(con: duckdb.DuckDBPyConnection) -> None:
    # Fingerprint of the pseudonymisation key the raw layer was keyed with.
    con.execute("CREATE TABLE IF NOT EXISTS meta.key_check (fingerprint VARCHAR NOT NULL)")


def upgrade(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring a copy of a warehouse published by an earlier version to this version's schema.

    Returns whether a public table was made anew (the run must then recompute
    everything, see ``migrate_public_tables``).
    """
    create_key_check(con)  # warehouses built before the key check existed
    # Warehouses built before malformed rows carried their reason.
    con.execute("ALTER TABLE meta.malformed_rows ADD COLUMN IF NOT EXISTS reason VARCHAR")
    _add_rejection_columns(con)
    _add_quarantine_action(con)
    return migrate_public_tables(con)


def _add_rejection_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Adapter rejections (sources.adapters) carry their own reason code and column."""
    con.execute("ALTER TABLE meta.malformed_rows ADD COLUMN IF NOT EXISTS reason_code VARCHAR")
    con.execute("ALTER TABLE meta.malformed_rows ADD COLUMN IF NOT EXISTS column_name VARCHAR")


def _add_quarantine_action(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses built before quarantine had column_name and action: every row was rejected."""
    have = {r[0] for r in con.execute("DESCRIBE quarantine").fetchall()}
    if "action" not in have:
        con.execute("ALTER TABLE quarantine ADD COLUMN column_name VARCHAR")
        con.execute("ALTER TABLE quarantine ADD COLUMN action VARCHAR DEFAULT 'row_rejected'")
        con.execute("ALTER TABLE quarantine ALTER COLUMN action DROP DEFAULT")
        con.execute("ALTER TABLE quarantine ALTER COLUMN action SET NOT NULL")


def table_shapes(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Column names and types of each public table, in order, as ``con`` has them."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    shapes: dict[str, list[tuple[str, str]]] = {}
    for table, column, type_ in rows:
        shapes.setdefault(table, []).append((column, type_))
    return shapes


def migrate_public_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring a warehouse published by an earlier version to this version's public tables.

    A table whose columns (names, order, types) differ from its DDL is made anew
    from the DDL. An audit table keeps its history: its rows are carried over by
    column name, a new column null. Every other table is derived from the raw
    layer, which is kept, so it is made empty and the run recomputes it for every
    patient, as ``--full-refresh`` would, but without forgetting a source file
    that is no longer in the source folder. Returns whether any table was made
    anew (the run must then recompute everything).
    """
    expected_con = duckdb.connect()
    try:
        for statement in DDL_TABLES.values():
            expected_con.execute(statement)
        expected = table_shapes(expected_con)
    finally:
        expected_con.close()
    have = table_shapes(con)
    changed = [name for name in PUBLIC_TABLES if have.get(name) != expected[name]]
    for name in changed:
        old_columns = {column for column, _ in have.get(name, [])}
        if old_columns:
            con.execute(f"ALTER TABLE {name} RENAME TO _before_migration")
        con.execute(DDL_TABLES[name])
        if old_columns:
            kept = [c for c in PUBLIC_COLUMNS[name] if c in old_columns]
            if name in AUDIT_TABLES and kept:
                listed = ", ".join(kept)
                con.execute(f"INSERT INTO {name} ({listed}) SELECT {listed} FROM _before_migration")
            con.execute("DROP TABLE _before_migration")
    if changed:
        con.execute("UPDATE meta.schema_version SET version = ?", [SCHEMA_VERSION])
    return bool(changed)
