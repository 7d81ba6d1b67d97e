"""Staging: raw text rows → typed, normalised fact rows, and quarantine rows.

Staging runs where the raw rows are: :func:`stage_in` takes a DuckDB connection
(the run's build, whose memory limit makes DuckDB spill instead of grow) and
the name of a relation of raw rows, and leaves its results there as temp
relations ``stg_<dataset>_*``; nothing is copied out as Arrow and back. The
tests' entry, :func:`stage_dataset`, loads Arrow fixtures into an in-memory
DuckDB and calls the same function.

Each dataset has a SQL model ``transforms/sql/stg_<dataset>.sql`` that parses
every column of ``stg_<dataset>_raw`` into a view ``stg_<dataset>_parsed``
(typed values, with the trimmed text kept beside them as ``<column>_txt``).
The checks below are rules as data, in the order they are tried. What a failed check does depends
on whether its column is required for the row (``REQUIRED``, from the inputs
contract):

* a bad value in a *required* column rejects the row: the first such check
  gives the row its ``reason_code`` and ``reason`` (action ``row_rejected``);
* a bad value in an *optional* column is stored as NULL and the row loads;
  the column gets a quarantine row of its own (action ``value_nulled``, the
  first failed check of that column), so one unreadable ``ascites`` no longer
  takes its study, and the study's lesions, with it.

Values are judged per row first (rejected rows, nulled values). Among the rows
still good, a row of a one-row-per-key dataset whose key comes again in a later
file is ``superseded`` (a correction); duplicates are then looked for among the
remaining good rows, and lesions whose study does not exist are caught last.
Good rows are projected to the warehouse columns by ``stg_<dataset>_facts.sql``.
A reason names the column and the rule, never the value (a value in the wrong
column may be an identifier or a date); ``source_file``/``source_row`` lead
back to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pyarrow as pa

from config import ConfigError
from config.params import TransformParams
from contract.inputs import (
    ALWAYS,
    BOOLEAN_COLUMNS,
    INPUT_COLUMNS,
    REQUIRED_VALUES,
    ROW_KEYS,
    Requirement,
)
from contract.reasons import ReasonCode
from transforms.engine import in_memory, split_statements, sql_text
from transforms.quarantine import COLUMNS as QUARANTINE_COLUMNS
from transforms.quarantine import Action

LINEAGE = ("patient_key", "source_file", "source_row")


# The values each dataset's rows need (contract.inputs): a bad value in one of
# them rejects the row; a bad value in any other column is nulled and the row loads.
REQUIRED: dict[str, dict[str, Requirement]] = REQUIRED_VALUES

# Lesion columns that identify a lesion at a study. A target row rejected for any
# other column is still a target there, whose size is unknown (response-criteria R1/R3).
LESION_IDENTITY = ("patient_key", "study_date", "lesion_id", "role")


@dataclass(frozen=True)
class Check:
    """One way a value can break the input contract.

    ``column`` is the column judged; ``bad_when`` is a SQL condition over the
    ``parsed`` view that is true for a bad value; ``reason`` is a SQL string
    expression naming the column and the rule. It never quotes the value.
    """

    code: str
    column: str
    bad_when: str
    reason: str


def _required(dataset: str, *columns: str) -> list[Check]:
    checks = []
    for c in columns:
        need = REQUIRED[dataset][c]
        bad = f"{c}_txt IS NULL" if need is ALWAYS else f"{need.when} AND {c}_txt IS NULL"
        reason = f"'{c} is required{need.what}'" if need.what else f"'{c} is required but empty'"
        checks.append(Check(ReasonCode.MISSING_REQUIRED, c, bad, reason))
    return checks


def _date(column: str) -> Check:
    return Check(
        ReasonCode.BAD_DATE,
        column,
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} is not an ISO 8601 date'",
    )


def _number(column: str) -> Check:
    return Check(
        ReasonCode.BAD_NUMBER,
        column,
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} is not a number'",
    )


def _integer(column: str) -> Check:
    return Check(
        ReasonCode.BAD_NUMBER,
        column,
        f"{column}_txt IS NOT NULL AND ({column} IS NULL OR {column} <> round({column}))",
        f"'{column} is not a whole number'",
    )


def _boolean(column: str) -> Check:
    return Check(
        ReasonCode.BAD_BOOLEAN,
        column,
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} is not true/false, yes/no, 1/0 or y/n'",
    )


DATE_AFTER_RUN = ReasonCode.DATE_AFTER_RUN


def _plausible_date(column: str) -> list[Check]:
    """A readable date (or date-time) must lie between ``ingest.min_date`` and the run date."""
    return [
        Check(
            ReasonCode.DATE_TOO_EARLY,
            column,
            f"{column} IS NOT NULL AND {column}::DATE < getvariable('min_date')",
            f"'{column} is before ' || getvariable('min_date')",
        ),
        Check(
            DATE_AFTER_RUN,
            column,
            f"{column} IS NOT NULL AND {column}::DATE > getvariable('run_date')",
            f"'{column} is after the day of the run'",
        ),
    ]


def _after_birth(column: str, birth_year: str = "patient_birth_year") -> Check:
    """A patient's dated event cannot fall in a year before the patient's birth year."""
    return Check(
        ReasonCode.DATE_BEFORE_BIRTH,
        column,
        f"year({column}) < {birth_year}",
        f"'{column} is in a year before the patient''s birth_year'",
    )


def _vocab(column: str, vocab_var: str, code: str = ReasonCode.UNKNOWN_VOCABULARY) -> Check:
    return Check(
        code,
        column,
        f"{column}_txt IS NOT NULL AND NOT list_contains(getvariable('{vocab_var}'), {column})",
        f"'{column} is not one of ' || array_to_string(getvariable('{vocab_var}'), ', ')",
    )


def _range(column: str, low: str, high: str, unit: str = "") -> Check:
    suffix = f" {unit}" if unit else ""
    return Check(
        ReasonCode.OUT_OF_RANGE,
        column,
        f"{column} IS NOT NULL AND ({column} < {low} OR {column} > {high})",
        f"'{column} is outside ' || {low} || '–' || {high} || '{suffix}'",
    )


CHECKS: dict[str, list[Check]] = {
    "patients": [
        *_required("patients", "patient_key"),
        _date("death_date"),
        _date("last_contact_date"),
        _integer("birth_year"),
        _number("ki67_pct"),
        *[_boolean(c) for c in BOOLEAN_COLUMNS["patients"]],
        _vocab("sex", "vocab_sex"),
        _vocab("primary_site", "vocab_primary_site"),
        _vocab("who_grade", "vocab_who_grade"),
        _range("birth_year", "getvariable('min_birth_year')", "year(getvariable('run_date'))"),
        _range("ki67_pct", "0", "100", "%"),
        *_plausible_date("death_date"),
        *_plausible_date("last_contact_date"),
        _after_birth("death_date", "birth_year"),
        _after_birth("last_contact_date", "birth_year"),
    ],
    "sessions": [
        *_required("sessions", "patient_key", "session_date", "modality", "treated_territory"),
        _date("session_date"),
        _number("activity_gbq"),
        _integer("prior_systemic_lines"),
        _number("lvef_pct"),
        _vocab("modality", "vocab_session_modality", ReasonCode.UNKNOWN_MODALITY),
        Check(
            ReasonCode.UNKNOWN_TERRITORY,
            "treated_territory",
            "treated_segments IS NULL",
            "'treated_territory is neither a list of Couinaud segments 1–8 "
            "nor right_lobe, left_lobe or whole_liver'",
        ),
        _vocab("microsphere", "vocab_microsphere"),
        _range("activity_gbq", "0", "getvariable('max_activity_gbq')", "GBq"),
        _range("prior_systemic_lines", "0", "getvariable('max_prior_systemic_lines')"),
        _range("lvef_pct", "0", "100", "%"),
        *_plausible_date("session_date"),
        _after_birth("session_date"),
    ],
    "imaging": [
        *_required("imaging", "patient_key", "study_date", "modality"),
        _date("study_date"),
        _number("liver_tumor_burden_pct"),
        *[_boolean(c) for c in BOOLEAN_COLUMNS["imaging"]],
        _vocab("modality", "vocab_imaging_modality"),
        _range("liver_tumor_burden_pct", "0", "100", "%"),
        *_plausible_date("study_date"),
        _after_birth("study_date"),
    ],
    "lesions": [
        *_required("lesions", "patient_key", "study_date", "lesion_id", "role", "organ", "status"),
        _date("study_date"),
        *[
            _number(c)
            for c in (
                "longest_diameter_mm",
                "short_axis_mm",
                "viable_diameter_mm",
                "viable_perpendicular_mm",
                "attenuation_hu",
            )
        ],
        _integer("liver_segment"),
        _vocab("role", "vocab_role"),
        _vocab("organ", "vocab_organ"),
        Check(
            ReasonCode.UNKNOWN_VOCABULARY,
            "status",
            "NOT CASE role"
            " WHEN 'target' THEN list_contains(getvariable('vocab_status_target'), status)"
            " WHEN 'non_target' THEN list_contains(getvariable('vocab_status_non_target'), status)"
            " WHEN 'new' THEN list_contains(getvariable('vocab_status_new'), status) END",
            "'status is not one of the statuses of the lesion''s role: ' || array_to_string("
            "CASE role WHEN 'target' THEN getvariable('vocab_status_target')"
            " WHEN 'new' THEN getvariable('vocab_status_new')"
            " ELSE getvariable('vocab_status_non_target') END, ', ')",
        ),
        *_required("lesions", "liver_segment", "longest_diameter_mm", "short_axis_mm"),
        *[
            _range(c, "0", "getvariable('max_diameter_mm')", "mm")
            for c in (
                "longest_diameter_mm",
                "short_axis_mm",
                "viable_diameter_mm",
                "viable_perpendicular_mm",
            )
        ],
        _range(
            "attenuation_hu",
            "getvariable('min_attenuation_hu')",
            "getvariable('max_attenuation_hu')",
            "HU",
        ),
        _range("liver_segment", "1", "8"),
        *_plausible_date("study_date"),
        _after_birth("study_date"),
    ],
    "labs": [
        *_required("labs", "patient_key", "collected_at", "test", "value", "unit"),
        _date("collected_at"),
        *_plausible_date("collected_at"),
        _after_birth("collected_at"),
    ],
}


# Quarantine reason code of a row replaced by a correction in a later file; its
# action has the same name (it is not loaded, and it is not an error).
SUPERSEDED = ReasonCode.SUPERSEDED
# A death date before a session or study of the patient: the value is nulled.
DEATH_BEFORE_SESSION_OR_STUDY = ReasonCode.DEATH_BEFORE_SESSION_OR_STUDY


@dataclass(frozen=True)
class StagedRelations:
    """What :func:`stage_in` leaves in its connection: temp relations named ``stg_<dataset>_*``.

    ``facts`` (the good rows, warehouse columns), ``quarantine``
    (transforms.quarantine.COLUMNS) and, for lesions, ``rejected_targets`` (see
    _REJECTED_TARGETS_SQL) are views over one temp table of the checked rows;
    ``objects`` lists every temp object made, as ``(kind, name)``, for
    :func:`drop_staged` once they are loaded.
    """

    facts: str
    quarantine: str
    rejected_targets: str | None = None
    objects: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StagedDataset:
    """The staged relations of one dataset fetched as Arrow (the tests' entry)."""

    facts: pa.Table
    quarantine: pa.Table  # transforms.quarantine.COLUMNS
    # lesions only: target rows rejected for their measurement (see _REJECTED_TARGETS_SQL)
    rejected_targets: pa.Table | None = None


def site_timezone(ingest: Mapping[str, Any]) -> ZoneInfo:
    """The site's time zone (``ingest.timezone``): local time of every stored timestamp."""
    name = ingest["timezone"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"ingest.timezone {name!r} is not an IANA time zone name (e.g. UTC, Europe/Paris)"
        ) from None


def run_date_at_site(ingest: Mapping[str, Any], now_utc: datetime | None = None) -> date:
    """The day of the run in the site's time zone (dates after it are implausible)."""
    now = (now_utc or datetime.now(UTC)).replace(tzinfo=UTC)
    return now.astimezone(site_timezone(ingest)).date()


def staging_params(ingest: Mapping[str, Any], run_date: date) -> TransformParams:
    """Staging's SQL variables, from ``cfg.section("ingest")`` and the day of the run.

    None of their names is one that another transform binds (a test checks), so
    staging can bind them on the build connection beside the others.
    """
    vocab = ingest["vocab"]
    try:
        min_date = date.fromisoformat(ingest["min_date"])
    except ValueError:
        raise ConfigError("ingest.min_date must be an ISO date such as 1900-01-01") from None
    aliases = ingest["modality_aliases"]
    values = {
        "bool_true": ingest["booleans"]["true"],
        "bool_false": ingest["booleans"]["false"],
        "max_diameter_mm": float(ingest["max_diameter_mm"]),
        "min_attenuation_hu": float(ingest["min_attenuation_hu"]),
        "max_attenuation_hu": float(ingest["max_attenuation_hu"]),
        "min_birth_year": int(ingest["min_birth_year"]),
        # whole numbers (config), so a reason reads "0–1000 GBq" as it always has
        "max_activity_gbq": int(ingest["max_activity_gbq"]),
        "max_prior_systemic_lines": int(ingest["max_prior_systemic_lines"]),
        "min_date": min_date,
        "run_date": run_date,
        "site_timezone": site_timezone(ingest).key,
        "diameter_scale": int(ingest["diameter_scale"]),
        "grade_g2_min": float(ingest["derived_grade_g2_min_ki67_pct"]),
        "grade_g3_above": float(ingest["derived_grade_g3_above_ki67_pct"]),
        "modality_alias_from": list(aliases.keys()),
        "modality_alias_to": list(aliases.values()),
        "segment_alias_from": list(ingest["segment_aliases"].keys()),
        "segment_alias_to": [int(v) for v in ingest["segment_aliases"].values()],
        "vocab_session_modality": sorted(set(aliases.values())),
        "territory_names": list(ingest["territories"].keys()),
        "territory_segments": list(ingest["territories"].values()),
        **{f"vocab_{name}": values for name, values in vocab.items()},
    }
    return TransformParams("staging", values)


def _name(dataset: str, part: str) -> str:
    """A temp relation of staging: ``stg_<dataset>_<part>``, never a public table's name."""
    return f"stg_{dataset}_{part}"


def _raw_sql(con: duckdb.DuckDBPyConnection, dataset: str, raw: str | None) -> str:
    """The raw rows with every contract column: one the files did not have is all-null text.

    ``raw`` None: no file of the dataset was ever read (no rows).
    """
    wanted = (*INPUT_COLUMNS[dataset], *LINEAGE)

    def null(column: str) -> str:
        return f"NULL::{'BIGINT' if column == 'source_row' else 'VARCHAR'} AS {column}"

    if raw is None:
        return f"SELECT {', '.join(null(c) for c in wanted)} WHERE FALSE"
    present = {c.lower() for c in con.sql(f"SELECT * FROM {raw} LIMIT 0").columns}
    return "SELECT *" + "".join(f", {null(c)}" for c in wanted if c not in present) + f" FROM {raw}"


def _run(con: duckdb.DuckDBPyConnection, script: str) -> None:
    for statement in split_statements(script):
        con.execute(statement)


def _query(name: str) -> str:
    """The one query of ``transforms/sql/<name>.sql``."""
    (statement,) = split_statements(sql_text(name))
    return statement


def _case(checks: list[Check], field: str) -> str:
    def value(c: Check) -> str:
        return {"code": f"'{c.code}'", "column": f"'{c.column}'", "reason": c.reason}[field]

    arms = "\n".join(f"        WHEN {c.bad_when} THEN {value(c)}" for c in checks)
    return f"CASE\n{arms}\n    END" if checks else "NULL::VARCHAR"


def _rejecting(dataset: str) -> list[Check]:
    """The checks of required columns, each holding only where its column is required."""
    out = []
    for c in CHECKS[dataset]:
        need = REQUIRED[dataset].get(c.column)
        if need is not None:
            bad = c.bad_when if need is ALWAYS else f"({need.when}) AND ({c.bad_when})"
            out.append(Check(c.code, c.column, bad, c.reason))
    return out


def _nulling(dataset: str) -> dict[str, list[Check]]:
    """The checks of each column that is optional (for some rows at least), in order.

    An empty optional value is no problem, so ``missing_required`` never nulls.
    """
    out: dict[str, list[Check]] = {}
    for c in CHECKS[dataset]:
        need = REQUIRED[dataset].get(c.column)
        if need is ALWAYS or c.code == ReasonCode.MISSING_REQUIRED:
            continue
        bad = c.bad_when if need is None else f"NOT coalesce({need.when}, FALSE) AND ({c.bad_when})"
        out.setdefault(c.column, []).append(Check(c.code, c.column, bad, c.reason))
    return out


def _nulled(dataset: str) -> str:
    """``REPLACE (…)``: a bad optional value becomes NULL (its text stays in <column>_txt)."""
    columns = list(_nulling(dataset))
    nulled = ", ".join(f"CASE WHEN {c}__nulled IS NULL THEN {c} END AS {c}" for c in columns)
    return f" REPLACE ({nulled})" if columns else ""


def _quarantine_sql(dataset: str) -> str:
    """One row per rejected row, and one per nulled value of a row that loads."""
    checked = _name(dataset, "checked")
    parts = [
        f"SELECT '{dataset}' AS dataset, source_file, source_row, reason_column AS column_name, "
        f"reason_code, CASE WHEN reason_code = '{SUPERSEDED}' THEN '{Action.SUPERSEDED}' "
        f"ELSE '{Action.ROW_REJECTED}' END AS action, reason "
        f"FROM {checked} WHERE reason_code IS NOT NULL"
    ]
    parts += [
        f"SELECT '{dataset}', source_file, source_row, '{c}', {c}__nulled, "
        f"'{Action.VALUE_NULLED}', {c}__nulled_reason "
        f"FROM {checked} WHERE reason_code IS NULL AND {c}__nulled IS NOT NULL"
        for c in _nulling(dataset)
    ]
    return (
        f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM (\n"
        + "\nUNION ALL\n".join(parts)
        + ")\nORDER BY source_file, source_row, column_name NULLS FIRST, reason_code"
    )


def _checked_sql(dataset: str) -> str:
    """Judge every row into the temp table ``stg_<dataset>_checked`` (reason_code NULL: loads)."""
    checked, parsed, birth = (_name(dataset, part) for part in ("checked", "parsed", "birth"))
    dup_hashes, dup_groups, dup_rows = (
        _name(dataset, f"dup_{p}") for p in ("hashes", "groups", "rows")
    )
    # birth years, for date_before_birth
    judged_from = (
        parsed if dataset == "patients" else f"{parsed} LEFT JOIN {birth} USING (patient_key)"
    )
    rejecting = _rejecting(dataset)
    nulling = _nulling(dataset)
    nulled_columns = "".join(
        f", {_case(checks, 'code')} AS {column}__nulled"
        f", {_case(checks, 'reason')} AS {column}__nulled_reason"
        for column, checks in nulling.items()
    )
    texts = [f"{c}_txt" for c in ("patient_key", *INPUT_COLUMNS[dataset])]
    same_row = " AND ".join(f"c.{t} IS NOT DISTINCT FROM g.{t}" for t in texts)
    sql = f"""
CREATE OR REPLACE TEMP TABLE {checked} AS
WITH judged AS (
    SELECT *, {_case(rejecting, "code")} AS reason_code, {_case(rejecting, "reason")} AS reason,
        {_case(rejecting, "column")} AS reason_column{nulled_columns}
    FROM {judged_from})
SELECT *{_nulled(dataset)} FROM judged;
"""
    # One-row-per-key datasets (contract.inputs.ROW_KEYS), one key after the other.
    # Corrections first: per key, the good rows of the key's latest file (file-name
    # order: dated or "_update" deliveries) replace those of earlier files, copies
    # included (a full extract delivered again each month).
    for key in ROW_KEYS[dataset]:
        cols = ", ".join(key)
        sql += f"""
CREATE OR REPLACE TEMP TABLE {checked} AS
WITH ranked AS (
    SELECT *, CASE WHEN reason_code IS NULL THEN max(source_file) OVER (
        PARTITION BY reason_code IS NULL, {cols}) END AS last_file
    FROM {checked})
SELECT * EXCLUDE (last_file) REPLACE (
    CASE WHEN source_file < last_file THEN '{SUPERSEDED}' ELSE reason_code END AS reason_code,
    CASE WHEN source_file < last_file
         THEN 'replaced by the row with the same {" and ".join(key)} in the later file '
              || last_file
         ELSE reason END AS reason)
FROM ranked;
"""
    # Exact copies among the good rows: rows sharing a 64-bit hash are the (rare)
    # candidates; equal rows among them form groups, and every member but the
    # first in (file, row) order is a duplicate.
    sql += f"""
CREATE OR REPLACE TEMP TABLE {dup_hashes} AS
SELECT hash({", ".join(texts)}) AS h FROM {checked} WHERE reason_code IS NULL
GROUP BY h HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE {dup_groups} AS
SELECT {", ".join(texts)}, min((source_file, source_row)) AS first
FROM {checked}
WHERE reason_code IS NULL AND hash({", ".join(texts)}) IN (SELECT h FROM {dup_hashes})
GROUP BY ALL HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE {dup_rows} AS
SELECT c.source_file, c.source_row
FROM {checked} c JOIN {dup_groups} g ON {same_row}
WHERE c.reason_code IS NULL AND (c.source_file, c.source_row) <> g.first;
UPDATE {checked}
SET reason_code = '{ReasonCode.DUPLICATE_ROW}', reason = 'same values as an earlier row'
WHERE (source_file, source_row) IN (SELECT (source_file, source_row) FROM {dup_rows});
DROP TABLE {dup_rows};
DROP TABLE {dup_groups};
DROP TABLE {dup_hashes};
"""
    # What is left of a key is in one file: a second row there is a duplicate_key
    # (the first is kept).
    for key in ROW_KEYS[dataset]:
        cols = ", ".join(key)
        sql += f"""
CREATE OR REPLACE TEMP TABLE {checked} AS
WITH ranked AS (
    SELECT *, CASE WHEN reason_code IS NULL THEN row_number() OVER (
        PARTITION BY reason_code IS NULL, {cols} ORDER BY source_file, source_row) END AS rk
    FROM {checked})
SELECT * EXCLUDE (rk) REPLACE (
    CASE WHEN rk > 1 THEN '{ReasonCode.DUPLICATE_KEY}' ELSE reason_code END AS reason_code,
    CASE WHEN rk > 1 THEN 'another row has the same {" and ".join(key)}'
         ELSE reason END AS reason)
FROM ranked;
"""
    return sql


def stage_in(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    raw: str | None,
    ingest_params: Mapping[str, Any],
    run_date: date,
    patients: str | None = None,
    studies: str | None = None,
) -> StagedRelations:
    """Type, normalise and check one dataset where its raw rows are, in ``con``.

    ``raw`` names the relation of the dataset's raw text rows (None: no file of
    the dataset was ever read); ``patients``, one of staged patients whose
    birth years the dated events are checked against (none when None);
    ``studies``, one of staged imaging studies, which lesions need. The result
    stays in ``con`` as temp relations named ``stg_<dataset>_*`` (so two
    datasets, or a public table, never share a name), for the caller to load
    and then drop (:func:`drop_staged`). Nothing leaves the connection: on the
    build connection DuckDB spills beyond its memory limit.
    """
    if dataset == "lesions" and studies is None:
        raise ValueError("staging lesions needs the staged imaging studies")
    staging_params(ingest_params, run_date).bind(con)
    objects: list[tuple[str, str]] = []

    def create(kind: str, part: str, query: str) -> str:
        name = _name(dataset, part)
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS\n{query}")
        objects.append((kind, name))
        return name

    create("VIEW", "raw", _raw_sql(con, dataset, raw))
    if dataset != "patients":
        create(
            "VIEW",
            "birth",
            f"SELECT patient_key, birth_year AS patient_birth_year FROM {patients}"
            if patients is not None
            else "SELECT NULL::VARCHAR AS patient_key, NULL::INTEGER AS patient_birth_year "
            "WHERE FALSE",
        )
    if dataset == "lesions":
        create("VIEW", "studies", f"SELECT DISTINCT patient_key, study_date FROM {studies}")
    _run(con, sql_text("stg_macros"))
    _run(con, sql_text(f"stg_{dataset}"))  # the view stg_<dataset>_parsed
    objects.append(("VIEW", _name(dataset, "parsed")))
    _run(con, _checked_sql(dataset))
    checked = _name(dataset, "checked")
    objects.append(("TABLE", checked))
    if dataset == "lesions":
        create(
            "TABLE",
            "checked",
            f"""
SELECT c.* REPLACE (
    CASE WHEN c.reason_code IS NULL AND s.study_date IS NULL THEN '{ReasonCode.ORPHAN_STUDY}'
         ELSE c.reason_code END AS reason_code,
    CASE WHEN c.reason_code IS NULL AND s.study_date IS NULL
         THEN 'no imaging study of this patient on this study_date' ELSE c.reason END AS reason)
FROM {checked} c
LEFT JOIN {_name(dataset, "studies")} s USING (patient_key, study_date)
""",
        )
        objects.pop()  # the same table, listed once
    facts = create("VIEW", "facts", _query(f"stg_{dataset}_facts"))
    quarantine = create("VIEW", "quarantine", _quarantine_sql(dataset))
    rejected = (
        create("VIEW", "rejected_targets", _REJECTED_TARGETS_SQL) if dataset == "lesions" else None
    )
    return StagedRelations(facts, quarantine, rejected, tuple(objects))


def drop_staged(con: duckdb.DuckDBPyConnection, staged: StagedRelations) -> None:
    """Drop the temp relations of a staged dataset (once loaded: frees their memory)."""
    for kind, name in reversed(staged.objects):
        con.execute(f"DROP {kind} IF EXISTS {name}")


def _arrow(con: duckdb.DuckDBPyConnection, relation: str) -> pa.Table:
    return con.sql(f"SELECT * FROM {relation}").to_arrow_table()


def stage_dataset(
    dataset: str,
    raw: pa.Table,
    ingest_params: Mapping[str, Any],
    studies: pa.Table | None = None,
    patients: pa.Table | None = None,
    run_date: date | None = None,
) -> StagedDataset:
    """:func:`stage_in` over Arrow tables, in a private in-memory DuckDB (the tests' entry).

    ``studies`` (staged imaging) is needed for lesions; ``patients`` (staged)
    gives the birth years that dated events are checked against (none when
    absent); ``run_date`` defaults to today at the site.
    """
    given = {"arrow_raw": raw, "arrow_patients": patients, "arrow_studies": studies}
    tables = {name: table for name, table in given.items() if table is not None}
    day = run_date or run_date_at_site(ingest_params)
    with in_memory(tables) as con:
        staged = stage_in(
            con,
            dataset,
            "arrow_raw",
            ingest_params,
            day,
            patients="arrow_patients" if patients is not None else None,
            studies="arrow_studies" if studies is not None else None,
        )
        return StagedDataset(
            facts=_arrow(con, staged.facts),
            quarantine=_arrow(con, staged.quarantine),
            rejected_targets=_arrow(con, staged.rejected_targets)
            if staged.rejected_targets
            else None,
        )


# Target rows rejected for a column other than their identity: the lesion was a
# target at that study, but its size is unknown. The response stage counts them
# so that a rejected baseline measurement makes the baseline sum not evaluable
# (response-criteria R1, R3, R6) instead of turning the lesion's follow-ups into
# `target_after_baseline` or giving a smaller sum. Columns as stg_lesions_facts.
_REJECTED_TARGETS_SQL = f"""
SELECT
    patient_key, study_date, lesion_id, role,
    CASE WHEN list_contains(getvariable('vocab_organ'), organ) THEN organ END AS organ,
    CASE WHEN liver_segment BETWEEN 1 AND 8 AND liver_segment = round(liver_segment)
         THEN liver_segment::INTEGER END AS liver_segment,
    NULL::VARCHAR AS status,
    NULL::DECIMAL(10, 1) AS longest_diameter_mm,
    NULL::DECIMAL(10, 1) AS short_axis_mm,
    NULL::DECIMAL(10, 1) AS viable_diameter_mm,
    NULL::DECIMAL(10, 1) AS viable_perpendicular_mm,
    NULL::DOUBLE AS attenuation_hu,
    coalesce(is_nodal, FALSE) AS is_nodal,
    source_file, source_row
FROM {_name("lesions", "checked")}
WHERE reason_column IS NOT NULL
  AND reason_column NOT IN ({", ".join(f"'{c}'" for c in LESION_IDENTITY)})
  AND role = 'target' AND patient_key IS NOT NULL AND study_date IS NOT NULL
  AND lesion_id IS NOT NULL
ORDER BY source_file, source_row
"""

# Temp relations of the death-date check (null_death_in), named like staging's.
_DEATH = "death"


def null_death_in(
    con: duckdb.DuckDBPyConnection, patients: str, sessions: str, studies: str
) -> StagedRelations:
    """Null a death date that precedes one of the patient's sessions or imaging studies.

    A patient is alive at every session and study, so such a death date is
    implausible; it would also give negative times to event (PFS, DoR). The
    death date is the one value dropped (the sessions and studies are
    procedure records), and the patient's other values stay: the quarantine
    row says so with action ``value_nulled``. Dying on the day of a session
    is possible and kept. ``patients``, ``sessions`` and ``studies`` name
    staged relations of ``con``; the result is left there as ``stg_death_*``
    (drop it with :func:`drop_staged`).
    """
    checked = _name(_DEATH, "checked")
    con.execute(
        f"""
CREATE OR REPLACE TEMP TABLE {checked} AS
SELECT p.*, p.death_date < e.last_day AS too_early
FROM {patients} AS p
LEFT JOIN (
    SELECT k AS patient_key, max(d) AS last_day FROM (
        SELECT patient_key AS k, session_date AS d FROM {sessions}
        UNION ALL
        SELECT patient_key AS k, study_date AS d FROM {studies})
    GROUP BY k) AS e
    USING (patient_key)
"""
    )
    facts, quarantine = _name(_DEATH, "facts"), _name(_DEATH, "quarantine")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {facts} AS SELECT * EXCLUDE (too_early) REPLACE ("
        f"CASE WHEN too_early THEN NULL ELSE death_date END AS death_date) FROM {checked}"
    )
    con.execute(
        f"""
CREATE OR REPLACE TEMP VIEW {quarantine} AS
SELECT 'patients' AS dataset, source_file, source_row,
    'death_date' AS column_name, '{DEATH_BEFORE_SESSION_OR_STUDY}' AS reason_code,
    '{Action.VALUE_NULLED}' AS action,
    'death_date is before a session or imaging study of the patient; it is set to null'
        AS reason
FROM {checked} WHERE too_early ORDER BY source_file, source_row
"""
    )
    objects = (("TABLE", checked), ("VIEW", facts), ("VIEW", quarantine))
    return StagedRelations(facts, quarantine, None, objects)


def null_death_before_sessions_or_studies(
    patients: pa.Table, sessions: pa.Table, studies: pa.Table
) -> StagedDataset:
    """:func:`null_death_in` over Arrow tables, in a private in-memory DuckDB (the tests' entry)."""
    tables = {"arrow_patients": patients, "arrow_sessions": sessions, "arrow_studies": studies}
    with in_memory(tables) as con:
        staged = null_death_in(con, "arrow_patients", "arrow_sessions", "arrow_studies")
        return StagedDataset(
            facts=_arrow(con, staged.facts).cast(patients.schema),
            quarantine=_arrow(con, staged.quarantine),
        )
