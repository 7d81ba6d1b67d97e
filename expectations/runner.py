"""Run the data-quality suites of one pipeline run and collect their results.

Each suite's SQL model (``sql/<side>_<table>.sql``) turns its table into the
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
and the Data Docs carry counts only. Great Expectations is imported inside
:func:`_validate`, never at module import (it costs about 3 s).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from config import Config, load_config
from expectations.suites import KAHN_CATEGORIES, SEVERITIES, SUITES, Check, Suite
from sources import INPUT_COLUMNS
from transforms.sqlrun import SqlSession

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
DDL_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "ddl"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
# Suffix of the per-patient "rows checked" count that accompanies each failing-rows count.
CHECKED = "__checked"
DOCS_SITE = "nelmtrack"

WAREHOUSE_TABLES = (
    "patients",
    "sessions",
    "imaging_studies",
    "lesion_measurements",
    "lab_results",
    "timepoint_responses",
    "session_responses",
    "best_responses",
    "nlr",
    "session_labs",
    "session_flags",
    "survival",
)
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
DQ_RESULTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("suite", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("success", pa.bool_()),
        ("unexpected_count", pa.int64()),
        ("element_count", pa.int64()),
        ("kahn_category", pa.string()),
        ("severity", pa.string()),
    ]
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
    conversions = [
        (analyte, unit, float(pair[0]), float(pair[1]))
        for analyte, units in labs["unit_conversions"].items()
        for unit, pair in units.items()
    ]
    lookups = {
        "ref_test_aliases": pa.table(
            {"alias": list(labs["test_aliases"]), "analyte": list(labs["test_aliases"].values())}
        ),
        "ref_unit_aliases": pa.table(
            {
                "spelling": list(labs["unit_aliases"]),
                "unit_family": list(labs["unit_aliases"].values()),
            }
        ),
        "ref_unit_conversions": pa.table(
            dict(
                zip(
                    ("analyte", "unit_family", "multiply", "divide"),
                    map(list, zip(*conversions, strict=True)),
                    strict=True,
                )
            )
        ),
        "ref_analytes": pa.table(
            {
                "analyte": list(analytes),
                "canonical_unit": [s["canonical_unit"] for s in analytes.values()],
                "physiological_min": [float(s["physiological_min"]) for s in analytes.values()],
                "physiological_max": [float(s["physiological_max"]) for s in analytes.values()],
            }
        ),
    }
    return Reference(numbers, sql_variables, lookups)


def _raw_table(table: pa.Table | None, columns: tuple[str, ...]) -> pa.Table:
    """The raw rows with every contract column present (an absent one reads as empty)."""
    wanted = ("patient_key", *columns, "source_file")
    if table is None:
        return pa.table(
            {
                **{c: pa.array([], pa.string()) for c in wanted},
                "source_row": pa.array([], pa.int64()),
            }
        )
    for name in (*wanted, "source_row"):
        if name not in table.column_names:
            kind = pa.int64() if name == "source_row" else pa.string()
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table


def _ddl_statements() -> dict[str, str]:
    """CREATE TABLE statements of the public tables, for placeholders of absent ones."""
    text = "\n".join(p.read_text() for p in sorted(DDL_DIR.glob("*.sql")))
    return {m.group(1): m.group(0) for m in re.finditer(r"CREATE TABLE (\w+) \(.*?\);", text, re.S)}


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


def _ddl_schemas(sql: SqlSession, ddl: Mapping[str, str]) -> dict[str, pa.Schema]:
    """The Arrow schema DuckDB gives each public table of the DDL."""
    sql.con.execute("CREATE SCHEMA IF NOT EXISTS ddl")
    schemas = {}
    for table, statement in ddl.items():
        sql.con.execute(
            statement.replace(f"CREATE TABLE {table} ", f"CREATE TABLE ddl.{table} ", 1)
        )
        schemas[table] = sql.query(f"SELECT * FROM ddl.{table}").schema
    return schemas


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


def _frames(
    suites: list[Suite],
    inputs: Mapping[str, pa.Table],
    outputs: Mapping[str, pa.Table],
    ref: Reference,
    present: Mapping[str, set[str]],
) -> Iterator[tuple[Suite, list[Check], pa.Table]]:
    """Each suite with its applicable checks and its per-patient frame of row counts.

    The suite's SQL model defines the per-row view ``dq_frame``; only its
    per-patient aggregate leaves DuckDB, so no large table is copied to pandas.
    """
    with SqlSession(params=ref.sql_variables) as sql:
        for dataset, columns in INPUT_COLUMNS.items():
            sql.register(f"in_{dataset}", _raw_table(inputs.get(dataset), columns))
        ddl = _ddl_statements()
        expected = _ddl_schemas(sql, ddl)
        for table in WAREHOUSE_TABLES:
            if table in outputs:
                sql.register(table, outputs[table])
            else:
                sql.con.execute(ddl[table])
        for name, lookup in ref.lookups.items():
            sql.register(name, lookup)
        sql.run_script((SQL_DIR / "macros.sql").read_text())
        sql.run_script((SQL_DIR / "baselines.sql").read_text())
        for suite in suites:
            checks = [c for c in suite.checks if set(c.requires) <= present[suite.side]]
            if suite.side == "warehouse":
                schema = outputs[suite.table].schema
                sql.set_param("columns_match_ddl", columns_match(schema, expected[suite.table]))
            sql.run_script((SQL_DIR / f"{suite.model}.sql").read_text())
            yield suite, checks, sql.query(_aggregate_sql(checks))


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
            f"{check.name} [{check.kahn} · {check.severity}]: {check.description}. "
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


def _validate(
    frames: Iterator[tuple[Suite, list[Check], pa.Table]],
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


def run_quality_checks(
    inputs: Mapping[str, pa.Table],
    outputs: Mapping[str, pa.Table],
    run_id: str,
    params: Mapping[str, Any],
    docs_dir: Path | None,
    *,
    config: Config | None = None,
) -> DqOutcome:
    """Validate the raw inputs and the public tables of one run.

    ``inputs``: raw rows per dataset (contract columns as text, ``patient_key``,
    ``source_file``, ``source_row``); ``outputs``: the public tables about to be
    published (an absent table skips its suite and the checks that need it).
    ``params`` is ``load_config().section("dq")``; ``config`` is the run's
    effective configuration (default: ``load_config()``), from which the checks
    take the ingestion vocabularies, lab units and ranges. With ``docs_dir``,
    Data Docs go to ``docs_dir/data_docs`` and a summary page to
    ``docs_dir/index.html``; both open offline.
    """
    config = config if config is not None else load_config()
    ref = build_reference(config, params)
    present = {"inputs": set(inputs), "warehouse": set(outputs)}
    suites = [s for s in SUITES if s.table in present[s.side]]
    skipped = [s.name for s in SUITES if s.table not in present[s.side]]
    rows = _order(
        _validate(_frames(suites, inputs, outputs, ref, present), ref, run_id, docs_dir), suites
    )
    results = pa.Table.from_pylist(rows, schema=DQ_RESULTS_SCHEMA)
    fatal = [describe_failure(r) for r in rows if r["severity"] == "fatal" and not r["success"]]
    summary = summarise(results)
    report = None
    if docs_dir is not None:
        from expectations.report import write_report

        report = write_report(docs_dir, run_id, results, summary, suites, skipped)
    return DqOutcome(results, fatal, summary, skipped, report)
