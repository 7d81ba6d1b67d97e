"""The one definition of what the pipeline promises: its inputs, tables and reason codes.

- ``contract.inputs``: the datasets and their columns (type, required) from
  ../shared/contract/inputs.md, and the keys of the one-row-per-key datasets;
- ``contract.tables``: the public tables and their groups (facts per dataset,
  derived, quarantine, audit);
- ``contract.reasons``: the quarantine reason codes (``ReasonCode``) with their
  meanings, and the actions (``Action``).

Every other package imports these; this package imports none of them.
"""

from contract.inputs import (
    ALWAYS,
    BOOLEAN,
    BOOLEAN_COLUMNS,
    CONTRACT,
    DATASETS,
    DATE,
    DATE_COLUMNS,
    INPUT_COLUMNS,
    NUMBER,
    NUMERIC_COLUMNS,
    PATIENT_ID,
    PATIENT_KEY,
    REQUIRED_COLUMNS,
    REQUIRED_VALUES,
    ROW_KEYS,
    TEXT,
    Column,
    Requirement,
)
from contract.reasons import (
    QUARANTINE_COLUMNS,
    ROW_REMOVING_ACTIONS,
    Action,
    ReasonCode,
    sql_list,
)
from contract.tables import (
    AUDIT_TABLES,
    CHECKED_TABLES,
    DERIVED_TABLES,
    FACT_TABLES,
    PUBLIC_TABLES,
    QUARANTINE_TABLE,
    RESULT_TABLES,
)

__all__ = [
    "ALWAYS",
    "AUDIT_TABLES",
    "BOOLEAN",
    "BOOLEAN_COLUMNS",
    "CHECKED_TABLES",
    "CONTRACT",
    "DATASETS",
    "DATE",
    "DATE_COLUMNS",
    "DERIVED_TABLES",
    "FACT_TABLES",
    "INPUT_COLUMNS",
    "NUMBER",
    "NUMERIC_COLUMNS",
    "PATIENT_ID",
    "PATIENT_KEY",
    "PUBLIC_TABLES",
    "QUARANTINE_COLUMNS",
    "QUARANTINE_TABLE",
    "REQUIRED_COLUMNS",
    "REQUIRED_VALUES",
    "RESULT_TABLES",
    "ROW_KEYS",
    "ROW_REMOVING_ACTIONS",
    "TEXT",
    "Action",
    "Column",
    "ReasonCode",
    "Requirement",
    "sql_list",
]
