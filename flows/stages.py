"""The stages of one run, as plain functions over a warehouse build.

Each stage reads the tables it needs from the build, hands them to a pure
transform, and writes the result back. The Prefect flow (``flows.pipeline``)
makes each stage one task; tests may call these directly.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from config import Config
from sources import DATASETS, Pseudonymiser, SourceFile, discover, read_source_file, sha256_of
from transforms.staging import stage_dataset
from warehouse import Build

Progress = Callable[[str], None]

# Which public table holds the good rows of each input dataset.
FACT_TABLE = {
    "patients": "patients",
    "sessions": "sessions",
    "imaging": "imaging_studies",
    "lesions": "lesion_measurements",
    "labs": "lab_results",
}


def new_run_id() -> str:
    """Sortable by start time, unique even for two runs in the same second."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class QualityGateError(Exception):
    """A fatal data-quality check failed: the run must not publish."""


@dataclass
class RunContext:
    build: Build
    cfg: Config
    source_dir: Path
    pseudonymiser: Pseudonymiser | None  # None: identifiers are already pseudonyms
    prune: bool = False
    progress: Progress = lambda message: None  # noqa: E731
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    rows_read: int = 0

    @property
    def read_files(self) -> list[str]:
        return self.new + self.changed

    @property
    def anything_changed(self) -> bool:
        return bool(self.new or self.changed or self.pruned)


def ingest(ctx: RunContext) -> IngestReport:
    """Read new and changed files into the raw layer; leave unchanged files alone."""
    files: list[SourceFile] = discover(ctx.source_dir)
    known = ctx.build.source_files()
    never_store = set(ctx.cfg.section("privacy")["never_store_columns"])
    report = IngestReport()
    audit = []
    for i, sf in enumerate(files, start=1):
        sha = sha256_of(sf.path)
        if known.get(sf.name) == (sha, sf.dataset):
            report.unchanged.append(sf.name)
            continue
        ctx.progress(f"reading {sf.name} ({i}/{len(files)})")
        result = read_source_file(sf, ctx.pseudonymiser, never_store)
        ctx.build.put_source_file(sf.dataset, sf.name, sha, result.table, result.malformed_rows)
        (report.changed if sf.name in known else report.new).append(sf.name)
        report.dropped_columns += [f"{sf.name}:{c}" for c in result.dropped_columns]
        rows = result.table.num_rows + len(result.malformed_rows)
        report.rows_read += rows
        audit.append((ctx.build.run_id, sf.name, sha, sf.dataset, rows))
    seen = {sf.name for sf in files}
    report.missing = sorted(set(known) - seen)
    if ctx.prune:
        for name in report.missing:
            ctx.build.drop_source_file(name)
        report.pruned = report.missing
    if audit:
        ctx.build.con.executemany("INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?)", audit)
    return report


def _raw(ctx: RunContext, dataset: str) -> pa.Table:
    table = ctx.build.raw_table(dataset)
    if table is None:
        return pa.table(
            {
                "patient_key": pa.array([], pa.string()),
                "source_file": pa.array([], pa.string()),
                "source_row": pa.array([], pa.int64()),
            }
        )
    return table


def _with_run_ids(ctx: RunContext, table: pa.Table) -> pa.Table:
    """Each source row carries the run that ingested its file."""
    con = ctx.build.con
    con.register("_facts", table)
    try:
        return con.sql(
            "SELECT f.*, s.run_id FROM _facts f JOIN meta.source_files s ON s.path = f.source_file"
        ).to_arrow_table()
    finally:
        con.unregister("_facts")


def stage(ctx: RunContext) -> dict[str, int]:
    """Type and check every source row: good rows become facts, bad rows the quarantine."""
    from transforms.labs import normalise_labs

    ingest_params = ctx.cfg.section("ingest")
    quarantines = []
    loaded: dict[str, int] = {}
    studies = None
    for dataset in ("patients", "sessions", "imaging", "lesions", "labs"):
        ctx.progress(f"checking {dataset}")
        staged = stage_dataset(dataset, _raw(ctx, dataset), ingest_params, studies=studies)
        facts = staged.facts
        quarantines.append(staged.quarantine)
        if dataset == "imaging":
            studies = facts
        if dataset == "labs":
            facts, lab_quarantine = normalise_labs(facts, ctx.cfg.section("labs"))
            quarantines.append(
                lab_quarantine.append_column(
                    "dataset", pa.array(["labs"] * lab_quarantine.num_rows, pa.string())
                )
            )
        loaded[dataset] = ctx.build.replace_table(FACT_TABLE[dataset], _with_run_ids(ctx, facts))
    malformed = ctx.build.con.sql(
        "SELECT dataset, source_file, source_row, 'malformed_row' AS reason_code, "
        "'the line does not split into the columns of the header' AS reason "
        "FROM meta.malformed_rows"
    ).to_arrow_table()
    quarantine = pa.concat_tables(
        [
            q.select(["dataset", "source_file", "source_row", "reason_code", "reason"])
            for q in (*quarantines, malformed)
        ]
    )
    ctx.build.replace_table("quarantine", _with_run_ids(ctx, quarantine))
    return loaded


def responses(ctx: RunContext) -> None:
    """RECIST 1.1 and mRECIST over the course and after each session, then best responses."""
    from transforms.responses import compute_best_responses, compute_timepoints
    from transforms.responses.best import assessments_from_warehouse_tables

    b = ctx.build
    result = compute_timepoints(
        b.table("sessions"),
        b.table("imaging_studies"),
        b.table("lesion_measurements"),
        ctx.cfg.section("response"),
    )
    if result.quarantined.num_rows:
        # R1: a target first seen after baseline is a data error, not a new target.
        b.con.register("_bad", result.quarantined)
        try:
            b.con.execute(
                "DELETE FROM lesion_measurements WHERE (source_file, source_row) IN "
                "(SELECT (source_file, source_row) FROM _bad)"
            )
            b.con.execute(
                "INSERT INTO quarantine SELECT s.run_id, 'lesions', q.source_file, q.source_row, "
                "q.reason_code, q.reason FROM _bad q "
                "JOIN meta.source_files s ON s.path = q.source_file"
            )
        finally:
            b.con.unregister("_bad")
    b.replace_table("timepoint_responses", _stamp(result.timepoint_responses, b.run_id))
    b.replace_table("session_responses", _stamp(result.session_responses, b.run_id))
    assessments, scopes = assessments_from_warehouse_tables(
        result.timepoint_responses, result.session_responses, b.table("sessions")
    )
    best = compute_best_responses(
        assessments, scopes, b.table("patients"), ctx.cfg.section("best_response")
    )
    b.replace_table("best_responses", _stamp(best, b.run_id))


def labs(ctx: RunContext) -> None:
    """NLR, prognostic flags and eligibility for every session."""
    from transforms.labs import compute_lab_tables

    b = ctx.build
    result = compute_lab_tables(
        b.table("lab_results"),
        b.table("sessions"),
        b.table("imaging_studies"),
        b.table("patients"),
        ctx.cfg.section("labs"),
    )
    b.replace_table("nlr", _stamp(result.nlr, b.run_id))
    b.replace_table("session_labs", _stamp(result.session_labs, b.run_id))
    b.replace_table("session_flags", _stamp(result.session_flags, b.run_id))


def quality(ctx: RunContext, docs_dir: Path | None) -> list[str]:
    """Validate inputs and outputs; store one row per expectation; stop on a fatal failure."""
    from expectations import run_quality_checks
    from warehouse import PUBLIC_TABLES

    b = ctx.build
    inputs = {dataset: _raw(ctx, dataset) for dataset in DATASETS}
    outputs = {
        name: b.table(name)
        for name in PUBLIC_TABLES
        if name not in ("pipeline_runs", "ingested_files", "quarantine", "dq_results")
    }
    outcome = run_quality_checks(inputs, outputs, b.run_id, ctx.cfg.section("dq"), docs_dir)
    b.append_rows("dq_results", outcome.results)
    if outcome.fatal_failures:
        raise QualityGateError(
            "fatal data-quality failure, nothing published: " + "; ".join(outcome.fatal_failures)
        )
    failed = outcome.results.filter(pc.invert(outcome.results.column("success")))
    return failed.column("expectation").to_pylist()


def record_run(ctx: RunContext, report: IngestReport, status: str) -> None:
    """The run's row in pipeline_runs: rows read from this run's files, and where they went."""
    con = ctx.build.con
    files = report.read_files
    loaded = quarantined = 0
    if files:
        con.register("_files", pa.table({"f": pa.array(files, pa.string())}))
        try:
            for table in FACT_TABLE.values():
                loaded += con.execute(
                    f"SELECT count(*) FROM {table} WHERE source_file IN (SELECT f FROM _files)"
                ).fetchall()[0][0]
            quarantined = con.execute(
                "SELECT count(*) FROM quarantine WHERE source_file IN (SELECT f FROM _files)"
            ).fetchall()[0][0]
        finally:
            con.unregister("_files")
    con.execute(
        "INSERT INTO pipeline_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ctx.build.run_id,
            ctx.started_at,
            datetime.now(UTC).replace(tzinfo=None),
            status,
            str(ctx.source_dir.resolve()),
            ctx.cfg.hash,
            report.rows_read,
            loaded,
            quarantined,
        ],
    )


def last_config_hash(build: Build) -> str | None:
    rows = build.con.execute(
        "SELECT config_hash FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def _stamp(table: pa.Table, run_id: str) -> pa.Table:
    """Derived rows carry the run that produced them."""
    if "run_id" in table.column_names:
        table = table.drop_columns(["run_id"])
    return table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))


def dataset_counts(build: Build) -> dict[str, dict[str, int]]:
    """Rows read, loaded and quarantined per dataset in the current state."""
    con = build.con
    read = dict(
        con.execute("SELECT dataset, sum(rows) FROM meta.source_files GROUP BY dataset").fetchall()
    )
    quarantined = dict(
        con.execute("SELECT dataset, count(*) FROM quarantine GROUP BY dataset").fetchall()
    )
    out = {}
    for dataset in DATASETS:
        loaded = con.execute(f"SELECT count(*) FROM {FACT_TABLE[dataset]}").fetchall()[0][0]
        out[dataset] = {
            "read": int(read.get(dataset, 0)),
            "loaded": int(loaded),
            "quarantined": int(quarantined.get(dataset, 0)),
        }
    return out


def quarantine_by_reason(build: Build) -> Counter[str]:
    rows = build.con.execute(
        "SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code"
    ).fetchall()
    return Counter({code: int(n) for code, n in rows})
