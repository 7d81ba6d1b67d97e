"""Timepoint responses: RECIST 1.1, mRECIST, EASL and Choi at every imaging study.

Rules B1–B6, R1–R15, M1–M6, A1–A5, C1–C6, F1–F3 and X1 of ``shared/spec/response-criteria.md``
are set-based DuckDB SQL over all patients at once, one model per file in
``transforms/models/`` (``staging/resp_lesion_input``, ``intermediate/resp_*``,
``marts/timepoint_responses``, ``marts/session_responses``, ``marts/quarantine_r1``),
ordered by the model runner (``transforms.engine``) from the dependencies each file
declares; the rules sit in these models:

=========================== ==============================================
``patient_ids``             the patients numbered (shared with the labs)
``session_context``         sessions in order, next session, session baseline (B3, B6; shared)
``resp_rules``              the criteria as rows of measure, thresholds and rule ids, macros
``resp_scopes``             course and session scopes with baselines (B2, B3)
``resp_lesion_rows``        R1: targets first seen after the course baseline
``resp_lesion_sizes``       R2/M1/A1/C1: a lesion's fragments read together
``resp_scope_studies``      the studies of each scope (B4-B6)
``resp_scope_lesions``      baseline targets / non-targets per scope, tracked (F1)
``resp_new_lesions``        R11
``resp_scope_sums``         per scope study: sums per measure, nadir (R3, R4), density, counts
``resp_target_response``    R5-R9, M2-M3, A2-A3, C1-C5 (per criteria)
``resp_nontarget_response`` R10, M4
``resp_reason_lists``       the lesion ids the reasons name (X1)
``resp_overall``            R12-R14, F3; R15/M6 after an overall CR at the previous assessment
``resp_reasons``            the reason (X1), written for published rows only
=========================== ==============================================

Sizes are exact decimals (DECIMAL(18,3), sums DECIMAL(17,3)); every threshold
comparison is exact (``sum <= baseline * 0.70``), so exactly -30.0 % is PR and
exactly +20.0 % with +5.0 mm is PD. Thresholds come from ``config/response.toml``.

Why it is shaped this way (100,000 patients, 2.4M lesion rows): patients are
numbered so joins compare integers; a session's lesions are tracked once and
counted per field (in/out), the overall scope adding both; every criteria reads
sums kept per measure, so lesions are never doubled, and a criteria is a row of
``resp_criteria`` (its measure, thresholds and rule ids), not a copy of the SQL;
the enhancing cross-product and the attenuation are read only when an enabled
criteria uses them; the lesion ids a
reason names are gathered only where a reason may name them, and reasons are
written only for published rows.

Who gets rows: a patient with at least one session. A patient without any
session has no course and no session scope, so no rows at all. A patient
whose first session has no study within the look-back gets one NE row per
study after that session (B2), and the same holds per session (B3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from config.params import RESPONSE_PARAMETERS, TransformParams, response_params
from transforms.engine import in_memory, mart, run_models

#: The ``response`` config parameters the SQL reads with getvariable().
PARAMETERS = RESPONSE_PARAMETERS

SESSION_COLUMNS = (
    "patient_key",
    "session_id",
    "session_date",
    "session_number",
    "modality",
    "treated_segments",
)
STUDY_COLUMNS = ("patient_key", "study_date")
LESION_COLUMNS = (
    "patient_key",
    "study_date",
    "lesion_id",
    "role",
    "organ",
    "liver_segment",
    "status",
    "longest_diameter_mm",
    "short_axis_mm",
    "viable_diameter_mm",
    "viable_perpendicular_mm",
    "attenuation_hu",
    "is_nodal",
    "source_file",
    "source_row",
)
#: Lesion columns an input may lack (inputs contract: optional); read as null.
OPTIONAL_LESION_COLUMNS = {
    "viable_perpendicular_mm": pa.decimal128(10, 1),
    "attenuation_hu": pa.float64(),
}

#: The marts of the responses (transforms/models/marts/).
MARTS = ("timepoint_responses", "session_responses", "quarantine_r1")


@dataclass(frozen=True)
class TimepointResult:
    """The outputs of :func:`compute_timepoints`.

    ``timepoint_responses`` and ``session_responses`` have the warehouse
    columns and types (without ``run_id``; the marts' SQL casts to the DDL's types,
    which tests/test_contract.py checks) plus ``has_target_disease`` (the scope's
    baseline had a target) and ``progression_date_hint`` (on PD rows, the date
    progression is dated to: the study date, or the earlier first sighting of
    an equivocal-then-present new lesion, R11); the loader drops both.
    ``quarantined`` lists the lesion rows R1 removed from every response.
    """

    timepoint_responses: pa.Table
    session_responses: pa.Table
    quarantined: pa.Table


def _select(table: pa.Table, columns: tuple[str, ...], what: str) -> pa.Table:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} lacks column(s): {', '.join(missing)}")
    return table.select(list(columns))


def _with_optional_lesion_columns(lesions: pa.Table) -> pa.Table:
    """The optional lesion columns (EASL, Choi) as nulls where an input lacks them."""
    for name, type_ in OPTIONAL_LESION_COLUMNS.items():
        if name not in lesions.column_names:
            lesions = lesions.append_column(name, pa.nulls(lesions.num_rows, type_))
    return lesions


def compute_timepoints(
    sessions: pa.Table,
    imaging_studies: pa.Table,
    lesion_measurements: pa.Table,
    params: Mapping[str, Any] | TransformParams,
    rejected_targets: pa.Table | None = None,
) -> TimepointResult:
    """Responses at every study, for the course and each session, under each enabled criteria.

    Inputs have the columns of ``warehouse/ddl/10_facts.sql`` (extra columns
    are ignored); diameters may carry more than one decimal, they are read as
    exact DECIMAL(18,3); ``viable_perpendicular_mm`` and ``attenuation_hu`` may be
    absent (null: EASL and Choi then give NE where they need them). ``params`` is
    the caller's ``cfg.section("response")`` (or its :func:`config.params.response_params`);
    its ``criteria`` lists the criteria computed. The same models run inside the
    build database in the pipeline (``transforms.derive``); this wrapper loads the
    Arrow tables into an in-memory DuckDB under the input names they read.
    ``rejected_targets`` (same columns; sizes null) are target rows the
    ingestion rejected for their measurement (``transforms.staging``).
    """
    lesions = _select(
        _with_optional_lesion_columns(lesion_measurements), LESION_COLUMNS, "lesion_measurements"
    )
    tables = {
        "in_sessions": _select(sessions, SESSION_COLUMNS, "sessions"),
        "in_imaging_studies": _select(imaging_studies, STUDY_COLUMNS, "imaging_studies"),
        "in_lesion_measurements": lesions,
        # the patient numbering (intermediate/patient_ids) also counts lab-only patients
        "in_lab_results": pa.table({"patient_key": pa.array([], pa.string())}),
        "in_rejected_targets": (
            lesions.schema.empty_table()
            if rejected_targets is None
            else _select(
                _with_optional_lesion_columns(rejected_targets), LESION_COLUMNS, "rejected_targets"
            )
        ),
    }
    settings = params if isinstance(params, TransformParams) else response_params(params)
    with in_memory(tables) as con:
        run_models(con, MARTS, [settings])
        timepoints = mart(con, "timepoint_responses").to_arrow_table()
        session_rows = mart(con, "session_responses").to_arrow_table()
        quarantined = mart(con, "quarantine_r1").to_arrow_table()
    return TimepointResult(
        timepoint_responses=timepoints, session_responses=session_rows, quarantined=quarantined
    )
