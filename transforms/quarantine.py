"""The quarantine's one definition: its columns and what was done with each row.

A quarantine row says what was wrong with a source row (``reason_code``,
``reason``, and ``column_name`` when one column is at fault) and what the
pipeline did about it (``action``). The action vocabulary lives here only;
staging, the response stage, the run summary and the data-quality checks
read it from this module.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What the pipeline did with a source row that broke the input contract."""

    #: A bad value in an optional column (inputs contract): the value is stored
    #: as NULL and the rest of the row loads.
    VALUE_NULLED = "value_nulled"
    #: A bad required value, a duplicate, a row that refers to nothing: the row
    #: is not loaded.
    ROW_REJECTED = "row_rejected"
    #: A later file's row with the same key replaced this one (a correction, not
    #: an error): the row is not loaded.
    SUPERSEDED = "superseded"


#: Actions whose source row is not in its fact table. A row counts once in
#: "rows read = rows loaded + rows removed", whatever else was recorded about it.
ROW_REMOVING_ACTIONS: frozenset[Action] = frozenset({Action.ROW_REJECTED, Action.SUPERSEDED})

#: Columns of a quarantine row as the transforms produce it (the warehouse adds run_id).
COLUMNS = ("dataset", "source_file", "source_row", "column_name", "reason_code", "action", "reason")


def sql_list(actions: frozenset[Action] = ROW_REMOVING_ACTIONS) -> str:
    """``('row_rejected', 'superseded')``: the actions as a SQL list, for ``action IN …``."""
    return "(" + ", ".join(f"'{a.value}'" for a in sorted(actions)) + ")"
