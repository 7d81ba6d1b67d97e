"""A run's build: a private copy of the warehouse that one run changes and then publishes.

DuckDB lets no other process open a file that a writer holds, and a
read-only holder blocks a writer (``../shared/notes/stack.md``). So a run never
writes the published file: it copies it to ``<db>.building-<run_id>``, changes
the copy, and publishes it (``warehouse.publish``). A run killed at any moment
leaves only a stale ``.building-*`` file, which the next run deletes.

Two runs on one warehouse are serialised by an advisory lock on
``<db>.lock``; the second waits a bounded time, then gives up with a clear
message.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from contract import AUDIT_TABLES
from warehouse import ledger
from warehouse.errors import WarehouseError
from warehouse.publish import publish_file
from warehouse.schema import PUBLIC_COLUMNS, PUBLIC_TABLES, create_schema, upgrade

if TYPE_CHECKING:
    from config.params import EngineSettings


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
    # (``warehouse.schema.migrate_public_tables``): the run recomputes every patient.
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

    # -- the raw layer: every source row as text, keyed by file (warehouse.ledger) ------

    def source_files(self) -> dict[str, tuple[str, str]]:
        """Files whose rows are in the raw layer now: name → (sha256, dataset)."""
        return ledger.source_files(self.con)

    def raw_exists(self, dataset: str) -> bool:
        """Whether a file of ``dataset`` was ever stored (its raw table exists)."""
        return ledger.raw_exists(self.con, dataset)

    def drop_source_file(self, name: str) -> None:
        """Forget every raw row a file brought."""
        ledger.drop_source_file(self.con, name)

    def put_source_file(
        self,
        dataset: str,
        name: str,
        sha256: str,
        table: pa.Table,
        malformed: list[int],
        rows_read: int | None = None,
        malformed_reasons: list[str] | None = None,
        rejected: pa.Table | None = None,
    ) -> None:
        """Store a file's rows as text, replacing whatever an earlier version brought."""
        ledger.put_source_file(
            self.con,
            self.run_id,
            dataset,
            name,
            sha256,
            table,
            malformed,
            rows_read=rows_read,
            malformed_reasons=malformed_reasons,
            rejected=rejected,
        )

    def key_fingerprint(self) -> str | None:
        """The fingerprint of the key that keyed the raw layer, if any was recorded."""
        return ledger.key_fingerprint(self.con)

    def set_key_fingerprint(self, fingerprint: str) -> None:
        ledger.set_key_fingerprint(self.con, fingerprint)

    def publish(self, before_swap: Callable[[], None] | None = None) -> None:
        """Checkpoint, close and swap the build in place of the published file."""
        publish_file(self.con, self.path, self.db_path, before_swap)

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
        migrated = upgrade(con)
        if full_refresh:
            _clear_state(con)
    else:
        con = _connect(path, read_only=False)
        create_schema(con)
        migrated = False
    if engine is not None:  # memory limit, spilling, threads (config section engine)
        engine.apply(con)
    return Build(db_path=db, path=path, con=con, run_id=run_id, schema_migrated=migrated)


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
