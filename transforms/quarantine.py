"""The quarantine's columns and actions, as the transforms name them.

The definitions live in ``contract.reasons`` (with the reason codes); this
module keeps the names the transforms import.
"""

from __future__ import annotations

from contract.reasons import QUARANTINE_COLUMNS as COLUMNS
from contract.reasons import ROW_REMOVING_ACTIONS, Action, sql_list

__all__ = ["COLUMNS", "ROW_REMOVING_ACTIONS", "Action", "sql_list"]
