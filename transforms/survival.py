"""The ``survival`` mart: one row per patient with a session (issue 10).

Overall survival from the first session, the first session's NLR flags and
the landmark responder status per criteria, for the outcome report's
Kaplan–Meier curves and Cox model. The rules are in the header of the model
``transforms/models/marts/survival.sql``; a run derives it with the other marts
(``transforms.derive.derive_survival``). ``compute_survival`` is its Arrow-level
wrapper (tests, the DQ fixtures): it loads the tables into an in-memory DuckDB
and runs the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from config.params import survival_params
from transforms.engine import MART_PREFIX, in_memory, mart, run_models

#: The warehouse tables the model reads, and the relation each is given as.
INPUTS = {
    "patients": "in_patients",
    "sessions": "in_sessions",
    "imaging_studies": "in_imaging_studies",
    "timepoint_responses": "mart_timepoint_responses",
    "best_responses": "mart_best_responses",
    "session_labs": "mart_session_labs",
}


def compute_survival(tables: Mapping[str, pa.Table], params: Mapping[str, Any]) -> pa.Table:
    """The survival rows (warehouse columns minus run_id) of the patients in ``tables``.

    ``tables`` holds each of ``INPUTS`` with (at least) its warehouse columns,
    for the same set of patients; ``params`` is ``cfg.section("report")``.
    """
    missing = [name for name in INPUTS if name not in tables]
    if missing:
        raise ValueError(f"compute_survival needs the tables {', '.join(missing)}")
    with in_memory({INPUTS[name]: tables[name] for name in INPUTS}) as con:
        marts = [r.removeprefix(MART_PREFIX) for r in INPUTS.values() if r.startswith(MART_PREFIX)]
        run_models(con, ["survival"], [survival_params(params)], provided=marts)
        return mart(con, "survival").to_arrow_table()
