"""Patient shards: the per-patient work of a run split into independent pieces.

A run hashes the patients it recomputes into N shards (``shard_sql``: md5 of
``patient_key``, the same in every process, machine and DuckDB version) and
goes through three steps, all file-based so a shard may run on another machine:

1. ``write_inputs`` (the flow, reading the build): each input table of
   ``transforms.derive`` for the recomputed patients only, as Parquet files
   partitioned by shard: ``<run folder>/inputs/<table>/shard=<k>/*.parquet``,
   plus an empty file per table giving its columns (``schema/<table>.parquet``),
   and the job's parameters (``job.pickle``). The folder is written under a
   temporary name and renamed into place.
2. ``run_shard`` (one Prefect task per shard, on threads or a Dask worker):
   reads its inputs into an in-memory DuckDB with a bounded ``memory_limit``,
   runs ``derive_tables``, writes each output table to
   ``outputs/shard=<k>/<table>.parquet``, sorted, through a temporary name and
   ``os.replace``. Running a shard again writes the same files (Dask may rerun
   a task whose worker died).
3. ``load_outputs`` (the flow, the build's one writer): replaces the derived
   rows of the recomputed patients with the shards' rows, and moves the R1
   rows from ``lesion_measurements`` to the quarantine.

No identifier appears in a file name, a task name or a task's result.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from transforms.derive import (
    OUTPUTS,
    R1_QUARANTINE,
    SOURCES,
    DeriveParams,
    derive_tables,
    input_queries,
)

#: The shard files of the R1 rows (transforms.derive.R1_QUARANTINE).
R1_FILE = "quarantine_r1"
#: Every file a shard writes: one per derived public table, and the R1 rows.
OUTPUT_FILES = (*OUTPUTS, R1_FILE)

JOB_FILE = "job.pickle"
# Shard files are read by their list; their folder names (shard=<k>) are no column.
_PARQUET = "read_parquet(?, hive_partitioning = false)"


def shards_needed(configured: int, patients: int, max_patients_per_shard: int) -> int:
    """The shards a run uses: as configured, but never more than ``max_patients_per_shard``
    (``run.max_patients_per_shard``) patients in one, since the derive's memory grows
    with the patients derived at once (a 1M-patient run gets at least 10 shards)."""
    return max(configured, -(-patients // max_patients_per_shard))


def shard_sql(shards: int, column: str = "patient_key") -> str:
    """SQL for the shard (0 … shards-1) of a patient: the first 32 bits of md5(patient_key)."""
    return f"((('0x' || left(md5({column}), 8))::UBIGINT) % {int(shards)})"


def shard_of(patient_key: str, shards: int) -> int:
    """The shard of one patient, as ``shard_sql`` computes it (for tests and tools)."""
    return int(hashlib.md5(patient_key.encode()).hexdigest()[:8], 16) % shards


def check_dask_address(address: str, timeout_s: float = 10.0) -> None:
    """Refuse, before the run starts, a Dask scheduler address that is malformed or where
    nothing answers (a connection is tried; nothing is sent)."""
    if not address:
        return
    from flows.privacy import ConfigurationError

    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        raise ConfigurationError(
            f"the Dask address {address!r} is not of the form tcp://HOST:PORT "
            "(--dask-address, run.dask_address)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigurationError(
            f"no Dask scheduler answers at {address} ({exc.strerror or exc}); start the "
            "cluster, or leave --dask-address out to run the shards on threads"
        ) from None


@dataclass(frozen=True)
class ShardJob:
    """What every shard task of one run needs besides its shard number."""

    shards: int
    params: DeriveParams
    memory_limit_mb: int
    threads: int  # DuckDB threads of a shard task's connection


def run_folder(db_path: Path, shard_folder: str, run_id: str) -> Path:
    """Where one run's shard files go: ``run.shard_folder`` (shared by a Dask cluster's
    workers) or, by default, beside the warehouse."""
    base = Path(shard_folder) if shard_folder else db_path.parent
    return base / f"{db_path.name}.shards-{run_id}"


def remove_stale_folders(folder: Path) -> None:
    """Delete the shard folders of earlier runs of the same warehouse that died before
    cleaning up. Call only while holding the warehouse's run lock (then no other run of
    it is writing there)."""
    prefix = folder.name[: folder.name.index(".shards-")]  # the warehouse file's name
    for stale in folder.parent.glob(f"{prefix}.shards-*"):
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)


def write_inputs(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    job: ShardJob,
    recomputed: str | None,
) -> None:
    """Write the input tables of the recomputed patients into ``folder``, partitioned by shard.

    ``con`` is the build; ``recomputed`` names a table of the patient_keys to recompute
    (None: every patient); the rows are ``transforms.derive.input_queries``'.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"inputs.tmp-{uuid.uuid4().hex}"
    schema = staging / "schema"
    schema.mkdir(parents=True)
    for view, source in input_queries(con, recomputed).items():
        empty = _quoted(f"{schema / view}.parquet")
        con.execute(f"COPY (SELECT * FROM ({source}) LIMIT 0) TO {empty} (FORMAT parquet)")
        con.execute(
            f"COPY (SELECT *, {shard_sql(job.shards)} AS shard FROM ({source})) "
            f"TO {_quoted(staging / view)} (FORMAT parquet, PARTITION_BY (shard))"
        )
    (staging / JOB_FILE).write_bytes(pickle.dumps(job))
    target = folder / "inputs"
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def _quoted(path: str | Path) -> str:
    """A path as a SQL string literal (COPY and views take no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _output_columns(name: str, have: list[str]) -> list[str]:
    """The columns of a derived table stored in its shard file: the warehouse's (without run_id)."""
    from warehouse import PUBLIC_COLUMNS

    if name not in PUBLIC_COLUMNS:
        return have
    return [c for c in PUBLIC_COLUMNS[name] if c in have and c != "run_id"]


def output_file(folder: Path, shard: int, table: str) -> Path:
    return folder / "outputs" / f"shard={shard}" / f"{table}.parquet"


def run_shard(folder: str | Path, shard: int) -> dict[str, Any]:
    """Compute one shard's derived tables from its input files; write them, one file per table.

    Returns row counts per output table and the seconds of the response and lab parts
    (no identifier). Idempotent: the inputs are fixed, the outputs sorted, and each file
    is replaced whole, so a second run of a shard leaves the same bytes.
    """
    folder = Path(folder)
    inputs = folder / "inputs"
    job: ShardJob = pickle.loads((inputs / JOB_FILE).read_bytes())
    out = output_file(folder, shard, "x").parent
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = '{int(job.memory_limit_mb)}MB'")
        if job.threads:
            con.execute(f"SET threads = {int(job.threads)}")
        for view in SOURCES:
            schema = inputs / "schema" / f"{view}.parquet"
            files = [str(schema), *sorted(map(str, (inputs / view / f"shard={shard}").glob("*")))]
            listed = ", ".join(_quoted(f) for f in files)
            con.execute(
                f"CREATE TEMP VIEW {view} AS "
                f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"
            )
        seconds = derive_tables(con, job.params)
        rows = {}
        relations = {**OUTPUTS, R1_FILE: R1_QUARANTINE}
        for table, relation in relations.items():
            have = [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()]
            columns = ", ".join(_output_columns(table, have))
            target = output_file(folder, shard, table)
            temporary = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
            con.execute(
                f"COPY (SELECT {columns} FROM {relation} ORDER BY ALL) TO {_quoted(temporary)} "
                "(FORMAT parquet)"
            )
            os.replace(temporary, target)
            rows[table] = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
        return {"shard": shard, "rows": rows, "seconds": seconds}
    finally:
        con.close()


def load_outputs(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    shards: int,
    run_id: str,
    recomputed: str | None,
) -> None:
    """Store the shards' rows in the build (its only writer): the derived tables' rows of the
    recomputed patients (``recomputed``: a table of patient_keys; None: all rows) are
    replaced, and the R1 rows leave ``lesion_measurements`` for the quarantine."""

    def files(table: str) -> list[str]:
        return [str(output_file(folder, k, table)) for k in range(shards)]

    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _r1 AS SELECT * FROM {_PARQUET}",
        [files(R1_FILE)],
    )
    from flows.stages import apply_r1_quarantine

    apply_r1_quarantine(con, "_r1")
    con.execute("DROP TABLE _r1")
    for table in OUTPUTS:
        if recomputed is None:
            con.execute(f"DELETE FROM {table}")
        else:
            con.execute(
                f"DELETE FROM {table} WHERE patient_key IN (SELECT patient_key FROM {recomputed})"
            )
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT *, ? AS run_id FROM {_PARQUET}",
            [run_id, files(table)],
        )
