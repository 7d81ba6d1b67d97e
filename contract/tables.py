"""The public tables of the warehouse, by what they hold.

The DDL (``warehouse/ddl/*.sql``, read only by ``warehouse.schema``) gives
each table's columns and types; this module names the tables and their
groups, in the DDL's order. A test checks that the DDL creates exactly
``PUBLIC_TABLES``.
"""

from __future__ import annotations

from contract.inputs import DATASETS

#: Which public table holds the good rows of each input dataset (cleaned facts).
FACT_TABLES: dict[str, str] = {
    "patients": "patients",
    "sessions": "sessions",
    "imaging": "imaging_studies",
    "lesions": "lesion_measurements",
    "labs": "lab_results",
}
assert tuple(FACT_TABLES) == DATASETS

#: Tables computed from the facts, per patient; an incremental run rewrites the
#: rows of the patients whose source rows changed and leaves the others alone.
DERIVED_TABLES: tuple[str, ...] = (
    "timepoint_responses",
    "session_responses",
    "best_responses",
    "nlr",
    "session_labs",
    "session_flags",
    "survival",
)

#: One row per source row (or value) that broke the input contract (contract.reasons).
QUARANTINE_TABLE = "quarantine"

#: Tables that keep their history from run to run (each publication carries the
#: previous rows forward; a schema migration keeps them).
AUDIT_TABLES: tuple[str, ...] = ("pipeline_runs", "ingested_files", "dq_results")

#: The facts and derived tables: what the data-quality suites of the warehouse validate.
CHECKED_TABLES: tuple[str, ...] = (*FACT_TABLES.values(), *DERIVED_TABLES)

#: What a run computes from the raw layer (audit history excluded): the tables
#: whose digests must not depend on how the run was made.
RESULT_TABLES: tuple[str, ...] = (*CHECKED_TABLES, QUARANTINE_TABLE)

#: Every public table, in the DDL's order.
PUBLIC_TABLES: tuple[str, ...] = (
    *CHECKED_TABLES,
    "pipeline_runs",
    "ingested_files",
    QUARANTINE_TABLE,
    "dq_results",
)
assert set(PUBLIC_TABLES) == set(RESULT_TABLES) | set(AUDIT_TABLES)
