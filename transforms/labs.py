"""Lab values, NLR, negative prognostic flags, eligibility and the modality hint.

Rules L1-L4, N1-N6, P1-P9, G1-G9 and H1-H3 of ``shared/spec/labs-and-flags.md``.
Every threshold, window, alias and unit factor comes from ``config/labs.toml``
(``params`` is the frozen parameter object :func:`config.params.lab_params` makes
of the run's config; this module never reads the config); the SQL models under
``transforms/models/`` (``staging/lab_lookups``, ``staging/labs_classified``,
``intermediate/labs_*``, ``marts/nlr``, ``marts/session_labs``,
``marts/session_flags``) do the work over all patients at once.

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

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from config.params import PRE_SESSION_ANALYTES as PRE_SESSION_ANALYTES
from config.params import TransformParams
from transforms.engine import in_memory, mart, run_models, sql_text

#: The marts of the lab tables (transforms/models/marts/).
MARTS = ("nlr", "session_labs", "session_flags")


@dataclass(frozen=True)
class LabTables:
    """The three public lab tables of one run (warehouse columns minus run_id)."""

    nlr: pa.Table
    session_labs: pa.Table
    session_flags: pa.Table


def with_collected_has_time(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """A query of ``relation``'s rows with ``collected_has_time``: all NULL (unknown:
    midnight means date-only) when the relation has no such column."""
    columns = {c.lower() for c in con.sql(f"SELECT * FROM {relation} LIMIT 0").columns}
    added = "" if "collected_has_time" in columns else ", NULL::BOOLEAN AS collected_has_time"
    return f"SELECT *{added} FROM {relation}"


def normalise_labs(labs: pa.Table, params: TransformParams) -> tuple[pa.Table, pa.Table]:
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
    with in_memory({"labs_given": labs}) as con:
        con.execute(
            "CREATE TEMP VIEW in_labs_staged AS " + with_collected_has_time(con, "labs_given")
        )
        run_models(con, ["stg_lab_results", "stg_lab_quarantine"], [params])
        results = con.sql(
            "SELECT * FROM stg_lab_results ORDER BY source_file, source_row"
        ).to_arrow_table()
        quarantine = con.table("stg_lab_quarantine").to_arrow_table()
    return results, quarantine


def compute_lab_tables(
    lab_results: pa.Table,
    sessions: pa.Table,
    imaging_studies: pa.Table,
    patients: pa.Table,
    params: TransformParams,
) -> LabTables:
    """N1-N6, P1-P9, G1-G9, H1-H3 over all patients and sessions at once.

    Inputs carry the columns of the cleaned fact tables (warehouse/ddl/10_facts.sql);
    ``lab_results`` may also carry ``collected_has_time`` (see the module notes).
    """
    tables = {
        "lab_results_given": lab_results,
        "in_sessions": sessions,
        "in_imaging_studies": imaging_studies,
        "in_patients": patients,
    }
    with in_memory(tables) as con:
        con.execute(
            "CREATE TEMP VIEW in_lab_results AS "
            + with_collected_has_time(con, "lab_results_given")
        )
        run_models(con, MARTS, [params])
        nlr, session_labs, session_flags = (mart(con, name).to_arrow_table() for name in MARTS)
    return LabTables(nlr=nlr, session_labs=session_labs, session_flags=session_flags)


def flag_distribution(session_flags: pa.Table) -> pa.Table:
    """Counts of true/false/null (pass/fail/missing) for every flag and eligibility column.

    One row per (column_name, category) with n_sessions, zero counts included;
    elig_lvef's NULL is counted as 'not applicable'.
    """
    flags = [c for c in session_flags.column_names if c.startswith("flag_")]
    criteria = [c for c in session_flags.column_names if c.startswith("elig_")]
    columns = [*flags, *criteria, "eligible"]
    values = pa.table({c: pc.cast(session_flags[c], pa.string()) for c in columns})
    rows: list[tuple[str, str, str]] = []
    for column in columns:
        if column == "elig_lvef":
            categories = ("pass", "fail", "missing", "not applicable")
        elif column in criteria:
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
    with in_memory(tables) as con:
        return con.sql(sql_text("labs_flag_distribution")).to_arrow_table()
