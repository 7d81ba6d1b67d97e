"""Best overall response and time to event (response-criteria E1–E5, E3b).

One function serves both our warehouse and the pharmaverse oracle, so it
knows nothing of imaging studies or sessions: it takes dated overall
responses per (patient, criteria, scope), the scopes with their start dates
and event windows, and the patients' death dates. All the work is set-based
SQL, the mart ``transforms/models/marts/best_responses.sql`` (its inputs from
``intermediate/best_assessments`` and ``intermediate/best_scopes`` in the pipeline);
the thresholds come from ``config/best_response.toml`` (section
``best_response``) as one frozen parameter object
(:func:`config.params.best_response_params`) and reach SQL as
``getvariable(...)``, so a user changes them in a config file, not in code.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from config.params import TransformParams
from transforms.engine import in_memory, mart, run_models

ASSESSMENT_COLUMNS = (
    "patient_key",
    "criteria",
    "scope",
    "study_date",
    "overall_response",
    "has_target_disease",
    "progression_date_hint",
)
SCOPE_COLUMNS = ("patient_key", "scope", "start_date", "event_window_end")
PATIENT_COLUMNS = ("patient_key", "death_date")

#: Optional on the warehouse response tables: the timepoint engine may add them.
_OPTIONAL_RESPONSE_COLUMNS = {
    "has_target_disease": pa.bool_(),
    "progression_date_hint": pa.date32(),
}


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} lacks column(s): {', '.join(missing)}")


def _check_vocabulary(assessments: pa.Table, ranking: list[str]) -> None:
    """A response outside the ranking would silently rank nowhere; stop instead."""
    values = pc.unique(assessments["overall_response"].drop_null()).to_pylist()
    unknown = sorted(set(values) - set(ranking))
    if unknown:
        raise ValueError(f"overall_response value(s) outside response_ranking: {unknown}")


def compute_best_responses(
    assessments: pa.Table,
    scopes: pa.Table,
    patients: pa.Table,
    params: TransformParams,
) -> pa.Table:
    """Rows of ``best_responses`` (without ``run_id``; the DDL's types, which the mart's SQL
    casts to), one per patient, criteria and scope.

    ``assessments``: patient_key, criteria, scope, study_date, overall_response
    (null on the baseline row, which is ignored), has_target_disease (E3b) and
    progression_date_hint (R11: the date a PD is dated to; null = its study date).
    ``scopes``: patient_key, scope, start_date, event_window_end (null for the
    course; the next session's date for a session, E5). Every scope gets a row
    for each criteria in ``params.values['criteria']`` (``response.criteria``
    unless overridden), assessed or not.
    ``patients``: patient_key, death_date. ``params``: the run's
    :func:`config.params.best_response_params` (built from its config by the
    caller: this module never reads the config).
    """
    _require(assessments, ASSESSMENT_COLUMNS, "assessments")
    _require(scopes, SCOPE_COLUMNS, "scopes")
    _require(patients, PATIENT_COLUMNS, "patients")
    _check_vocabulary(assessments, params.values["response_ranking"])
    tables = {
        "best_assessments": assessments.select(list(ASSESSMENT_COLUMNS)),
        "best_scopes": scopes.select(list(SCOPE_COLUMNS)),
        "in_patients": patients.select(list(PATIENT_COLUMNS)),
    }
    with in_memory(tables) as con:
        run_models(con, ["best_responses"], [params], provided=tables)
        return mart(con, "best_responses").to_arrow_table()


def _with_optional_columns(table: pa.Table) -> pa.Table:
    for name, type_ in _OPTIONAL_RESPONSE_COLUMNS.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, type_))
    return table


def assessments_from_warehouse_tables(
    timepoint_responses: pa.Table,
    session_responses: pa.Table,
    sessions: pa.Table,
) -> tuple[pa.Table, pa.Table]:
    """The ``assessments`` and ``scopes`` inputs of :func:`compute_best_responses`.

    Scope ``course`` comes from ``timepoint_responses`` and starts at the first
    session; scope ``<session_id>`` comes from the ``overall`` rows of
    ``session_responses``, starts at that session and ends its event window at
    the next one (E5). ``has_target_disease`` / ``progression_date_hint`` are
    used when the tables carry them (see ``intermediate/best_assessments.sql``).
    """
    tables = {
        "mart_timepoint_responses": _with_optional_columns(timepoint_responses),
        "mart_session_responses": _with_optional_columns(session_responses),
        "in_sessions": sessions,
    }
    with in_memory(tables) as con:
        run_models(
            con,
            ["best_assessments", "best_scopes"],
            provided=["timepoint_responses", "session_responses"],
        )
        assessments = con.table("best_assessments").to_arrow_table()
        scopes = con.table("best_scopes").to_arrow_table()
    return assessments, scopes
