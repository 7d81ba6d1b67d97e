"""Every derived table of a run, computed on one DuckDB connection.

:func:`derive_tables` is what a patient shard runs (on an in-memory DuckDB
over its Parquet files) and what the build's stages run over the changed
patients: the response, best-response and lab marts, and the R1 quarantine
rows, all from the same models (``transforms/models``).
"""

from __future__ import annotations

import time

import duckdb

from config.params import DeriveParams
from contract import FACT_TABLES
from transforms.engine import MART_PREFIX, run_models

#: Each input relation -> the build's table it reads (the rejected lesion targets are a
#: temporary table of the build's stage, ``flows.stages.REJECTED_TARGETS``, absent when
#: staging rejected none: the input is then an empty relation of lesion rows).
#: ``in_lab_results`` carries collected_has_time.
SOURCES = {
    **{f"in_{table}": table for table in FACT_TABLES.values()},
    "in_rejected_targets": "rejected_lesion_targets",
}
#: Input relations ``con`` must hold (tables or views), with the columns of the public
#: fact tables of warehouse/ddl/10_facts.sql (``run_id`` optional, extra columns
#: ignored); only the patients to compute, and only those in ``in_patients``.
#: ``in_rejected_targets``: lesion target rows staging rejected for their measurement
#: (sizes null; may be empty): R1 keeps their lesion, R3/R6 make the sums that need them NE.
INPUTS = tuple(SOURCES)


def input_queries(con: duckdb.DuckDBPyConnection, recomputed: str | None) -> dict[str, str]:
    """Each input relation's rows, as a query over the build: the one definition of which
    rows a derive takes, whether the build derives them in place (views) or writes them
    to shard files.

    ``recomputed`` names a table of the patient_keys to recompute (None: every patient).
    Fact rows count only for patients in ``patients`` (a derived row never names a
    patient the warehouse does not know); the rejected targets are this run's staged
    rows. With no rejected targets this run, that input is an empty relation of
    lesion rows.
    """
    changed = f"patient_key IN (SELECT patient_key FROM {recomputed})" if recomputed else "TRUE"
    queries = {}
    for view, table in SOURCES.items():
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()[0][0]
        if not exists:
            queries[view] = "SELECT * EXCLUDE (run_id) FROM lesion_measurements WHERE FALSE"
            continue
        known = (
            "TRUE"
            if view == "in_rejected_targets"
            else "patient_key IN (SELECT patient_key FROM patients)"
        )
        queries[view] = f"SELECT * FROM {table} WHERE {known} AND {changed}"
    return queries


#: Public table -> the temp table derive_tables leaves in ``con`` (``mart_<table>``).
#: The response marts also carry has_target_disease and progression_date_hint
#: (not public columns); none carries run_id.
RESPONSE_OUTPUTS = {
    "timepoint_responses": MART_PREFIX + "timepoint_responses",
    "session_responses": MART_PREFIX + "session_responses",
    "best_responses": MART_PREFIX + "best_responses",
}
LAB_OUTPUTS = {
    "nlr": MART_PREFIX + "nlr",
    "session_labs": MART_PREFIX + "session_labs",
    "session_flags": MART_PREFIX + "session_flags",
}
SURVIVAL_OUTPUTS = {"survival": MART_PREFIX + "survival"}
#: Every derived public table (contract.DERIVED_TABLES) -> its mart.
OUTPUTS = {**RESPONSE_OUTPUTS, **LAB_OUTPUTS, **SURVIVAL_OUTPUTS}
#: The R1 quarantine rows (response-criteria R1, reason code target_after_baseline):
#: source_file, source_row, column_name, reason_code, action, reason; the lesion rows
#: to remove from lesion_measurements and to add to quarantine (dataset 'lesions').
R1_QUARANTINE = MART_PREFIX + "quarantine_r1"


def _marts(relations: dict[str, str] | tuple[str, ...]) -> list[str]:
    return [name.removeprefix(MART_PREFIX) for name in relations]


def derive_responses(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """The response marts and the R1 quarantine rows (inputs: INPUTS; labs only numbered)."""
    run_models(
        con,
        [*_marts(tuple(RESPONSE_OUTPUTS.values())), "quarantine_r1"],
        [params.response, params.best_response],
    )


def derive_labs(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """The lab marts (inputs: in_patients, in_sessions, in_imaging_studies, in_lab_results)."""
    run_models(con, _marts(tuple(LAB_OUTPUTS.values())), [params.labs])


def derive_survival(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> None:
    """The survival mart (issue 10): needs the response and lab marts of the same patients."""
    run_models(
        con,
        _marts(tuple(SURVIVAL_OUTPUTS.values())),
        [params.survival],
        provided=_marts((*RESPONSE_OUTPUTS.values(), *LAB_OUTPUTS.values())),
    )


def derive_tables(con: duckdb.DuckDBPyConnection, params: DeriveParams) -> dict[str, float]:
    """Create every derived table of the patients in the inputs, as temp tables in ``con``.

    Inputs: the relations named in :data:`INPUTS`. Outputs: the temp tables of
    :data:`OUTPUTS` (``mart_timepoint_responses``, ``mart_session_responses``,
    ``mart_best_responses``, ``mart_nlr``, ``mart_session_labs``,
    ``mart_session_flags``, ``mart_survival``: the public tables' columns without run_id) and
    :data:`R1_QUARANTINE` (``mart_quarantine_r1``). ``params`` is
    ``DeriveParams.from_config(cfg)``. Every result depends only on the rows of
    the patient it names, so shards of patients may be derived apart.

    Returns the wall seconds of the response, lab and survival parts (the benchmark
    compares the response part with the DuckDB floor).
    """
    seconds: dict[str, float] = {}
    for part, derive in (
        ("responses", derive_responses),
        ("labs", derive_labs),
        ("survival", derive_survival),
    ):
        t0 = time.perf_counter()
        derive(con, params)
        seconds[part] = time.perf_counter() - t0
    return seconds
