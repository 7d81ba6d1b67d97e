"""Every derived table of a set of patients, computed inside one DuckDB connection.

``derive_tables(con, params)`` is the whole of the per-patient work of a run
(responses, best responses, NLR, session labs and flags, survival): the flow runs it
once per patient shard, each shard in its own in-memory DuckDB, and loads the
results into the build (``flows/shards.py``). The result of a patient depends
on that patient's rows only, so any split of the patients into shards gives
the same rows.

The contract (kept when the SQL-model engine of issue 11 replaces the body):

* ``con`` holds the input relations (tables or views) named in
  ``INPUT_TABLES``, with the columns of the cleaned fact tables
  (``warehouse/ddl/10_facts.sql``); ``rejected_lesion_targets`` (lesion target
  rows staging rejected for their measurement, see ``transforms.staging``)
  may be absent. Only the patients to compute are in them.
* ``derive_tables`` creates the temporary tables named in ``OUTPUT_TABLES``
  in ``con``: the six derived public tables (their warehouse columns minus
  ``run_id``, extra columns allowed) and ``r1_quarantine``, the lesion rows
  response-criteria R1 takes out of ``lesion_measurements`` (columns of
  ``R1_QUARANTINE_COLUMNS``). It changes nothing else.
* ``params`` is a ``DeriveParams``, made from the run's config by
  ``DeriveParams.from_config``.

This version wraps the Arrow-level transforms (``compute_timepoints``,
``assessments_from_warehouse_tables``, ``compute_best_responses``,
``compute_lab_tables``), which run in private DuckDB connections of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

INPUT_TABLES = (
    "patients",
    "sessions",
    "imaging_studies",
    "lesion_measurements",
    "lab_results",
    "rejected_lesion_targets",
)
#: Inputs a caller may leave out (read as no rows).
OPTIONAL_INPUTS = ("rejected_lesion_targets",)
R1_QUARANTINE = "r1_quarantine"
RESPONSE_TABLES = ("timepoint_responses", "session_responses", "best_responses")
LAB_TABLES = ("nlr", "session_labs", "session_flags")
SURVIVAL_TABLES = ("survival",)
#: The derived public tables, in the order they are computed (contract.DERIVED_TABLES).
DERIVED = (*RESPONSE_TABLES, *LAB_TABLES, *SURVIVAL_TABLES)
OUTPUT_TABLES = (*DERIVED, R1_QUARANTINE)
R1_QUARANTINE_COLUMNS = (
    "source_file",
    "source_row",
    "column_name",
    "reason_code",
    "action",
    "reason",
)


@dataclass(frozen=True)
class DeriveParams:
    """The config sections the derived tables depend on, as plain values (picklable, so a
    shard task on another machine gets them with its arguments)."""

    response: Mapping[str, Any]
    best_response: Mapping[str, Any]
    labs: Mapping[str, Any]
    report: Mapping[str, Any]

    @classmethod
    def from_config(cls, cfg: Any) -> DeriveParams:
        """From a ``config.Config``; best responses take the criteria of ``response.criteria``."""
        return cls(
            response=cfg.section("response"),
            best_response={
                **cfg.section("best_response"),
                "criteria": cfg.value("response.criteria"),
            },
            labs=cfg.section("labs"),
            report=cfg.section("report"),
        )


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()[0][0]
    )


def _read(con: duckdb.DuckDBPyConnection, name: str) -> pa.Table:
    return con.sql(f"SELECT * FROM {name}").to_arrow_table()


def _create(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    view = f"_derive_{name}"
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def derive_responses(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """Timepoint, session and best responses, and the R1 quarantine rows (see module notes)."""
    from transforms.responses import compute_best_responses, compute_timepoints
    from transforms.responses.best import assessments_from_warehouse_tables

    sessions = _read(con, "sessions")
    rejected = (
        _read(con, "rejected_lesion_targets") if _exists(con, "rejected_lesion_targets") else None
    )
    result = compute_timepoints(
        sessions,
        _read(con, "imaging_studies"),
        _read(con, "lesion_measurements"),
        params.response,
        rejected_targets=rejected,
    )
    assessments, scopes = assessments_from_warehouse_tables(
        result.timepoint_responses, result.session_responses, sessions
    )
    best = compute_best_responses(assessments, scopes, _read(con, "patients"), params.best_response)
    _create(con, "timepoint_responses", result.timepoint_responses)
    _create(con, "session_responses", result.session_responses)
    _create(con, "best_responses", best)
    _create(con, R1_QUARANTINE, result.quarantined.select(list(R1_QUARANTINE_COLUMNS)))


def derive_labs(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """NLR, session labs, flags and eligibility (see module notes)."""
    from transforms.labs import compute_lab_tables

    result = compute_lab_tables(
        _read(con, "lab_results"),
        _read(con, "sessions"),
        _read(con, "imaging_studies"),
        _read(con, "patients"),
        params.labs,
    )
    _create(con, "nlr", result.nlr)
    _create(con, "session_labs", result.session_labs)
    _create(con, "session_flags", result.session_flags)


def derive_survival(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """The survival mart (issue 10), from the facts and the responses and labs just derived."""
    from transforms.survival import INPUTS, compute_survival

    tables = {name: _read(con, name) for name in INPUTS}
    _create(con, "survival", compute_survival(tables, params.report))


def derive_tables(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """Create every table of ``OUTPUT_TABLES`` in ``con`` from its ``INPUT_TABLES``."""
    derive_responses(con, params)
    derive_labs(con, params)
    derive_survival(con, params)
