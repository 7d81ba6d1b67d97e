"""The DuckDB warehouse: its schema, a run's build, publishing it, and the ledger.

- ``warehouse.schema``: the only reader of the DDL (``warehouse/ddl/*.sql``):
  table columns, CREATE statements, Arrow schemas, migrations of older files;
- ``warehouse.build``: ``start_build`` copies the published file into a private
  build, ``Build`` writes public tables and the raw layer, ``run_lock``
  serialises runs, ``open_read_only`` reads the published state;
- ``warehouse.publish``: the atomic ``os.replace`` of the build file, and the
  staged report folder (``stage_folder``, ``publish_folder``);
- ``warehouse.ledger``: source files in the raw layer (``meta.source_files``),
  the patients whose rows changed, and the run records (``pipeline_runs``,
  ``ingested_files``).

The names below are re-exported so that ``from warehouse import X`` keeps working.
"""

from __future__ import annotations

from contract.tables import AUDIT_TABLES
from warehouse.build import Build, open_read_only, run_lock, start_build
from warehouse.errors import WarehouseError
from warehouse.publish import publish_folder, stage_folder
from warehouse.schema import DDL_TABLES, PUBLIC_COLUMNS, PUBLIC_TABLES, SCHEMA_VERSION

__all__ = [
    "AUDIT_TABLES",
    "DDL_TABLES",
    "PUBLIC_COLUMNS",
    "PUBLIC_TABLES",
    "SCHEMA_VERSION",
    "Build",
    "WarehouseError",
    "open_read_only",
    "publish_folder",
    "run_lock",
    "stage_folder",
    "start_build",
]
