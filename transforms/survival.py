"""The ``survival`` mart: one row per patient with a session (issue 10).

Overall survival from the first session, the first session's NLR flags and
the landmark responder status per criteria, for the outcome report's
Kaplan–Meier curves and Cox model. The rules are in the header of
``transforms/sql/survival.sql`` (one self-contained model); ``params`` is
``load_config().section("report")`` (config/survival.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from transforms.sqlrun import SqlSession

#: The warehouse tables the model reads.
INPUTS = (
    "patients",
    "sessions",
    "imaging_studies",
    "timepoint_responses",
    "best_responses",
    "session_labs",
)


def compute_survival(tables: Mapping[str, pa.Table], params: Mapping[str, Any]) -> pa.Table:
    """The survival rows (warehouse columns minus run_id) of the patients in ``tables``.

    ``tables`` holds each of ``INPUTS`` with (at least) its warehouse columns,
    for the same set of patients.
    """
    missing = [name for name in INPUTS if name not in tables]
    if missing:
        raise ValueError(f"compute_survival needs the tables {', '.join(missing)}")
    variables = {
        "landmark_days": int(params["landmark_days"]),
        "landmark_counts_unconfirmed": bool(params["landmark_counts_unconfirmed"]),
    }
    with SqlSession(tables={n: tables[n] for n in INPUTS}, params=variables) as sql:
        return sql.run_model("survival")
