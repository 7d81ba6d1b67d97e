"""The DuckDB warehouse: schema, building a new state, and publishing it atomically.

DuckDB lets no other process open a file that a writer holds, and a
read-only holder blocks a writer (``../shared/notes/stack.md``). So a run never
writes the published file: it copies it to ``<db>.building-<run_id>``, changes
the copy, checkpoints and closes it, and swaps it in with ``os.replace``.
Readers that had the old file open keep reading the old state; new readers
see the new one; nobody ever sees half a run. A run killed at any moment
leaves only a stale ``.building-*`` file, which the next run deletes.

Two runs on one warehouse are serialised by an advisory lock on
``<db>.lock``; the second waits a bounded time, then gives up with a clear
message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from config.params import EngineSettings

DDL_DIR = Path(__file__).parent / "ddl"
# 2: timepoint_responses and session_responses gained sum_unit and the Choi density
# columns, lesion_measurements viable_perpendicular_mm (EASL and Choi).
SCHEMA_VERSION = 2
_TABLE_RE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.DOTALL)


class WarehouseError(Exception):
    """A warehouse problem the user can act on; the message says what to do."""


def _ddl_columns() -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for path in sorted(DDL_DIR.glob("*.sql")):
        for name, body in _TABLE_RE.findall(path.read_text()):
            tables[name] = [
                line.strip().split()[0]
                for line in body.strip().splitlines()
                if line.strip() and not line.strip().startswith("--")
            ]
    return tables


def _ddl_tables() -> dict[str, str]:
    """Each public table's CREATE TABLE statement, by table name."""
    return {
        match.group(1): match.group(0)
        for path in sorted(DDL_DIR.glob("*.sql"))
        for match in _TABLE_RE.finditer(path.read_text())
    }


PUBLIC_COLUMNS: dict[str, list[str]] = _ddl_columns()
PUBLIC_TABLES: tuple[str, ...] = tuple(PUBLIC_COLUMNS)
DDL_TABLES: dict[str, str] = _ddl_tables()
AUDIT_TABLES = ("pipeline_runs", "ingested_files", "dq_results")


def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
    for path in sorted(DDL_DIR.glob("*.sql")):
        con.execute(path.read_text())
    con.execute(
        """
        CREATE SCHEMA raw;
        CREATE SCHEMA meta;
        CREATE TABLE meta.schema_version (version INTEGER NOT NULL);
        -- The files whose rows are in the raw layer now (the state of the source).
        CREATE TABLE meta.source_files (
            path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL, rows BIGINT NOT NULL);
        -- Lines of a CSV file that could not be split into the header's columns.
        CREATE TABLE meta.malformed_rows (
            dataset VARCHAR NOT NULL, source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL,
            run_id VARCHAR NOT NULL, reason VARCHAR);
        """
    )
    _create_key_check(con)
    con.execute("INSERT INTO meta.schema_version VALUES (?)", [SCHEMA_VERSION])


def _create_key_check(con: duckdb.DuckDBPyConnection) -> None:
    # Fingerprint of the pseudonymisation key the raw layer was keyed with.
    con.execute("CREATE TABLE IF NOT EXISTS meta.key_check (fingerprint VARCHAR NOT NULL)")


def _add_quarantine_action(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses built before quarantine had column_name and action: every row was rejected."""
    have = {r[0] for r in con.execute("DESCRIBE quarantine").fetchall()}
    if "action" not in have:
        con.execute("ALTER TABLE quarantine ADD COLUMN column_name VARCHAR")
        con.execute("ALTER TABLE quarantine ADD COLUMN action VARCHAR DEFAULT 'row_rejected'")
        con.execute("ALTER TABLE quarantine ALTER COLUMN action DROP DEFAULT")
        con.execute("ALTER TABLE quarantine ALTER COLUMN action SET NOT NULL")


def _table_shapes(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Column names and types of each public table, in order, as ``con`` has them."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    shapes: dict[str, list[tuple[str, str]]] = {}
    for table, column, type_ in rows:
        shapes.setdefault(table, []).append((column, type_))
    return shapes


def _migrate_public_tables(con: duckdb.DuckDBPyConnection) -> bool:
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
        expected = _table_shapes(expected_con)
    finally:
        expected_con.close()
    have = _table_shapes(con)
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


@contextlib.contextmanager
def run_lock(db_path: Path, wait_seconds: float) -> Iterator[None]:
    """Hold ``<db>.lock`` for one run; wait at most ``wait_seconds`` for another run to finish."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    fh = lock_path.open("a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"another nelmtrack run is writing {db_path.name}; waited "
                        f"{wait_seconds:.0f} s — try again when it has finished"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise WarehouseError(
                f"{path.name} is held open for writing by another program; close it and retry"
            ) from None
        raise WarehouseError(f"{path.name} is not a readable nelmtrack warehouse") from None
    except duckdb.Error:
        raise WarehouseError(f"{path.name} is not a readable nelmtrack warehouse") from None


def open_read_only(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, with a clear error if there is none."""
    path = Path(db_path)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}; run `nelmtrack run` or `nelmtrack demo` first"
        )
    con = _connect(path, read_only=True)
    try:
        con.execute("SELECT version FROM meta.schema_version").fetchall()
    except duckdb.Error:
        con.close()
        raise WarehouseError(
            f"{path.name} is a DuckDB file but not a nelmtrack warehouse"
        ) from None
    return con


@dataclass
class Build:
    """A private copy of the warehouse that one run changes and then publishes."""

    db_path: Path
    path: Path
    con: duckdb.DuckDBPyConnection
    run_id: str
    # The published warehouse had older public tables, made anew for this version
    # (``_migrate_public_tables``): the run recomputes every patient.
    schema_migrated: bool = False

    def replace_table(self, name: str, table: pa.Table) -> int:
        """Make a public table hold exactly ``table``'s rows (extra columns are dropped)."""
        columns = PUBLIC_COLUMNS[name]
        given = set(table.column_names)
        select = ", ".join(c if c in given else f"NULL AS {c}" for c in columns)
        self.con.register("_incoming", table)
        try:
            self.con.execute(f"DELETE FROM {name}")
            self.con.execute(f"INSERT INTO {name} SELECT {select} FROM _incoming")
        finally:
            self.con.unregister("_incoming")
        return table.num_rows

    def replace_patients(self, name: str, table: pa.Table, patients: str) -> int:
        """Replace the rows of the patients listed in table ``patients`` by ``table``'s rows.

        ``table`` must hold rows of those patients only; every other row, with
        its run_id, stays as it was.
        """
        columns = PUBLIC_COLUMNS[name]
        given = set(table.column_names)
        select = ", ".join(c if c in given else f"NULL AS {c}" for c in columns)
        self.con.register("_incoming", table)
        try:
            self.con.execute(
                f"DELETE FROM {name} WHERE patient_key IN (SELECT patient_key FROM {patients})"
            )
            self.con.execute(f"INSERT INTO {name} SELECT {select} FROM _incoming")
        finally:
            self.con.unregister("_incoming")
        return table.num_rows

    def append_rows(self, name: str, table: pa.Table) -> None:
        columns = PUBLIC_COLUMNS[name]
        self.con.register("_incoming", table)
        try:
            self.con.execute(f"INSERT INTO {name} SELECT {', '.join(columns)} FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    def table(self, name: str) -> pa.Table:
        return self.con.sql(f"SELECT * FROM {name}").to_arrow_table()

    # -- the raw layer: every source row as text, keyed by file ------------------

    def source_files(self) -> dict[str, tuple[str, str]]:
        """Files whose rows are in the raw layer now: name → (sha256, dataset)."""
        rows = self.con.execute("SELECT path, sha256, dataset FROM meta.source_files").fetchall()
        return {path: (sha, dataset) for path, sha, dataset in rows}

    def raw_exists(self, dataset: str) -> bool:
        """Whether a file of ``dataset`` was ever stored (its raw table exists)."""
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'raw' AND table_name = ?",
                [dataset],
            ).fetchall()[0][0]
        )

    def drop_source_file(self, name: str) -> None:
        """Forget every raw row a file brought."""
        known = self.source_files()
        if name not in known:
            return
        dataset = known[name][1]
        if self.raw_exists(dataset):
            self.con.execute(f"DELETE FROM raw.{dataset} WHERE source_file = ?", [name])
        self.con.execute("DELETE FROM meta.source_files WHERE path = ?", [name])
        self.con.execute("DELETE FROM meta.malformed_rows WHERE source_file = ?", [name])

    def put_source_file(
        self,
        dataset: str,
        name: str,
        sha256: str,
        table: pa.Table,
        malformed: list[int],
        rows_read: int | None = None,
        malformed_reasons: list[str] | None = None,
    ) -> None:
        """Store a file's rows as text, replacing whatever an earlier version brought.

        ``rows_read`` is the file's record count as its reader counted it (by
        default, the rows stored plus the malformed ones).
        """
        self.drop_source_file(name)
        table = table.append_column("run_id", pa.array([self.run_id] * table.num_rows, pa.string()))
        self.con.register("_incoming", table)
        try:
            if not self.raw_exists(dataset):
                self.con.execute(f"CREATE TABLE raw.{dataset} AS SELECT * FROM _incoming LIMIT 0")
            existing = {
                r[0]
                for r in self.con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = ?",
                    [dataset],
                ).fetchall()
            }
            for column in table.column_names:
                if column not in existing:  # extra columns are kept in the raw layer
                    self.con.execute(f'ALTER TABLE raw.{dataset} ADD COLUMN "{column}" VARCHAR')
            self.con.execute(f"INSERT INTO raw.{dataset} BY NAME SELECT * FROM _incoming")
        finally:
            self.con.unregister("_incoming")
        self.con.execute(
            "INSERT INTO meta.source_files VALUES (?, ?, ?, ?, ?)",
            [
                name,
                sha256,
                dataset,
                self.run_id,
                table.num_rows + len(malformed) if rows_read is None else rows_read,
            ],
        )
        if malformed:
            reasons = malformed_reasons or [None] * len(malformed)
            self.con.executemany(
                "INSERT INTO meta.malformed_rows VALUES (?, ?, ?, ?, ?)",
                [
                    (dataset, name, row, self.run_id, reason)
                    for row, reason in zip(malformed, reasons, strict=True)
                ],
            )

    def key_fingerprint(self) -> str | None:
        """The fingerprint of the key that keyed the raw layer, if any was recorded."""
        rows = self.con.execute("SELECT fingerprint FROM meta.key_check").fetchall()
        return rows[0][0] if rows else None

    def set_key_fingerprint(self, fingerprint: str) -> None:
        self.con.execute("DELETE FROM meta.key_check")
        self.con.execute("INSERT INTO meta.key_check VALUES (?)", [fingerprint])

    def raw_table(self, dataset: str) -> pa.Table | None:
        if not self.raw_exists(dataset):
            return None
        return self.con.sql(f"SELECT * FROM raw.{dataset}").to_arrow_table()

    def publish(self, before_swap: Callable[[], None] | None = None) -> None:
        """Checkpoint, close and swap the build in place of the published file.

        ``before_swap`` runs once the build is durable and just before the
        rename (the last moment a crash leaves the old state published).
        """
        self.con.execute("CHECKPOINT")
        self.con.close()
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists():
            raise WarehouseError("the new warehouse did not checkpoint cleanly; nothing published")
        with self.path.open("rb") as fh:
            os.fsync(fh.fileno())
        stale_wal = self.db_path.with_name(self.db_path.name + ".wal")
        stale_wal.unlink(missing_ok=True)
        if before_swap is not None:
            before_swap()
        os.replace(self.path, self.db_path)
        dir_fd = os.open(self.db_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def abort(self) -> None:
        """Throw the build away; the published warehouse is untouched."""
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)


def start_build(
    db_path: str | Path,
    run_id: str,
    full_refresh: bool = False,
    engine: EngineSettings | None = None,
) -> Build:
    """Copy the published warehouse (or start an empty one) into a private build file.

    Call only while holding ``run_lock``: any ``.building-*`` file left beside
    the warehouse then belongs to a run that died, and is deleted.
    """
    db = Path(db_path).resolve()
    if not db.parent.exists():
        raise WarehouseError(f"folder {db.parent} does not exist")
    for stale in db.parent.glob(db.name + ".building-*"):
        stale.unlink(missing_ok=True)
    path = db.with_name(f"{db.name}.building-{run_id}")
    if db.exists():
        if db.with_name(db.name + ".wal").exists():
            raise WarehouseError(
                f"{db.name} has an unfinished write-ahead log (was it opened for writing by "
                "another program?); open it once with duckdb and close it cleanly, then retry"
            )
        probe = open_read_only(db)  # refuses a file that is not a warehouse
        probe.close()
        shutil.copyfile(db, path)
        con = _connect(path, read_only=False)
        _create_key_check(con)  # warehouses built before the key check existed
        # Warehouses built before malformed rows carried their reason.
        con.execute("ALTER TABLE meta.malformed_rows ADD COLUMN IF NOT EXISTS reason VARCHAR")
        _add_quarantine_action(con)
        migrated = _migrate_public_tables(con)
        if full_refresh:
            _clear_state(con)
    else:
        con = _connect(path, read_only=False)
        _create_schema(con)
        migrated = False
    if engine is not None:  # memory limit, spilling, threads (config section engine)
        engine.apply(con)
    return Build(db_path=db, path=path, con=con, run_id=run_id, schema_migrated=migrated)


def stage_folder(target: Path, run_id: str) -> Path:
    """Where a run writes a folder of files it publishes with the warehouse (the DQ report).

    Call only while holding ``run_lock``: staged folders of runs that died are deleted.
    """
    for stale in target.parent.glob(target.name + ".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return target.with_name(f"{target.name}.building-{run_id}")


def publish_folder(staged: Path, target: Path) -> Path:
    """Put a staged folder in place of ``target``: two renames, then the old one is deleted.

    Not atomic as one step (a folder cannot be renamed onto a full one), but a
    reader finds either the old folder, the new one, or briefly none; never a
    folder half written.
    """
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _clear_state(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every source row and derived row; keep the audit history."""
    for name in PUBLIC_TABLES:
        if name not in AUDIT_TABLES:
            con.execute(f"DELETE FROM {name}")
    for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall():
        con.execute(f"DROP TABLE raw.{name}")
    con.execute("DELETE FROM meta.source_files")
    con.execute("DELETE FROM meta.malformed_rows")
    con.execute("DELETE FROM meta.key_check")
