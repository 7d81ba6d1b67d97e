"""The stages of one run, as plain functions over a warehouse build.

Each stage reads the tables it needs from the build, hands them to a pure
transform, and writes the result back. The Prefect flow (``flows.pipeline``)
makes each stage one task; tests may call these directly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from config import Config
from config.params import DeriveParams, EngineSettings, lab_params
from contract import CHECKED_TABLES, DATASETS, FACT_TABLES, Action, ReasonCode
from flows.privacy import ConfigurationError, key_fingerprint
from report.drawing import Drawing
from sources import (
    Pseudonymiser,
    ReadResult,
    SourceError,
    SourceFile,
    adapter_files,
    discover,
    read_mapped,
    read_source_file,
    sha256_of,
)
from sources.adapters import KEY_SEPARATOR, fingerprint, original_file
from transforms.derive import SOURCES
from transforms.staging import (
    DATE_AFTER_RUN,
    StagedRelations,
    drop_staged,
    null_death_in,
    run_date_at_site,
    stage_in,
)
from warehouse import PUBLIC_COLUMNS, Build, ledger, open_read_only
from warehouse.ledger import CHANGED_PATIENTS, FileRows

Progress = Callable[[str], None]

# Which public table holds each dataset's good rows; the tables derived from them.
FACT_TABLE = FACT_TABLES
# The day of the run (at the site) the rows were last checked against (date_after_run).
STAGED_ON = "meta.staged_on"
# Response-criteria R1 quarantines lesion rows after staging (responses stage).
R1_REASON_CODE = ReasonCode.TARGET_AFTER_BASELINE
# Temporary table of this run's build: lesion target rows staging rejected for
# their measurement, which the responses still count as targets (R1, R3).
REJECTED_TARGETS = SOURCES["in_rejected_targets"]
# Datasets no other dataset is checked against (staged last): a large one is staged
# in patient partitions (engine.staging_partition_rows), since every staging check
# compares rows of one patient only (keys, copies, studies and birth years all
# include the patient).
PARTITIONED_DATASETS = ("lesions", "labs")


@dataclass(frozen=True)
class Partition:
    """Patients ``index`` of ``count``: the slice of a dataset staged at once.

    Partitions bound staging's working set (DuckDB spills what exceeds its memory
    limit, and a whole 188-million-row lab table spilled tens of GB); the result
    is the same for any count. DuckDB's ``hash`` of the trimmed key is cheap and
    puts rows that staging compares (same key, text or trimmed text) in one
    partition; it is never stored, so it need not be stable across versions.
    """

    index: int = 0
    count: int = 1

    def where(self, column: str = "patient_key") -> str:
        """A SQL condition true for the rows of this partition's patients."""
        if self.count == 1:
            return "TRUE"
        return f"hash(trim({column})) % {self.count} = {self.index}"


WHOLE = Partition()


def _partitions(ctx: RunContext, dataset: str) -> list[Partition]:
    """The partitions ``dataset`` is staged in: one unless it is large and partitionable."""
    if dataset not in PARTITIONED_DATASETS or not ctx.build.raw_exists(dataset):
        return [WHOLE]
    rows = ctx.build.con.execute(f"SELECT count(*) FROM raw.{dataset}").fetchall()[0][0]
    per = EngineSettings.from_config(ctx.cfg).staging_partition_rows
    count = max(1, -(-rows // per))
    return [Partition(i, count) for i in range(count)]


def new_run_id() -> str:
    """Sortable by start time, unique even for two runs in the same second."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class QualityGateError(Exception):
    """A fatal data-quality check failed: the run must not publish."""


class ShrinkError(SourceError):
    """A delivery brings many fewer rows than the published state: refused unless accepted."""


@dataclass
class RunContext:
    build: Build
    cfg: Config
    source_dir: Path
    pseudonymiser: Pseudonymiser | None  # None: identifiers are already pseudonyms
    prune: bool = False
    progress: Progress = lambda message: None  # noqa: E731
    # True: recompute derived tables for every patient (first run, --full-refresh,
    # new config); False: only for the patients in CHANGED_PATIENTS.
    recompute_all: bool = True
    # Accept a file or dataset that lost ingest.shrink_refuse_loss_pct of its rows or more.
    accept_shrink: bool = False
    # Test hook (flows.pipeline.fault_point): called with a point's name.
    fault_point: Callable[[str], None] = lambda point: None  # noqa: E731
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
    changed_patients: int = 0  # patients with a source row added, changed or removed
    files: list[FileRows] = field(default_factory=list)  # every file, before and now
    # Rows held back as dated after an earlier run's day, and a later day has come.
    held_rows_due: bool = False

    @property
    def read_files(self) -> list[str]:
        return self.new + self.changed

    @property
    def anything_changed(self) -> bool:
        return bool(self.new or self.changed or self.pruned or self.held_rows_due)


def check_key(ctx: RunContext) -> None:
    """Refuse to mix patient_keys made with two different keys in one raw layer."""
    build = ctx.build
    fingerprint = key_fingerprint(ctx.pseudonymiser)
    recorded = build.key_fingerprint()
    if recorded is not None and recorded != fingerprint and build.source_files():
        raise ConfigurationError(
            "the pseudonymisation key (or the already-pseudonymous setting) differs from the one "
            "this warehouse was built with; use the same key, or pass --full-refresh to re-key "
            "every patient (patient_key values then change)"
        )
    build.set_key_fingerprint(fingerprint)


def ingest(ctx: RunContext) -> IngestReport:
    """Read new and changed files into the raw layer; leave unchanged files alone.

    Also lists, in the temporary table CHANGED_PATIENTS, the patients whose
    rows differ between the old and new version of a changed file, or who
    have rows in a new or pruned file: the only ones an incremental run
    recomputes.
    """
    check_key(ctx)
    files: list[SourceFile] = discover(ctx.source_dir)
    known = ctx.build.source_files()
    ledger.start_row_versions(ctx.build.con)
    never_store = set(ctx.cfg.section("privacy")["never_store_columns"])
    encoding = ctx.cfg.section("ingest")["encoding"]
    report = IngestReport()
    audit = []
    for i, sf in enumerate(files, start=1):
        sha = sha256_of(sf.path)
        if known.get(sf.name) == (sha, sf.dataset):
            report.unchanged.append(sf.name)
            continue
        ctx.progress(f"reading {sf.name} ({i}/{len(files)})")
        result = read_source_file(sf, ctx.pseudonymiser, never_store, encoding)
        _refuse_mostly_malformed(ctx, sf.name, result)
        _store(
            ctx,
            known,
            report,
            audit,
            sf.dataset,
            sf.name,
            sha,
            result,
            result.malformed_rows,
            malformed_reasons=result.malformed_reasons,
        )
    seen = {sf.name for sf in files}
    seen |= _ingest_adapted(ctx, known, never_store, report, audit)
    report.missing = sorted(set(known) - seen)
    if ctx.prune:
        for name in report.missing:
            ledger.note_file_patients(ctx.build.con, known[name][1], name)
            ctx.build.drop_source_file(name)
        report.pruned = report.missing
    report.files = _file_rows(ctx)
    _guard_shrink(ctx, report.files)
    report.changed_patients = ledger.collect_changed_patients(ctx.build.con)
    report.held_rows_due = _held_rows_due(ctx)
    ledger.record_ingested_files(ctx.build.con, audit)
    return report


def _ingest_adapted(
    ctx: RunContext,
    known: dict[str, tuple[str, str]],
    never_store: set[str],
    report: IngestReport,
    audit: list[tuple],
) -> set[str]:
    """Standard-format files (SDTM, FHIR) through their adapters, stored like contract files.

    Returns the lineage keys (``<file>#<dataset>``) present in the folder. An
    adapter whose files and config are unchanged since the last run is not run
    (sources.adapters: one fingerprint over all its inputs).
    """
    seen: set[str] = set()
    for group in adapter_files(ctx.source_dir):
        params = ctx.cfg.section(group.name) if group.name in ctx.cfg.tree else {}
        shas = {path: sha256_of(path) for path in group.paths}
        sha = fingerprint(ctx.source_dir, group, params, shas)
        files = {p.relative_to(ctx.source_dir).as_posix() for p in group.paths}
        previous = {k for k in known if KEY_SEPARATOR in k and original_file(k) in files}
        if previous and all(known[k][0] == sha for k in previous):
            report.unchanged += sorted(previous)
            seen |= previous
            continue
        ctx.progress(f"reading {len(group.paths)} {group.name} file(s)")
        mapped_list = group.adapter.read(list(group.paths), ctx.source_dir, params)
        keys = [m.key for m in mapped_list]
        if len(set(keys)) != len(keys):
            raise SourceError(f"the {group.name} adapter returned one file's dataset twice")
        for mapped in mapped_list:
            result = read_mapped(mapped, ctx.pseudonymiser, never_store)
            _store(
                ctx,
                known,
                report,
                audit,
                mapped.dataset,
                mapped.key,
                sha,
                result,
                [],
                rejected=mapped.rejected,
            )
            seen.add(mapped.key)
    return seen


def _store(
    ctx: RunContext,
    known: dict[str, tuple[str, str]],
    report: IngestReport,
    audit: list[tuple],
    dataset: str,
    name: str,
    sha: str,
    result: ReadResult,
    malformed_rows: list[int],
    **stored: object,
) -> None:
    """Put one file's rows (or one adapter dataset's) into the raw layer, in place of its
    previous version, noting the patients whose rows changed; count it in the report
    and the audit. ``stored``: what else ``Build.put_source_file`` keeps of the file."""
    con = ctx.build.con
    if name in known:
        ledger.note_row_versions(con, known[name][1], name, "before")
    ctx.build.put_source_file(
        dataset, name, sha, result.table, malformed_rows, rows_read=result.rows_read, **stored
    )
    if name in known:
        ledger.note_row_versions(con, dataset, name, "after")
    else:
        ledger.note_file_patients(con, dataset, name)
    ctx.fault_point("ingest")
    (report.changed if name in known else report.new).append(name)
    report.dropped_columns += [f"{name}:{c}" for c in result.dropped_columns]
    report.rows_read += result.rows_read
    audit.append((ctx.build.run_id, name, sha, dataset, result.rows_read))


def _refuse_mostly_malformed(ctx: RunContext, name: str, result: ReadResult) -> None:
    """A few malformed lines are quarantined; a file of mostly malformed lines is refused.

    Most lines failing to split into the header's columns is a file-level problem
    (the data written with another delimiter or quoting than the header): loading
    the few lines that happen to split would replace the file's rows silently.
    """
    bad = len(result.malformed_rows)
    limit = float(ctx.cfg.value("ingest.malformed_refuse_pct"))
    if bad and 100.0 * bad > limit * result.rows_read:
        raise SourceError(
            f"file {name}: {bad:,} of its {result.rows_read:,} records do not split into the "
            f"header's columns (first: {result.malformed_reasons[0]}; more than {limit:g} % is "
            "refused: ingest.malformed_refuse_pct); nothing was published"
        )


def _file_rows(ctx: RunContext) -> list[FileRows]:
    """Each file's rows in the published warehouse (if any) and in this build."""
    published = ctx.build.db_path
    before: dict[str, tuple[str, int]] = {}
    if published.exists():
        con = open_read_only(published)
        try:
            before = ledger.source_file_rows(con)
        finally:
            con.close()
    return ledger.file_rows(before, ledger.source_file_rows(ctx.build.con))


def _guard_shrink(ctx: RunContext, files: list[FileRows]) -> None:
    """Refuse a delivery whose files or datasets lost ``shrink_refuse_loss_pct`` of their rows.

    A file compares with its previous version, a dataset with its rows in the
    published warehouse. A header-only export or a half-written copy replacing a
    full file is then a stop, not a silent loss; ``--accept-shrink`` accepts it.
    """
    threshold = float(ctx.cfg.value("ingest.shrink_refuse_loss_pct"))
    if ctx.accept_shrink:
        return

    def lost(before: int, now: int) -> float:
        return 100.0 * (before - now) / before if before else 0.0

    shrunk = [
        f"file {f.name} brings {f.now:,} rows, its previous version {f.before:,}"
        for f in files
        if f.before is not None and f.now is not None and lost(f.before, f.now) >= threshold
    ]
    for dataset in DATASETS:
        before = sum(f.before or 0 for f in files if f.dataset == dataset)
        now = sum(f.now or 0 for f in files if f.dataset == dataset)
        if lost(before, now) >= threshold:
            shrunk.append(f"dataset {dataset} would go from {before:,} rows to {now:,}")
    if shrunk:
        raise ShrinkError(
            "; ".join(shrunk)
            + f" (losing {threshold:g} % or more is refused: ingest.shrink_refuse_loss_pct); "
            "nothing was published: check the delivery, or run again with --accept-shrink"
        )


def _held_rows_due(ctx: RunContext) -> bool:
    """Whether rows quarantined as dated after the last run's day may load today.

    Such a row's file does not change when its day comes; the run must check
    the rows again (the stage then recomputes the patients whose rows load).
    """
    con = ctx.build.con
    con.execute(f"CREATE TABLE IF NOT EXISTS {STAGED_ON} (run_date DATE NOT NULL)")
    rows = con.execute(
        f"SELECT max(run_date) FROM {STAGED_ON} "
        "WHERE EXISTS (SELECT 1 FROM quarantine WHERE reason_code = ?)",
        [DATE_AFTER_RUN],
    ).fetchall()
    staged_on = rows[0][0]
    return (
        staged_on is not None
        and run_date_at_site(ctx.cfg.section("ingest"), ctx.started_at) > staged_on
    )


def _insert_with_run_ids(con: duckdb.DuckDBPyConnection, name: str, relation: str) -> int:
    """Add ``relation``'s rows to public table ``name``, each with the run that ingested its file.

    One scan of the relation (a relation of the build, or a parenthesised query);
    columns it lacks are null, extra ones dropped. Returns the number of rows added.
    """
    given = {c.lower() for c in con.sql(f"SELECT * FROM {relation} LIMIT 0").columns}
    select = ", ".join(
        "s.run_id" if c == "run_id" else (f"f.{c}" if c in given else f"NULL AS {c}")
        for c in PUBLIC_COLUMNS[name]
    )
    return con.execute(
        f"INSERT INTO {name} SELECT {select} FROM {relation} f "
        "JOIN meta.source_files s ON s.path = f.source_file"
    ).fetchall()[0][0]


def _load_with_run_ids(ctx: RunContext, name: str, relation: str, part: Partition = WHOLE) -> int:
    """Make public table ``name`` hold ``relation``'s rows (for the patients of ``part``),
    each with its file's run id."""
    ctx.build.con.execute(f"DELETE FROM {name} WHERE {part.where()}")
    return _insert_with_run_ids(ctx.build.con, name, relation)


def _keep_r1_of_unchanged_patients(ctx: RunContext) -> bool:
    """Set aside the R1 quarantine rows of patients this run does not recompute.

    Staging runs over every row and rebuilds the quarantine, but R1 (a target
    first seen after baseline) is decided in the responses stage, which an
    incremental run runs for the changed patients only. An unchanged patient's
    rows all sit in unchanged files, so their (source_file, source_row) still
    name the same rows.
    """
    con = ctx.build.con
    if ctx.recompute_all or not ctx.build.raw_exists("lesions"):
        return False
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _kept_r1 AS
        SELECT q.* FROM quarantine q
        JOIN raw.lesions r USING (source_file, source_row)
        WHERE q.reason_code = ?
          AND r.patient_key NOT IN (SELECT patient_key FROM {CHANGED_PATIENTS})
        """,
        [R1_REASON_CODE],
    )
    return True


def _restore_r1_of_unchanged_patients(ctx: RunContext) -> None:
    con = ctx.build.con
    # Patients staging found changed (_note_changed_facts) are recomputed, R1 included.
    con.execute(
        "DELETE FROM _kept_r1 WHERE (source_file, source_row) IN (SELECT (source_file, source_row) "
        f"FROM raw.lesions WHERE patient_key IN (SELECT patient_key FROM {CHANGED_PATIENTS}))"
    )
    con.execute(
        "DELETE FROM lesion_measurements WHERE (source_file, source_row) IN "
        "(SELECT (source_file, source_row) FROM _kept_r1)"
    )
    con.execute("INSERT INTO quarantine SELECT * FROM _kept_r1")
    con.execute("DROP TABLE _kept_r1")


def _note_changed_facts(
    ctx: RunContext, table: str, facts: str, kept_r1: bool, part: Partition = WHOLE
) -> None:
    """Add to CHANGED_PATIENTS the patients whose loaded rows differ from the published ones.

    Ingestion lists the patients whose source rows changed; a row can also be
    loaded or quarantined anew with its file unchanged, when a check depends on
    the day of the run (date_after_run). Comparing the lineage of the rows
    loaded before (``table``) and now (relation ``facts``) catches those
    patients, so that an incremental run still equals a full refresh. ``facts``
    holds the rows of the patients of ``part``.
    """
    if ctx.recompute_all:
        return
    before = f"SELECT patient_key, source_file, source_row FROM {table} WHERE {part.where()}"
    if table == "lesion_measurements" and kept_r1:  # R1 rows left the table after staging
        before += (
            " UNION ALL SELECT r.patient_key, k.source_file, k.source_row FROM _kept_r1 k "
            "JOIN raw.lesions r USING (source_file, source_row) "
            f"WHERE {part.where('r.patient_key')}"
        )
    now = f"SELECT patient_key, source_file, source_row FROM {facts}"
    # Per patient, the count and a sum of row hashes of the lineage: about eight
    # times cheaper than comparing the rows themselves (0.6 s for 4M rows).
    fingerprint = (
        "SELECT patient_key, count(*) AS n, sum(hash(source_file, source_row)::HUGEINT) AS h "
        "FROM ({}) GROUP BY patient_key"
    )
    ctx.build.con.execute(
        f"""
        INSERT INTO {CHANGED_PATIENTS}
        WITH b AS MATERIALIZED ({fingerprint.format(before)}),
             a AS MATERIALIZED ({fingerprint.format(now)})
        SELECT DISTINCT patient_key FROM (
            (SELECT * FROM b EXCEPT SELECT * FROM a)
            UNION ALL
            (SELECT * FROM a EXCEPT SELECT * FROM b))
        WHERE patient_key NOT IN (SELECT patient_key FROM {CHANGED_PATIENTS})
        """
    )


def _normalise_labs_in_build(
    ctx: RunContext, staged: str, kept_r1: bool, part: Partition = WHOLE
) -> int:
    """L1-L3 inside the build: the lab rows of relation ``staged`` (the patients of
    ``part``) go into lab_results, and the rows L3 rejects into the quarantine;
    returns the lab_results rows added.

    The staging models (staging/labs_classified, stg_lab_results,
    stg_lab_quarantine) read the staged rows as ``in_labs_staged``, a view; only the
    distinct readings are materialised (``labs_reading_classes``), and the rows go
    from ``staged`` through views into lab_results, never copied into a table first.
    """
    from transforms.engine import run_models
    from transforms.labs import with_collected_has_time

    con = ctx.build.con
    con.execute(
        "CREATE OR REPLACE TEMP VIEW in_labs_staged AS " + with_collected_has_time(con, staged)
    )
    try:
        run_models(
            con,
            ["stg_lab_results", "stg_lab_quarantine"],
            [lab_params(ctx.cfg.section("labs"), ctx.cfg)],
        )
        # stg_lab_results is a view over the staged rows: they are classified as they load.
        _note_changed_facts(ctx, "lab_results", "stg_lab_results", kept_r1, part)
        loaded = _load_with_run_ids(ctx, "lab_results", "stg_lab_results", part)
        _insert_with_run_ids(
            con, "quarantine", "(SELECT 'labs' AS dataset, * FROM stg_lab_quarantine)"
        )
    finally:
        for kind, name in (
            ("VIEW", "stg_lab_results"),
            ("TABLE", "stg_lab_quarantine"),
            ("VIEW", "labs_classified"),
            ("TABLE", "labs_reading_classes"),
            ("VIEW", "in_labs_staged"),
        ):
            con.execute(f"DROP {kind} IF EXISTS {name}")
    return loaded


def _note_held_values(ctx: RunContext) -> None:
    """Add to CHANGED_PATIENTS the patients with a row or value held back as dated after the
    previous run's day (``date_after_run``).

    Their files are unchanged, and a nulled value (a last-contact date, say) that loads
    now leaves the row's lineage as it was, so the lineage comparison of
    ``_note_changed_facts`` cannot see it; the survival mart reads such values.
    """
    if ctx.recompute_all:
        return
    con = ctx.build.con
    for dataset in DATASETS:
        if not ctx.build.raw_exists(dataset):
            continue
        con.execute(
            f"""
            INSERT INTO {CHANGED_PATIENTS}
            SELECT DISTINCT r.patient_key FROM quarantine q
            JOIN raw.{dataset} r USING (source_file, source_row)
            WHERE q.dataset = ? AND q.reason_code = ? AND r.patient_key IS NOT NULL
              AND r.patient_key NOT IN (SELECT patient_key FROM {CHANGED_PATIENTS})
            """,
            [dataset, ReasonCode.DATE_AFTER_RUN],
        )


def stage(ctx: RunContext) -> dict[str, int]:
    """Type and check every source row: good rows become facts, bad rows the quarantine.

    Staging runs on the build connection over the raw tables where they are
    (transforms.staging.stage_in); the staged relations go straight into the
    public tables and are dropped once loaded, so DuckDB's memory limit bounds
    the stage (it spills the rest).
    """
    kept_r1 = _keep_r1_of_unchanged_patients(ctx)
    _note_held_values(ctx)
    con = ctx.build.con
    ingest_params = ctx.cfg.section("ingest")
    run_date = run_date_at_site(ingest_params, ctx.started_at)
    con.execute(f"CREATE TABLE IF NOT EXISTS {STAGED_ON} (run_date DATE NOT NULL)")
    con.execute(f"DELETE FROM {STAGED_ON}")
    con.execute(f"INSERT INTO {STAGED_ON} VALUES (?)", [run_date])
    # Rebuilt from every source row (the R1 rows kept above go back at the end).
    con.execute("DELETE FROM quarantine")
    loaded: dict[str, int] = {}
    # Staged datasets the later ones are checked against (birth years, studies, sessions).
    staged: dict[str, StagedRelations] = {}
    for dataset in DATASETS:
        loaded[dataset] = 0
        parts = _partitions(ctx, dataset)
        for part in parts:
            of = f" (patient part {part.index + 1} of {part.count})" if part.count > 1 else ""
            ctx.progress(f"checking {dataset}{of}")
            raw = f"raw.{dataset}" if ctx.build.raw_exists(dataset) else None
            if raw is not None and part.count > 1:
                partition = f"stg_{dataset}_partition"
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {partition} AS "
                    f"SELECT * FROM {raw} WHERE {part.where()}"
                )
                raw = partition
            now = stage_in(
                con,
                dataset,
                raw,
                ingest_params,
                run_date,
                patients=staged["patients"].facts if "patients" in staged else None,
                studies=staged["imaging"].facts if "imaging" in staged else None,
            )
            staged[dataset] = now
            _insert_with_run_ids(con, "quarantine", now.quarantine)
            if now.rejected_targets is not None:
                into = (
                    f"CREATE OR REPLACE TEMP TABLE {REJECTED_TARGETS} AS"
                    if part.index == 0
                    else f"INSERT INTO {REJECTED_TARGETS}"
                )
                con.execute(f"{into} SELECT * FROM {now.rejected_targets}")
            if dataset == "imaging":
                death = null_death_in(
                    con, staged["patients"].facts, staged["sessions"].facts, now.facts
                )
                _insert_with_run_ids(con, "quarantine", death.quarantine)
                _note_changed_facts(ctx, "patients", death.facts, kept_r1)
                loaded["patients"] = _load_with_run_ids(ctx, "patients", death.facts)
                drop_staged(con, death)
                drop_staged(con, staged.pop("sessions"))
            if dataset == "patients":
                continue  # written once its death dates are checked against sessions and studies
            if dataset == "labs":
                loaded[dataset] += _normalise_labs_in_build(ctx, now.facts, kept_r1, part)
            else:
                _note_changed_facts(ctx, FACT_TABLE[dataset], now.facts, kept_r1, part)
                loaded[dataset] += _load_with_run_ids(ctx, FACT_TABLE[dataset], now.facts, part)
            if dataset in PARTITIONED_DATASETS:
                drop_staged(con, staged.pop(dataset))
        con.execute(f"DROP VIEW IF EXISTS stg_{dataset}_partition")
        if dataset == "lesions":
            drop_staged(con, staged.pop("imaging"))
    drop_staged(con, staged.pop("patients"))
    # Malformed CSV lines, and records an adapter could not map (their own reason code).
    _insert_with_run_ids(
        con,
        "quarantine",
        "(SELECT dataset, source_file, source_row, column_name, "
        f"coalesce(reason_code, '{ReasonCode.MALFORMED_ROW}') AS reason_code, "
        f"'{Action.ROW_REJECTED}' AS action, "
        "coalesce(reason, 'the line does not split into the columns of the header') AS reason "
        "FROM meta.malformed_rows)",
    )
    if kept_r1:
        _restore_r1_of_unchanged_patients(ctx)
        loaded["lesions"] = con.execute("SELECT count(*) FROM lesion_measurements").fetchall()[0][0]
    return {dataset: loaded[dataset] for dataset in FACT_TABLE}


def _input_views(ctx: RunContext) -> None:
    """The derive inputs (transforms.derive.INPUTS) as temp views over the build's tables:
    the rows of ``input_queries`` (known patients this run recomputes); nothing is
    copied out of the build."""
    from transforms.derive import input_queries

    con = ctx.build.con
    for view, query in input_queries(con, recomputed_patients(ctx)).items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {query}")


def _write_derived(ctx: RunContext, name: str, relation: str) -> None:
    """Store a derived table's new rows straight from ``relation`` (a mart in the build).

    All of them on a full recompute; otherwise the rows of the recomputed
    patients replace theirs, and every other row keeps its run_id.
    """
    con = ctx.build.con
    columns = [c for c in PUBLIC_COLUMNS[name] if c != "run_id"]
    listed = ", ".join(columns)
    if ctx.recompute_all:
        con.execute(f"DELETE FROM {name}")
    else:
        con.execute(
            f"DELETE FROM {name} WHERE patient_key IN (SELECT patient_key FROM {CHANGED_PATIENTS})"
        )
    con.execute(
        f"INSERT INTO {name} ({listed}, run_id) SELECT {listed}, ? FROM {relation}",
        [ctx.build.run_id],
    )
    con.execute(f"DROP TABLE {relation}")


def recomputed_patients(ctx: RunContext) -> str | None:
    """The table of the patient_keys this run recomputes, or None for every patient."""
    return None if ctx.recompute_all else CHANGED_PATIENTS


def recomputed_patient_count(ctx: RunContext) -> int:
    """How many patients this run recomputes (what sizes its shards)."""
    table = recomputed_patients(ctx) or "patients"
    return ctx.build.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def apply_r1_quarantine(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Move the lesion rows listed in ``relation`` (transforms.derive.R1_QUARANTINE_COLUMNS)
    from lesion_measurements to the quarantine.

    R1: a target first seen after baseline is a data error, not a new target.
    """
    if not con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]:
        return
    con.execute(
        "DELETE FROM lesion_measurements WHERE (source_file, source_row) IN "
        f"(SELECT (source_file, source_row) FROM {relation})"
    )
    con.execute(
        "INSERT INTO quarantine BY NAME SELECT s.run_id, 'lesions' AS dataset, q.* "
        f"FROM {relation} q JOIN meta.source_files s ON s.path = q.source_file"
    )


def derive_in_build(ctx: RunContext) -> dict[str, float]:
    """Every derived table of the recomputed patients, computed inside the build database.

    The models (``transforms.derive.derive_tables``) run over temp views of the
    recomputed patients' facts; the R1 rows leave ``lesion_measurements`` for the
    quarantine and the marts go straight into the public tables: nothing is
    copied out of the build. This is a run with one shard on threads; more shards,
    or Dask, take the same models through Parquet files (``flows/shards.py``).
    Returns the seconds of the response, lab and survival parts.
    """
    from transforms.derive import OUTPUTS, R1_QUARANTINE, derive_tables

    con = ctx.build.con
    _input_views(ctx)
    seconds = derive_tables(con, DeriveParams.from_config(ctx.cfg))
    apply_r1_quarantine(con, R1_QUARANTINE)
    con.execute(f"DROP TABLE {R1_QUARANTINE}")
    for name, relation in OUTPUTS.items():
        _write_derived(ctx, name, relation)
    return seconds


def outcome_report(ctx: RunContext, out_dir: Path, drawing: Drawing) -> Callable[[], Path]:
    """The outcome report (issue 10) of this build, written before it is published.

    It reads the build itself, so the report and the warehouse published together
    always show the same run; a run that is rejected publishes neither. The charts
    are drawn by ``drawing`` (worker processes) while the run goes on; the function
    returned writes the page once they are.
    """
    from report import begin_report

    return begin_report(ctx.build.con, ctx.cfg, out_dir, ctx.build.run_id, drawing)


def quality(ctx: RunContext, docs_dir: Path | None) -> list[str]:
    """Validate inputs and outputs; store one row per expectation; stop on a fatal failure.

    The checks run as SQL inside the build (its memory limit, spilling to disk),
    reading ``raw.<dataset>`` and the public tables in place.
    """
    from expectations import check_build

    b = ctx.build
    inputs = {d: f"raw.{d}" if b.raw_exists(d) else None for d in DATASETS}
    outcome = check_build(
        b.con, inputs, CHECKED_TABLES, b.run_id, ctx.cfg.section("dq"), docs_dir, config=ctx.cfg
    )
    b.append_rows("dq_results", outcome.results)
    if outcome.fatal_failures:
        raise QualityGateError(
            "fatal data-quality failure, nothing published: " + "; ".join(outcome.fatal_failures)
        )
    failed = outcome.results.filter(pc.invert(outcome.results.column("success")))
    return failed.column("expectation").to_pylist()


def record_run(ctx: RunContext, report: IngestReport, status: str) -> None:
    """The run's row in pipeline_runs: rows read from this run's files, and where they went."""
    ledger.record_run(
        ctx.build.con,
        run_id=ctx.build.run_id,
        started_at=ctx.started_at,
        finished_at=datetime.now(UTC).replace(tzinfo=None),
        status=status,
        source=str(ctx.source_dir.resolve()),
        config_hash=ctx.cfg.hash,
        read_files=report.read_files,
        rows_read=report.rows_read,
    )
