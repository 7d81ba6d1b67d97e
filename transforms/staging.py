"""Staging: raw text rows → typed, normalised fact rows, and quarantine rows.

Each dataset has a SQL model ``transforms/sql/stg_<dataset>.sql`` that parses
every column of ``raw_<dataset>`` into a view ``parsed`` (typed values, with
the trimmed text kept beside them as ``<column>_txt``). The checks below are
rules as data, in the order they are tried: the first check whose condition
holds gives the row its ``reason_code`` and ``reason``; a row no check
catches is good. Duplicates are then looked for among the good rows only, and
lesions whose study does not exist are caught last. Good rows are projected to
the warehouse columns by ``stg_<dataset>_facts.sql``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sources import INPUT_COLUMNS
from transforms.sqlrun import SqlSession

LINEAGE = ("patient_key", "source_file", "source_row")


@dataclass(frozen=True)
class Check:
    """One way a row can break the input contract.

    ``bad_when`` is a SQL condition over the ``parsed`` view that is true for a
    bad row; ``reason`` is a SQL string expression (it may quote non-personal
    values such as a diameter or a unit, never an identifier or a date).
    """

    code: str
    bad_when: str
    reason: str


def _required(*columns: str) -> list[Check]:
    return [
        Check("missing_required", f"{c}_txt IS NULL", f"'{c} is required but empty'")
        for c in columns
    ]


def _date(column: str) -> Check:
    return Check(
        "bad_date",
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} is not an ISO 8601 date'",
    )


def _number(column: str) -> Check:
    return Check(
        "bad_number",
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} ''' || {column}_txt || ''' is not a number'",
    )


def _integer(column: str) -> Check:
    return Check(
        "bad_number",
        f"{column}_txt IS NOT NULL AND ({column} IS NULL OR {column} <> round({column}))",
        f"'{column} ''' || {column}_txt || ''' is not a whole number'",
    )


def _boolean(column: str) -> Check:
    return Check(
        "bad_boolean",
        f"{column}_txt IS NOT NULL AND {column} IS NULL",
        f"'{column} ''' || {column}_txt || ''' is not true/false, yes/no, 1/0 or y/n'",
    )


def _vocab(column: str, vocab_var: str, code: str = "unknown_vocabulary") -> Check:
    return Check(
        code,
        f"{column}_txt IS NOT NULL AND NOT list_contains(getvariable('{vocab_var}'), {column})",
        f"'{column} ''' || {column}_txt || ''' is not one of ' "
        f"|| array_to_string(getvariable('{vocab_var}'), ', ')",
    )


def _range(column: str, low: str, high: str, unit: str = "") -> Check:
    suffix = f" {unit}" if unit else ""
    return Check(
        "out_of_range",
        f"{column} IS NOT NULL AND ({column} < {low} OR {column} > {high})",
        f"'{column} ' || {column}_txt || '{suffix} is outside ' || {low} || '–' || {high}"
        f" || '{suffix}'",
    )


CHECKS: dict[str, list[Check]] = {
    "patients": [
        *_required("patient_key"),
        _date("death_date"),
        _date("last_contact_date"),
        _integer("birth_year"),
        _number("ki67_pct"),
        *[_boolean(c) for c in ("functional", "bilioenteric_anastomosis", "prior_whipple")],
        _vocab("sex", "vocab_sex"),
        _vocab("primary_site", "vocab_primary_site"),
        _vocab("who_grade", "vocab_who_grade"),
        _range("birth_year", "getvariable('min_birth_year')", "year(current_date)"),
        _range("ki67_pct", "0", "100", "%"),
    ],
    "sessions": [
        *_required("patient_key", "session_date", "modality", "treated_territory"),
        _date("session_date"),
        _number("activity_gbq"),
        _integer("prior_systemic_lines"),
        _number("lvef_pct"),
        _vocab("modality", "vocab_session_modality", "unknown_modality"),
        Check(
            "unknown_territory",
            "treated_segments IS NULL",
            "'treated_territory ''' || treated_territory_txt || ''' is neither a list of "
            "Couinaud segments 1–8 nor right_lobe, left_lobe or whole_liver'",
        ),
        _vocab("microsphere", "vocab_microsphere"),
        _range("activity_gbq", "0", "1000", "GBq"),
        _range("prior_systemic_lines", "0", "50"),
        _range("lvef_pct", "0", "100", "%"),
    ],
    "imaging": [
        *_required("patient_key", "study_date", "modality"),
        _date("study_date"),
        _number("liver_tumor_burden_pct"),
        *[_boolean(c) for c in ("extrahepatic_disease", "ascites", "portal_vein_occlusion")],
        _vocab("modality", "vocab_imaging_modality"),
        _range("liver_tumor_burden_pct", "0", "100", "%"),
    ],
    "lesions": [
        *_required("patient_key", "study_date", "lesion_id", "role", "organ", "status"),
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
            "unknown_vocabulary",
            "NOT CASE role"
            " WHEN 'target' THEN list_contains(getvariable('vocab_status_target'), status)"
            " WHEN 'non_target' THEN list_contains(getvariable('vocab_status_non_target'), status)"
            " WHEN 'new' THEN list_contains(getvariable('vocab_status_new'), status) END",
            "'status ''' || status_txt || ''' is not a status of a ' || role || ' lesion'",
        ),
        Check(
            "missing_required",
            "organ = 'liver' AND liver_segment_txt IS NULL",
            "'liver_segment is required for a liver lesion'",
        ),
        Check(
            "missing_required",
            "role = 'target' AND status = 'measured' AND NOT is_nodal "
            "AND longest_diameter_mm_txt IS NULL",
            "'longest_diameter_mm is required for a measured non-nodal target'",
        ),
        Check(
            "missing_required",
            "role = 'target' AND status = 'measured' AND is_nodal AND short_axis_mm_txt IS NULL",
            "'short_axis_mm is required for a measured nodal target'",
        ),
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
    ],
    "labs": [
        *_required("patient_key", "collected_at", "test", "value", "unit"),
        _date("collected_at"),
    ],
}

# One-row-per-key datasets: a second row with the same key and other values.
KEYS: dict[str, list[tuple[str, ...]]] = {
    "patients": [("patient_key",)],
    "sessions": [("patient_key", "session_date"), ("patient_key", "session_id")],
    "imaging": [("patient_key", "study_date")],
    "lesions": [],
    "labs": [],
}


@dataclass(frozen=True)
class StagedDataset:
    facts: pa.Table
    quarantine: pa.Table


def _sql_params(ingest: Mapping[str, Any]) -> dict[str, Any]:
    vocab = ingest["vocab"]
    aliases = ingest["modality_aliases"]
    return {
        "bool_true": ingest["booleans"]["true"],
        "bool_false": ingest["booleans"]["false"],
        "max_diameter_mm": float(ingest["max_diameter_mm"]),
        "min_attenuation_hu": float(ingest["min_attenuation_hu"]),
        "max_attenuation_hu": float(ingest["max_attenuation_hu"]),
        "min_birth_year": int(ingest["min_birth_year"]),
        "diameter_scale": int(ingest["diameter_scale"]),
        "grade_g2_min": float(ingest["derived_grade_g2_min_ki67_pct"]),
        "grade_g3_above": float(ingest["derived_grade_g3_above_ki67_pct"]),
        "modality_alias_from": list(aliases.keys()),
        "modality_alias_to": list(aliases.values()),
        "vocab_session_modality": sorted(set(aliases.values())),
        "territory_names": list(ingest["territories"].keys()),
        "territory_segments": list(ingest["territories"].values()),
        **{f"vocab_{name}": values for name, values in vocab.items()},
    }


def _with_contract_columns(dataset: str, raw: pa.Table) -> pa.Table:
    """Add any contract column the files did not have, as all-null text."""
    for column in (*INPUT_COLUMNS[dataset], *LINEAGE):
        if column not in raw.column_names:
            kind = pa.int64() if column == "source_row" else pa.string()
            raw = raw.append_column(column, pa.nulls(raw.num_rows, kind))
    return raw


def _case(checks: list[Check], field: str) -> str:
    arms = "\n".join(
        f"        WHEN {c.bad_when} THEN " + (f"'{c.code}'" if field == "code" else c.reason)
        for c in checks
    )
    return f"CASE\n{arms}\n    END"


def _checked_sql(dataset: str) -> str:
    checks = CHECKS[dataset]
    texts = [f"{c}_txt" for c in ("patient_key", *INPUT_COLUMNS[dataset])]
    same_row = " AND ".join(f"c.{t} IS NOT DISTINCT FROM g.{t}" for t in texts)
    # Exact copies among the good rows: rows sharing a 64-bit hash are the (rare)
    # candidates; equal rows among them form groups, and every member but the
    # first in (file, row) order is a duplicate.
    sql = f"""
CREATE OR REPLACE TEMP TABLE checked AS
SELECT *, {_case(checks, "code")} AS reason_code, {_case(checks, "reason")} AS reason
FROM parsed;
CREATE OR REPLACE TEMP TABLE dup_hashes AS
SELECT hash({", ".join(texts)}) AS h FROM checked WHERE reason_code IS NULL
GROUP BY h HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE dup_groups AS
SELECT {", ".join(texts)}, min((source_file, source_row)) AS first
FROM checked
WHERE reason_code IS NULL AND hash({", ".join(texts)}) IN (SELECT h FROM dup_hashes)
GROUP BY ALL HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE dup_rows AS
SELECT c.source_file, c.source_row
FROM checked c JOIN dup_groups g ON {same_row}
WHERE c.reason_code IS NULL AND (c.source_file, c.source_row) <> g.first;
UPDATE checked SET reason_code = 'duplicate_row', reason = 'same values as an earlier row'
WHERE (source_file, source_row) IN (SELECT (source_file, source_row) FROM dup_rows);
"""
    for key in KEYS[dataset]:
        cols = ", ".join(key)
        sql += f"""
CREATE OR REPLACE TEMP TABLE checked AS
WITH ranked AS (
    SELECT *, CASE WHEN reason_code IS NULL THEN row_number() OVER (
        PARTITION BY reason_code IS NULL, {cols} ORDER BY source_file, source_row) END AS rk
    FROM checked)
SELECT * EXCLUDE (rk) REPLACE (
    CASE WHEN rk > 1 THEN 'duplicate_key' ELSE reason_code END AS reason_code,
    CASE WHEN rk > 1 THEN 'another row has the same {" and ".join(key)}'
         ELSE reason END AS reason)
FROM ranked;
"""
    return sql


def stage_dataset(
    dataset: str,
    raw: pa.Table,
    ingest_params: Mapping[str, Any],
    studies: pa.Table | None = None,
) -> StagedDataset:
    """Type, normalise and check one dataset; ``studies`` (staged imaging) is needed for lesions."""
    tables: dict[str, Any] = {f"raw_{dataset}": _with_contract_columns(dataset, raw)}
    if dataset == "lesions":
        if studies is None:
            raise ValueError("staging lesions needs the staged imaging studies")
        tables["studies"] = studies.select(["patient_key", "study_date"])
    with SqlSession(tables, _sql_params(ingest_params)) as s:
        s.run_model("stg_macros")
        s.run_model(f"stg_{dataset}")
        s.run_script(_checked_sql(dataset))
        if dataset == "lesions":
            s.run_script(
                """
CREATE OR REPLACE TEMP TABLE checked AS
SELECT c.* REPLACE (
    CASE WHEN c.reason_code IS NULL AND s.study_date IS NULL THEN 'orphan_study'
         ELSE c.reason_code END AS reason_code,
    CASE WHEN c.reason_code IS NULL AND s.study_date IS NULL
         THEN 'no imaging study of this patient on this study_date' ELSE c.reason END AS reason)
FROM checked c
LEFT JOIN (SELECT DISTINCT patient_key, study_date FROM studies) s
    USING (patient_key, study_date)
"""
            )
        facts = s.run_model(f"stg_{dataset}_facts")
        quarantine = s.query(
            f"""
SELECT '{dataset}' AS dataset, source_file, source_row, reason_code, reason
FROM checked WHERE reason_code IS NOT NULL ORDER BY source_file, source_row
"""
        )
    return StagedDataset(facts=facts, quarantine=quarantine)
