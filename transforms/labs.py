"""Lab values, NLR, negative prognostic flags, eligibility and the modality hint.

Rules L1-L4, N1-N6, P1-P9, G1-G9 and H1-H3 of ``shared/spec/labs-and-flags.md``.
Every threshold, window, alias and unit factor comes from ``config/labs.toml``
(``params`` is ``load_config().section("labs")``); the SQL models
``transforms/sql/labs_*.sql`` do the work over all patients at once.

Two choices the spec leaves open, taken here so that a flag is never decided
by a value that does not say so:

* the *latest* reading in a window is the state going into a session; when it
  cannot be used (two disagreeing results at one instant, L4; an NLR that N1
  makes NULL) the dependent value is NULL, it is not replaced by an older one;
* the warehouse's ``lab_results`` has no column saying whether a time was
  given, so a ``collected_at`` at exactly midnight counts as date-only for L4
  unless the table carries ``collected_has_time`` (staged rows and the output
  of ``normalise_labs`` do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from transforms.lab_lookups import lab_lookup_tables
from transforms.sqlrun import SqlSession

# Analytes whose last value before a session feeds P1, P2 and G1-G5.
PRE_SESSION_ANALYTES = ("bilirubin", "albumin", "creatinine", "ldh", "ast", "platelets")

FLAG_COLUMNS = (
    "flag_bilirubin_ge_2",
    "flag_albumin_le_3_5",
    "flag_burden_ge_70",
    "flag_ascites",
    "flag_extrahepatic",
    "flag_systemic_ge_3",
    "flag_nlr_elevated",
    "flag_post_bilirubin_ge_2",
)
ELIGIBILITY_COLUMNS = (
    "elig_creatinine",
    "elig_ldh",
    "elig_ast",
    "elig_platelets",
    "elig_bilirubin",
    "elig_burden",
    "elig_portal_vein",
    "elig_biliary",
    "elig_lvef",
)


@dataclass(frozen=True)
class LabTables:
    """The three public lab tables of one run (warehouse columns minus run_id)."""

    nlr: pa.Table
    session_labs: pa.Table
    session_flags: pa.Table


def _sql_variables(params: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar and list parameters, passed to SQL as variables; tables are registered instead."""
    return {name: value for name, value in params.items() if not isinstance(value, Mapping)}


def _with_collected_has_time(labs: pa.Table) -> pa.Table:
    """Add an all-NULL ``collected_has_time`` (unknown: midnight means date-only) if absent."""
    if "collected_has_time" in labs.column_names:
        return labs
    return labs.append_column("collected_has_time", pa.nulls(labs.num_rows, pa.bool_()))


def normalise_labs(labs: pa.Table, params: Mapping[str, Any]) -> tuple[pa.Table, pa.Table]:
    """L1-L3: recognise tests, read censored values, convert units once, quarantine the rest.

    ``labs`` holds the staged rows (patient_key, collected_at, test, value, unit,
    source_file, source_row; test/value/unit raw text). Returns the
    ``lab_results`` rows (warehouse columns minus run_id, plus source_file,
    source_row and the input's ``collected_has_time``, which L4 needs and which
    the warehouse drops while lab_results has no such column) and the
    quarantine rows (source_file, source_row, reason_code, reason). Tests that
    are none of the configured analytes are kept as reported (analyte = the
    test lower-cased and trimmed) and never quarantined.
    """
    labs = _with_collected_has_time(labs)
    tables = {"labs_staged": labs, **lab_lookup_tables(params)}
    with SqlSession(tables=tables, params=_sql_variables(params)) as sql:
        sql.run_model("labs_classified")
        results = sql.run_model("labs_results")
        quarantine = sql.run_model("labs_quarantine")
    return results, quarantine


def _modality_hint_rules(params: Mapping[str, Any]) -> pa.Table:
    """H1-H3 as data: rule id, hint and the reason text shown with it."""
    ki67 = f"{params['hint_ki67_tare_min_pct']:g}"
    rules = params["modality_hint_rules"]
    return pa.table(
        {
            "rule_id": list(rules),
            "hint": pa.array([r.get("hint") for r in rules.values()], pa.string()),
            "reason": [r["reason"].replace("{ki67}", ki67) for r in rules.values()],
        }
    )


def compute_lab_tables(
    lab_results: pa.Table,
    sessions: pa.Table,
    imaging_studies: pa.Table,
    patients: pa.Table,
    params: Mapping[str, Any],
) -> LabTables:
    """N1-N6, P1-P9, G1-G9, H1-H3 over all patients and sessions at once.

    Inputs carry the columns of the cleaned fact tables (warehouse/ddl/10_facts.sql);
    ``lab_results`` may also carry ``collected_has_time`` (see the module notes).
    """
    tables = {
        "lab_results": _with_collected_has_time(lab_results),
        "sessions": sessions,
        "imaging_studies": imaging_studies,
        "patients": patients,
        "modality_hint_rules": _modality_hint_rules(params),
    }
    variables = {
        **_sql_variables(params),
        "flag_analytes": list(params["analytes"]),
        "pre_session_analytes": list(PRE_SESSION_ANALYTES),
    }
    with SqlSession(tables=tables, params=variables) as sql:
        sql.run_model("labs_macros")
        sql.run_model("labs_patient_ids")
        sql.run_model("labs_readings")
        nlr = sql.run_model("labs_nlr")
        sql.run_model("labs_session_context")
        session_labs = sql.run_model("labs_session_labs")
        session_flags = sql.run_model("labs_session_flags")
    return LabTables(nlr=nlr, session_labs=session_labs, session_flags=session_flags)


def flag_distribution(session_flags: pa.Table) -> pa.Table:
    """Counts of true/false/null (pass/fail/missing) for every flag and eligibility column.

    One row per (column_name, category) with n_sessions, zero counts included;
    elig_lvef's NULL is counted as 'not applicable'.
    """
    columns = [*FLAG_COLUMNS, *ELIGIBILITY_COLUMNS, "eligible"]
    values = pa.table({c: pc.cast(session_flags[c], pa.string()) for c in columns})
    rows: list[tuple[str, str, str]] = []
    for column in columns:
        if column == "elig_lvef":
            categories = ("pass", "fail", "missing", "not applicable")
        elif column in ELIGIBILITY_COLUMNS:
            categories = ("pass", "fail", "missing")
        else:
            categories = ("true", "false", "null")
        # the last category is the one a NULL is counted under
        rows += [(column, category, categories[-1]) for category in categories]
    categories_table = pa.table(
        {
            "column_name": [r[0] for r in rows],
            "category": [r[1] for r in rows],
            "null_category": [r[2] for r in rows],
            "position": list(range(len(rows))),
        }
    )
    tables = {"flag_values": values, "flag_categories": categories_table}
    with SqlSession(tables=tables) as sql:
        return sql.run_model("labs_flag_distribution")
