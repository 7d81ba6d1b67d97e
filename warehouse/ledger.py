"""The warehouse's ledger: which source files are in the raw layer, who changed, what each run did.

- ``meta.source_files`` / ``meta.malformed_rows``: the files whose rows the raw
  layer holds now, with their fingerprints and record counts (and the lines
  that could not be split into columns);
- the temporary table ``CHANGED_PATIENTS``: the patients whose source rows
  changed in this run, the only ones an incremental run recomputes;
- the audit tables ``ingested_files`` and ``pipeline_runs``: one row per file
  read and per run, carried from run to run.

Functions take the build's connection, so the build, the stages and the tests
share one implementation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from contract import DATASETS, FACT_TABLES, QUARANTINE_TABLE, sql_list

#: Temporary table of a run's build: the patients whose source rows changed (ingest),
#: or whose loaded rows changed with their files unchanged (stage).
CHANGED_PATIENTS = "changed_patients"
#: Rows that count as quarantined in "read = loaded + quarantined": one per
#: source row whose action removed it from its fact table.
REMOVED_ROWS = f"count(DISTINCT (source_file, source_row)) FILTER (WHERE action IN {sql_list()})"
# Temporary table of row fingerprints of the files a run replaces, before and after.
_ROW_VERSIONS = "_row_versions"


@dataclass(frozen=True)
class FileRows:
    """A source file's rows in the published warehouse before this run, and now (None: absent)."""

    name: str
    dataset: str
    before: int | None
    now: int | None


# -- the raw layer's files (meta.source_files) -----------------------------------------


def source_files(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """Files whose rows are in the raw layer now: name → (sha256, dataset)."""
    rows = con.execute("SELECT path, sha256, dataset FROM meta.source_files").fetchall()
    return {path: (sha, dataset) for path, sha, dataset in rows}


def source_file_rows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """Each file of the raw layer: name → (dataset, records read)."""
    rows = con.execute("SELECT path, dataset, rows FROM meta.source_files").fetchall()
    return {path: (dataset, int(n)) for path, dataset, n in rows}


def file_rows(
    before: dict[str, tuple[str, int]], now: dict[str, tuple[str, int]]
) -> list[FileRows]:
    """Each file's rows in the published warehouse and in the build (``source_file_rows``)."""
    return [
        FileRows(
            name=name,
            dataset=(now.get(name) or before[name])[0],
            before=before[name][1] if name in before else None,
            now=now[name][1] if name in now else None,
        )
        for name in sorted(set(before) | set(now))
    ]


def raw_exists(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    """Whether a file of ``dataset`` was ever stored (its raw table exists)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = ?",
            [dataset],
        ).fetchall()[0][0]
    )


def drop_source_file(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Forget every raw row a file brought."""
    known = source_files(con)
    if name not in known:
        return
    dataset = known[name][1]
    if raw_exists(con, dataset):
        con.execute(f"DELETE FROM raw.{dataset} WHERE source_file = ?", [name])
    con.execute("DELETE FROM meta.source_files WHERE path = ?", [name])
    con.execute("DELETE FROM meta.malformed_rows WHERE source_file = ?", [name])


def put_source_file(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    dataset: str,
    name: str,
    sha256: str,
    table: pa.Table,
    malformed: list[int],
    rows_read: int | None = None,
    malformed_reasons: list[str] | None = None,
    rejected: pa.Table | None = None,
) -> None:
    """Store a file's rows as text, replacing whatever an earlier version brought.

    ``rows_read`` is the file's record count as its reader counted it (by
    default, the rows stored plus the malformed ones). ``rejected``: records
    an adapter could not map (sources.adapters.REJECTED_SCHEMA), kept beside
    the malformed lines with their reason code.
    """
    drop_source_file(con, name)
    table = table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))
    con.register("_incoming", table)
    try:
        if not raw_exists(con, dataset):
            con.execute(f"CREATE TABLE raw.{dataset} AS SELECT * FROM _incoming LIMIT 0")
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ?",
                [dataset],
            ).fetchall()
        }
        for column in table.column_names:
            if column not in existing:  # extra columns are kept in the raw layer
                con.execute(f'ALTER TABLE raw.{dataset} ADD COLUMN "{column}" VARCHAR')
        con.execute(f"INSERT INTO raw.{dataset} BY NAME SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")
    con.execute(
        "INSERT INTO meta.source_files VALUES (?, ?, ?, ?, ?)",
        [
            name,
            sha256,
            dataset,
            run_id,
            table.num_rows + len(malformed) if rows_read is None else rows_read,
        ],
    )
    if malformed:
        reasons = malformed_reasons or [None] * len(malformed)
        con.executemany(
            "INSERT INTO meta.malformed_rows "
            "(dataset, source_file, source_row, run_id, reason) VALUES (?, ?, ?, ?, ?)",
            [
                (dataset, name, row, run_id, reason)
                for row, reason in zip(malformed, reasons, strict=True)
            ],
        )
    if rejected is not None and rejected.num_rows:
        con.register("_rejected", rejected)
        try:
            con.execute(
                "INSERT INTO meta.malformed_rows BY NAME SELECT ? AS dataset, "
                "? AS source_file, source_row, ? AS run_id, reason, reason_code, column_name "
                "FROM _rejected",
                [dataset, name, run_id],
            )
        finally:
            con.unregister("_rejected")


def key_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the key that keyed the raw layer, if any was recorded."""
    rows = con.execute("SELECT fingerprint FROM meta.key_check").fetchall()
    return rows[0][0] if rows else None


def set_key_fingerprint(con: duckdb.DuckDBPyConnection, fingerprint: str) -> None:
    con.execute("DELETE FROM meta.key_check")
    con.execute("INSERT INTO meta.key_check VALUES (?)", [fingerprint])


# -- the patients whose source rows changed ----------------------------------------------


def start_row_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Begin noting the row versions of the files this run replaces."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_ROW_VERSIONS} "
        "(side VARCHAR, patient_key VARCHAR, h UBIGINT)"
    )


def note_row_versions(con: duckdb.DuckDBPyConnection, dataset: str, name: str, side: str) -> None:
    """Fingerprint each raw row of one file, ``side`` 'before' or 'after' it is replaced
    (a file with one version only: :func:`note_file_patients`)."""
    if raw_exists(con, dataset):
        con.execute(
            f"INSERT INTO {_ROW_VERSIONS} SELECT ?, patient_key, "
            f"hash(*COLUMNS(* EXCLUDE (run_id))) FROM raw.{dataset} WHERE source_file = ?",
            [side, name],
        )


def note_file_patients(con: duckdb.DuckDBPyConnection, dataset: str, name: str) -> None:
    """Note every patient of a file that has one version only (a new file, or a pruned one).

    Lineage (the file's name) is part of each row's fingerprint, so none of its rows
    can equal a row of another file: each patient with a row in it has changed, and
    no row needs a fingerprint (a first run at 1M patients would otherwise compare
    hundreds of millions of them).
    """
    if raw_exists(con, dataset):
        con.execute(
            f"INSERT INTO {_ROW_VERSIONS} SELECT DISTINCT 'whole', patient_key, NULL::UBIGINT "
            f"FROM raw.{dataset} WHERE source_file = ?",
            [name],
        )


def collect_changed_patients(con: duckdb.DuckDBPyConnection) -> int:
    """Fill CHANGED_PATIENTS: patients with a row in one version of a file and not in the
    other, or with a row in a file that has one version only.

    Lineage is part of a row, so a row that moved counts. Returns how many patients.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {CHANGED_PATIENTS} AS
        WITH before AS (SELECT patient_key, h FROM {_ROW_VERSIONS} WHERE side = 'before'),
             after AS (SELECT patient_key, h FROM {_ROW_VERSIONS} WHERE side = 'after')
        SELECT DISTINCT patient_key FROM (
            (SELECT * FROM before EXCEPT ALL SELECT * FROM after)
            UNION ALL
            (SELECT * FROM after EXCEPT ALL SELECT * FROM before)
            UNION ALL
            SELECT patient_key, h FROM {_ROW_VERSIONS} WHERE side = 'whole')
        WHERE patient_key IS NOT NULL
        """
    )
    con.execute(f"DROP TABLE {_ROW_VERSIONS}")
    return con.execute(f"SELECT count(*) FROM {CHANGED_PATIENTS}").fetchall()[0][0]


# -- run records (audit tables) -------------------------------------------------------


def record_ingested_files(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, int]]
) -> None:
    """One ingested_files row per file read: (run_id, path, sha256, dataset, rows)."""
    if rows:
        con.executemany("INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?)", rows)


def record_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    source: str,
    config_hash: str,
    read_files: list[str],
    rows_read: int,
) -> None:
    """The run's row in pipeline_runs: rows read from this run's files, and where they went."""
    loaded = quarantined = 0
    if read_files:
        con.register("_files", pa.table({"f": pa.array(read_files, pa.string())}))
        try:
            for table in FACT_TABLES.values():
                loaded += con.execute(
                    f"SELECT count(*) FROM {table} WHERE source_file IN (SELECT f FROM _files)"
                ).fetchall()[0][0]
            quarantined = con.execute(
                f"SELECT {REMOVED_ROWS} FROM {QUARANTINE_TABLE} "
                "WHERE source_file IN (SELECT f FROM _files)"
            ).fetchall()[0][0]
        finally:
            con.unregister("_files")
    con.execute(
        "INSERT INTO pipeline_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            started_at,
            finished_at,
            status,
            source,
            config_hash,
            rows_read,
            loaded,
            quarantined,
        ],
    )


def last_config_hash(con: duckdb.DuckDBPyConnection) -> str | None:
    """The configuration hash of the latest recorded run (None: no run yet)."""
    rows = con.execute(
        "SELECT config_hash FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def dataset_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Rows read, loaded and quarantined per dataset in the current state."""
    read = dict(
        con.execute("SELECT dataset, sum(rows) FROM meta.source_files GROUP BY dataset").fetchall()
    )
    # A row whose value was nulled is loaded too: it counts once, as loaded.
    quarantined = dict(
        con.execute(
            f"SELECT dataset, {REMOVED_ROWS} FROM {QUARANTINE_TABLE} GROUP BY dataset"
        ).fetchall()
    )
    out = {}
    for dataset in DATASETS:
        loaded = con.execute(f"SELECT count(*) FROM {FACT_TABLES[dataset]}").fetchall()[0][0]
        out[dataset] = {
            "read": int(read.get(dataset, 0)),
            "loaded": int(loaded),
            "quarantined": int(quarantined.get(dataset, 0)),
        }
    return out


def quarantine_by_reason(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    """Quarantine rows per reason code in the current state."""
    rows = con.execute(
        f"SELECT reason_code, count(*) FROM {QUARANTINE_TABLE} GROUP BY reason_code"
    ).fetchall()
    return Counter({code: int(n) for code, n in rows})
