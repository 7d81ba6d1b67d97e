"""Run the data-quality suites of one pipeline run and collect their results.

The checks run as SQL on the connection that holds the tables: in a run, the
build database (:func:`check_build`; its memory limit holds, and DuckDB spills
to disk beyond it), in the tests an in-memory DuckDB loaded with Arrow
fixtures (:func:`run_quality_checks`). Each suite's SQL model
(``sql/<side>_<table>.sql``) turns its table into the
per-row view ``dq_frame`` of check columns (booleans, codes, parsed numbers),
with cross-table checks (references, per-patient and per-study aggregates)
joined to the row. DuckDB then reduces that view to one row per patient
holding, for every check, the patient's failing rows: at full scale (16M lab
rows, 3M lesion rows) only about 100k short rows of counts reach pandas.
Great Expectations validates that frame, one suite per dataset or table, one
``ExpectColumnSumToBeBetween`` per check: the sum is the check's failing rows
and the upper bound is the threshold's share of the rows checked. Row-level
Great Expectations validation of the raw tables is not used: in GX 1.24 each
column-map expectation copies the whole frame, which costs seconds per
expectation at millions of rows.

Results use ``result_format`` SUMMARY without sample values, so dq_results
and the Data Docs carry counts only. Great Expectations is never imported at
module import (it costs about 3 s, more on a loaded machine): :func:`check_build`
imports it in a thread while DuckDB works.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import queue
import re
import shutil
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from config import Config, load_config
from config.params import lab_params
from contract import CHECKED_TABLES, INPUT_COLUMNS
from expectations.suites import KAHN_CATEGORIES, SEVERITIES, SUITES, Check, Suite
from transforms.engine import split_statements
from transforms.lab_lookups import lab_lookup_tables
from warehouse.schema import DDL_TABLES, arrow_schemas

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
# Suffix of the per-patient "rows checked" count that accompanies each failing-rows count.
CHECKED = "__checked"
DOCS_SITE = "nelmtrack"
# Every temporary object the checks create on a connection starts with this, so none
# shadows a public table or another stage's temporary relation, macro or view.
TEMP_PREFIX = "dq_"
INPUT_VIEW = TEMP_PREFIX + "raw_{}"  # the raw rows of one dataset, contract columns present
ROW_COLUMN = TEMP_PREFIX + "row"  # of an input view: the contract columns of a row, as a struct
SAVED_VARIABLES = TEMP_PREFIX + "saved_variables"

# [dq] vocabularies of the public tables (warehouse contract).
DQ_VOCABULARIES = (
    "criteria",
    "target_response",
    "nontarget_response",
    "overall_response",
    "treatment_modality",
    "session_scope",
    "eligibility_state",
    "lab_qualifier",
)
SUMMARY_SCHEMA = pa.schema(
    [
        ("kahn_category", pa.string()),
        ("severity", pa.string()),
        ("checks", pa.int64()),
        ("passed", pa.int64()),
        ("failed", pa.int64()),
    ]
)
# A suite, its applicable checks, and its per-patient frame of failing and checked rows.
_Frame = tuple[Suite, list[Check], pa.Table]
# Great Expectations' own severity scale, shown in Data Docs.
GX_SEVERITY = {"fatal": "critical", "error": "warning", "warning": "info"}


@dataclass(frozen=True)
class DqOutcome:
    """What the flow needs from data quality: rows for dq_results, and whether to publish.

    ``results`` has exactly the columns of ``dq_results`` (warehouse/ddl/40_audit.sql).
    ``fatal_failures`` is empty when the run may be published; each entry names
    a suite and check with counts, never a value. ``summary`` counts checks by
    Kahn category and severity. ``skipped_suites`` lists suites whose table was
    absent; ``report`` is the one-page index when Data Docs were built.
    """

    results: pa.Table
    fatal_failures: list[str]
    summary: pa.Table
    skipped_suites: list[str] = field(default_factory=list)
    report: Path | None = None


@dataclass(frozen=True)
class Reference:
    """Everything the checks compare with, resolved from the run's configuration."""

    numbers: dict[str, Any]
    sql_variables: dict[str, Any]
    lookups: dict[str, pa.Table]


def build_reference(config: Config, params: Mapping[str, Any]) -> Reference:
    """What the checks compare with: thresholds and public vocabularies from [dq];
    vocabularies, limits, lab names, units and ranges from [ingest], [labs],
    [response] and [best_response].

    The checks judge rows by the same configured rules as the transforms, so
    a user's ``--config`` override moves both together.
    """
    ingest, labs = config.section("ingest"), config.section("labs")
    analytes = labs["analytes"]
    vocabularies: dict[str, list[Any]] = {
        **{name: list(values) for name, values in ingest["vocab"].items()},
        "boolean": [*ingest["booleans"]["true"], *ingest["booleans"]["false"]],
        "modality_spelling": sorted(ingest["modality_aliases"]),
        "modality_hint": sorted(
            {rule["hint"] for rule in labs["modality_hint_rules"].values() if "hint" in rule}
        ),
        **{name: list(params[name]) for name in DQ_VOCABULARIES},
    }
    numbers: dict[str, Any] = {
        "max_diameter_mm": ingest["max_diameter_mm"],
        "min_attenuation_hu": ingest["min_attenuation_hu"],
        "max_attenuation_hu": ingest["max_attenuation_hu"],
        "min_birth_year": ingest["min_birth_year"],
        "max_activity_gbq": ingest["max_activity_gbq"],
        "max_prior_systemic_lines": ingest["max_prior_systemic_lines"],
        "grade_g2_min_ki67_pct": ingest["derived_grade_g2_min_ki67_pct"],
        "grade_g3_above_ki67_pct": ingest["derived_grade_g3_above_ki67_pct"],
        "baseline_lookback_days": config.value("response.baseline_lookback_days"),
        "same_instant_agreement_rel": labs["same_instant_agreement_rel"],
        "nlr_elevated_above": labs["nlr_elevated_above"],
        "landmark_days": config.value("report.landmark_days"),
        **{f"{a}_min": spec["physiological_min"] for a, spec in analytes.items()},
        **{f"{a}_max": spec["physiological_max"] for a, spec in analytes.items()},
        **{
            k: v
            for k, v in params.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
    }
    sql_variables = {
        **numbers,
        **vocabularies,
        "territory_names": list(ingest["territories"]),
        "segment_alias_spellings": list(ingest["segment_aliases"]),
        "segment_alias_numbers": [int(n) for n in ingest["segment_aliases"].values()],
        "course_scope": params["course_scope"],
        "response_ranking": list(config.value("best_response.response_ranking")),
    }
    lookups = {
        f"{TEMP_PREFIX}ref_{name}": table
        for name, table in lab_lookup_tables(lab_params(labs, config)).items()
    }
    return Reference(numbers, sql_variables, lookups)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def check_description(check: Check, ref: Reference) -> str:
    """The check's description with each ``{name}`` replaced by the run's value of ``name``.

    A cut-off a description quotes (K1's Ki-67 grades) is then the one the check
    applied under the run's config, never a copy of the default.
    """

    def value(match: re.Match[str]) -> str:
        number = ref.numbers[match.group(1)]
        return f"{number:g}" if isinstance(number, float) else str(number)

    return _PLACEHOLDER.sub(value, check.description)


def _input_view(con: duckdb.DuckDBPyConnection, dataset: str, relation: str | None) -> None:
    """View ``dq_raw_<dataset>``: the raw rows' contract columns, lineage, and ``dq_row``.

    A contract column the stored files never had reads as NULL text; a dataset
    with no stored rows (``relation`` None) is an empty relation. ``dq_row`` is
    the row as given: a struct of ``patient_key`` and the dataset's
    ``contract.INPUT_COLUMNS``. The SQL models find identical rows by it (as
    staging's duplicate test is made from the same list), so a column added to
    the contract takes part without an edit to them. Extra columns of the files
    are left out, as the transforms ignore them (and none can clash with it).
    """
    contract_row = ("patient_key", *INPUT_COLUMNS[dataset])
    have = [] if relation is None else con.sql(f"SELECT * FROM {relation} LIMIT 0").columns
    columns = ", ".join(
        f'"{name}"'
        if name in have
        else f"NULL::{'BIGINT' if name == 'source_row' else 'VARCHAR'} AS {name}"
        for name in (*contract_row, "source_file", "source_row")
    )
    row = ", ".join(f'"{name}" := "{name}"' for name in contract_row)
    source = f"FROM {relation}" if relation is not None else "LIMIT 0"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {INPUT_VIEW.format(dataset)} AS "
        f"SELECT *, struct_pack({row}) AS {ROW_COLUMN} FROM (SELECT {columns} {source})"
    )


def _comparable(kind: pa.DataType) -> str:
    """A type as the DDL fixes it: any Arrow string flavour is text; timestamp units are alike."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_timestamp(kind):
        return f"timestamp[{kind.tz}]"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"list<{_comparable(kind.value_type)}>"
    return str(kind)


def columns_match(actual: pa.Schema, expected: pa.Schema) -> bool:
    """Whether a public table has exactly the columns and types of its DDL (order aside)."""
    have = {f.name: _comparable(f.type) for f in actual}
    return have == {f.name: _comparable(f.type) for f in expected}


def _failing(check: Check) -> str:
    """SQL condition under which a frame row fails the check (NULL: does not apply)."""
    column = f'"{check.column}"'
    if check.kind in ("true", "share"):
        return f"{column} = FALSE"
    if check.kind == "false":
        return f"{column} = TRUE"
    if check.kind == "in_set":
        return f"NOT list_contains(getvariable('{check.values}'), {column})"
    bounds = []
    for op, bound in (("<", check.low), (">", check.high)):
        if isinstance(bound, str):
            bounds.append(f"{column} {op} getvariable('{bound}')")
        elif bound is not None:
            bounds.append(f"{column} {op} {float(bound)!r}")
    return " OR ".join(bounds)


def _aggregate_sql(checks: list[Check]) -> str:
    """Per patient: failing rows and checked rows of each check, over the view dq_frame."""
    columns = ",\n    ".join(
        f'count_if({_failing(c)})::BIGINT AS "{c.name}", count("{c.column}") AS "{c.name}{CHECKED}"'
        for c in checks
    )
    return f"SELECT\n    {columns}\nFROM dq_frame\nGROUP BY patient_key"


@contextlib.contextmanager
def _variables(con: duckdb.DuckDBPyConnection, values: Mapping[str, Any]) -> Iterator[None]:
    """Set ``values`` as DuckDB variables of ``con`` for the checks, then put back what was there.

    The build connection also holds the transforms' variables
    (``config.params.bind_all``), some of the same name (``baseline_lookback_days``,
    ``landmark_days``): each keeps its own value, type included, outside the checks.
    """
    before = {name for (name,) in con.execute("SELECT name FROM duckdb_variables()").fetchall()}
    kept = [name for name in values if name in before]
    if kept:
        saved = ", ".join(f"getvariable('{name}') AS \"{name}\"" for name in kept)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {SAVED_VARIABLES} AS SELECT {saved}")
    try:
        for name, value in values.items():
            con.execute(f"SET VARIABLE {name} = ?", [value])
        yield
    finally:
        for name in values:
            if name in kept:
                con.execute(f'SET VARIABLE {name} = (SELECT "{name}" FROM {SAVED_VARIABLES})')
            else:
                con.execute(f"RESET VARIABLE {name}")


def _drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every temporary view, table and macro whose name starts with ``dq_``."""
    for kind, catalog, column in (
        ("VIEW", "duckdb_views()", "view_name"),
        ("TABLE", "duckdb_tables()", "table_name"),
        ("MACRO", "duckdb_functions()", "function_name"),
    ):
        names = con.execute(
            f"SELECT DISTINCT {column} FROM {catalog} "
            f"WHERE database_name = 'temp' AND starts_with({column}, '{TEMP_PREFIX}')"
            + (" AND function_type = 'macro'" if kind == "MACRO" else "")
        ).fetchall()
        for (name,) in names:
            con.execute(f"DROP {kind} IF EXISTS temp.main.{name}")


@contextlib.contextmanager
def _workspace(
    con: duckdb.DuckDBPyConnection, inputs: Mapping[str, str | None], ref: Reference
) -> Iterator[None]:
    """The checks' temporary objects on ``con`` (all named ``dq_*``), dropped afterwards.

    The input views, the lookups, the parsing macros and the course baselines;
    the public tables are read where they are.
    """
    try:
        with _variables(con, {**ref.sql_variables, "columns_match_ddl": True}):
            for dataset in INPUT_COLUMNS:
                _input_view(con, dataset, inputs.get(dataset))
            for name, lookup in ref.lookups.items():
                con.register(name, lookup)
            for model in ("macros", "baselines"):
                _run_script(con, (SQL_DIR / f"{model}.sql").read_text())
            yield
    finally:
        for name in ref.lookups:
            con.unregister(name)
        _drop_temp_objects(con)


def _run_script(con: duckdb.DuckDBPyConnection, text: str) -> None:
    for statement in split_statements(text):
        con.execute(statement)


def _frames(
    con: duckdb.DuckDBPyConnection,
    suites: list[Suite],
    present: Mapping[str, set[str]],
) -> Iterator[_Frame]:
    """Each suite with its applicable checks and its per-patient frame of row counts.

    The suite's SQL model defines the per-row view ``dq_frame``; only its
    per-patient aggregate leaves DuckDB, so no large table is copied to pandas.
    """
    expected = arrow_schemas()
    for suite in suites:
        checks = [c for c in suite.checks if set(c.requires) <= present[suite.side]]
        if suite.side == "warehouse":
            schema = con.sql(f"SELECT * FROM {suite.table} LIMIT 0").to_arrow_table().schema
            matches = columns_match(schema, expected[suite.table])
            con.execute("SET VARIABLE columns_match_ddl = ?", [matches])
        _run_script(con, (SQL_DIR / f"{suite.model}.sql").read_text())
        yield suite, checks, con.sql(_aggregate_sql(checks)).to_arrow_table()


def allowed_failures(check: Check, checked: int, ref: Reference) -> int:
    """The most failing rows the check tolerates among ``checked`` rows."""
    pct = float(ref.numbers[check.threshold_param])
    share = 1.0 - pct / 100.0 if check.kind == "share" else pct / 100.0
    return math.floor(share * checked + 1e-9)


def _expectation(check: Check, checked: int, allowed: int, ref: Reference, gxe: Any) -> Any:
    """The Great Expectations expectation of one check, tagged in ``meta``.

    The frame column holds each patient's failing rows; their sum is the
    check's failing rows, which must not exceed what the threshold allows.
    """
    pct = float(ref.numbers[check.threshold_param])
    limit = (
        f"at least {pct:g} % must pass" if check.kind == "share" else f"at most {pct:g} % may fail"
    )
    return gxe.ExpectColumnSumToBeBetween(
        column=check.name,
        min_value=0,
        max_value=allowed,
        meta={
            "check": check.name,
            "kahn_category": check.kahn,
            "severity": check.severity,
            "threshold_pct": pct,
            "rows_checked": checked,
            "reason_code": check.reason_code,
        },
        description=(
            f"{check.name} [{check.kahn} · {check.severity}]: {check_description(check, ref)}. "
            f"Observed value: failing rows among {checked} checked; {limit} (up to {allowed} rows)."
        ),
        severity=GX_SEVERITY[check.severity],
    )


def _gx_context(docs_dir: Path | None) -> Any:
    """An in-memory context without GX's default temporary docs site; ours when asked.

    (The default ephemeral context would also build every report into a new
    folder under /tmp.)
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = {"globally": False}
    if docs_dir is not None:
        site_dir = docs_dir / "data_docs"
        shutil.rmtree(site_dir, ignore_errors=True)
        context.add_data_docs_site(
            DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                # no tutorial footer (its buttons link to greatexpectations.io)
                "show_how_to_buttons": False,
            },
        )
    return context


def _import_great_expectations() -> threading.Thread:
    """Start importing Great Expectations in a thread; join it before using the library.

    The import costs about 3 s on an idle machine and 10-20 s on a loaded one,
    all Python; DuckDB releases the GIL while it computes the course baselines
    and the first frames, so the two overlap.
    """
    thread = threading.Thread(
        target=importlib.import_module,
        args=("great_expectations.expectations",),
        name="import-great-expectations",
        daemon=True,
    )
    thread.start()
    return thread


@contextlib.contextmanager
def _ahead(frames: Iterator[_Frame]) -> Iterator[Iterator[_Frame]]:
    """``frames``, each computed in a thread while the caller validates the one before.

    DuckDB releases the GIL during a query, so the next suite's SQL runs while
    Great Expectations validates (pure Python). At most two frames are held.
    The thread starts at once and is joined on exit, so the connection is used
    by one thread at a time.
    """
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                slot.put(("frame", frame))
            slot.put(("end", None))
        except BaseException as exc:  # raised again in the caller's thread
            slot.put(("error", exc))

    def consume() -> Iterator[_Frame]:
        while True:
            kind, item = slot.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item

    thread = threading.Thread(target=produce, name="dq-frames", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on the full slot
            with contextlib.suppress(queue.Empty):
                slot.get(timeout=0.1)
        thread.join()


def _validate(
    frames: Iterator[_Frame],
    ref: Reference,
    run_id: str,
    docs_dir: Path | None,
) -> list[dict[str, Any]]:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = _gx_context(docs_dir)
    source = context.data_sources.add_pandas("nelmtrack")
    gx_run_id = gx.RunIdentifier(run_name=run_id)
    rows: list[dict[str, Any]] = []
    for suite, checks, counts in frames:
        checked = {c.name: int(pc.sum(counts[c.name + CHECKED]).as_py() or 0) for c in checks}
        allowed = {c.name: allowed_failures(c, checked[c.name], ref) for c in checks}
        by_name = {c.name: c for c in checks}
        gx_suite = context.suites.add(
            gx.ExpectationSuite(
                name=suite.name,
                expectations=[
                    _expectation(c, checked[c.name], allowed[c.name], ref, gxe) for c in checks
                ],
            )
        )
        batch = source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("run")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )
        frame = counts.select(list(by_name)).to_pandas()
        outcome = definition.run(
            batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=gx_run_id
        )
        for result in outcome.results:
            check = by_name[result.expectation_config.meta["check"]]
            observed = (result.result or {}).get("observed_value")
            if result.exception_info.get("raised_exception") or observed is None:
                log.warning(
                    "data quality check %s.%s could not be evaluated", suite.name, check.name
                )
            rows.append(
                {
                    "run_id": run_id,
                    "suite": suite.name,
                    "expectation": check.name,
                    "column_name": check.column,
                    "success": bool(result.success),
                    "unexpected_count": None if observed is None else int(observed),
                    "element_count": checked[check.name],
                    "kahn_category": check.kahn,
                    "severity": check.severity,
                }
            )
    if docs_dir is not None:
        context.build_data_docs(site_names=[DOCS_SITE])
    return rows


def _order(rows: list[dict[str, Any]], suites: list[Suite]) -> list[dict[str, Any]]:
    """Results in suite order, then in the order the checks are declared."""
    position = {
        (s.name, c.name): i for i, (s, c) in enumerate((s, c) for s in suites for c in s.checks)
    }
    return sorted(rows, key=lambda r: position[(r["suite"], r["expectation"])])


def summarise(results: pa.Table) -> pa.Table:
    """Checks, passed and failed by Kahn category and severity (framework order)."""
    rows = results.select(["kahn_category", "severity", "success"]).to_pylist()
    total = Counter((r["kahn_category"], r["severity"]) for r in rows)
    failed = Counter((r["kahn_category"], r["severity"]) for r in rows if not r["success"])
    keys = [(k, s) for k in KAHN_CATEGORIES for s in SEVERITIES if (k, s) in total]
    return pa.Table.from_pylist(
        [
            {
                "kahn_category": k,
                "severity": s,
                "checks": total[k, s],
                "passed": total[k, s] - failed[k, s],
                "failed": failed[k, s],
            }
            for k, s in keys
        ],
        schema=SUMMARY_SCHEMA,
    )


def describe_failure(row: Mapping[str, Any]) -> str:
    """One line naming a failed check with its counts (never a value)."""
    if row["element_count"] is None:
        counts = "could not be evaluated"
    else:
        counts = f"{row['unexpected_count']} of {row['element_count']} rows fail"
    return (
        f"{row['suite']}.{row['expectation']} ({row['kahn_category']}, {row['severity']}): {counts}"
    )


def check_build(
    con: duckdb.DuckDBPyConnection,
    inputs: Mapping[str, str | None],
    tables: Collection[str],
    run_id: str,
    params: Mapping[str, Any],
    docs_dir: Path | None,
    *,
    config: Config | None = None,
) -> DqOutcome:
    """Validate the raw inputs and the public tables of one run, where they are on ``con``.

    ``inputs``: each dataset to check -> the relation of its raw rows
    (``raw.<dataset>``: contract columns as text, ``patient_key``,
    ``source_file``, ``source_row``), or None when no rows are stored; a dataset
    not named skips its suite. ``tables``: the public tables to check, read by
    name on ``con``; every table of ``contract.CHECKED_TABLES`` must exist, as
    the cross-table checks read them. The work runs as SQL on ``con`` (so on the
    build, within its memory limit, spilling to its temp directory); only the
    per-patient count frames leave DuckDB. Every temporary object the checks
    create is named ``dq_*`` and dropped at the end; variables they set are put
    back as they were.

    ``params`` is ``load_config().section("dq")``; ``config`` is the run's
    effective configuration (default: ``load_config()``), from which the checks
    take the ingestion vocabularies, lab units and ranges. With ``docs_dir``,
    Data Docs go to ``docs_dir/data_docs`` and a summary page to
    ``docs_dir/index.html``; both open offline.
    """
    config = config if config is not None else load_config()
    ref = build_reference(config, params)
    present = {"inputs": set(inputs), "warehouse": set(tables)}
    suites = [s for s in SUITES if s.table in present[s.side]]
    skipped = [s.name for s in SUITES if s.table not in present[s.side]]
    gx_import = _import_great_expectations()
    with _workspace(con, inputs, ref), _ahead(_frames(con, suites, present)) as frames:
        gx_import.join()  # the baselines and the first frame overlapped it
        rows = _order(_validate(frames, ref, run_id, docs_dir), suites)
    results = pa.Table.from_pylist(rows, schema=arrow_schemas()["dq_results"])
    fatal = [describe_failure(r) for r in rows if r["severity"] == "fatal" and not r["success"]]
    summary = summarise(results)
    report = None
    if docs_dir is not None:
        from expectations.report import write_report

        report = write_report(docs_dir, run_id, results, summary, suites, skipped)
    return DqOutcome(results, fatal, summary, skipped, report)


def run_quality_checks(
    inputs: Mapping[str, pa.Table],
    outputs: Mapping[str, pa.Table],
    run_id: str,
    params: Mapping[str, Any],
    docs_dir: Path | None,
    *,
    config: Config | None = None,
) -> DqOutcome:
    """:func:`check_build` over Arrow tables, loaded into a private in-memory DuckDB.

    ``inputs``: raw rows per dataset (contract columns as text, ``patient_key``,
    ``source_file``, ``source_row``); ``outputs``: the public tables about to be
    published (an absent table skips its suite and the checks that need it; an
    empty table of its DDL stands in for the cross-table checks).
    """
    con = duckdb.connect(":memory:")
    try:
        for dataset, table in inputs.items():
            con.register(f"{TEMP_PREFIX}arrow_{dataset}", table)
        for name in CHECKED_TABLES:
            if name in outputs:
                con.register(name, outputs[name])
            else:
                con.execute(DDL_TABLES[name])
        return check_build(
            con,
            {dataset: f"{TEMP_PREFIX}arrow_{dataset}" for dataset in inputs},
            set(outputs) & set(CHECKED_TABLES),
            run_id,
            params,
            docs_dir,
            config=config,
        )
    finally:
        con.close()
