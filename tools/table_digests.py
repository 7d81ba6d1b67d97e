"""Order-independent digests of a warehouse's result tables, for "is this the same output?".

Two runs of the same inputs differ only in run ids and run times; every other
value of every result table (facts, quarantine, derived tables) must be equal.
A digest is the row count and an md5 over the sorted text of the rows with
``run_id`` left out, so it does not depend on row order, on the run, or on
DuckDB's internal hash function.

    python tools/table_digests.py WAREHOUSE.duckdb            # JSON {table: [rows, md5]}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

# Columns that name the run, not the result.
RUN_COLUMNS = ("run_id",)


def table_digests(db: str | Path, tables: tuple[str, ...] | None = None) -> dict[str, list]:
    """``{table: [row count, md5 of the sorted rows]}`` for each result table of ``db``."""
    from contract import RESULT_TABLES
    from warehouse.schema import PUBLIC_COLUMNS

    names = tables or RESULT_TABLES
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for name in names:
            exclude = [c for c in RUN_COLUMNS if c in PUBLIC_COLUMNS[name]]
            cols = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
            rows, md5 = con.execute(
                "SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) "
                f"FROM (SELECT CAST(t AS VARCHAR) AS r FROM (SELECT {cols} FROM {name}) t)"
            ).fetchall()[0]
            out[name] = [int(rows), md5]
        return out
    finally:
        con.close()


if __name__ == "__main__":
    print(json.dumps(table_digests(sys.argv[1]), indent=1, sort_keys=True))
