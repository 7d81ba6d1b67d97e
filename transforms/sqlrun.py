"""Run SQL models over in-memory tables.

Parameters (thresholds from ``config/``) reach SQL as DuckDB variables, read
with ``getvariable('name')``, so no number is pasted into a query string.
A model file may hold several statements; each statement before the last
typically creates a temporary table or view, and the last one is a query whose
result is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from transforms.engine import split_statements

SQL_DIR = Path(__file__).parent / "sql"


def sql_text(name: str) -> str:
    """The text of ``transforms/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


class SqlSession:
    """A private in-memory DuckDB holding the input tables and parameters of one transform."""

    def __init__(
        self,
        tables: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        for name, table in (tables or {}).items():
            self.con.register(name, table)
        for name, value in (params or {}).items():
            self.set_param(name, value)

    def set_param(self, name: str, value: Any) -> None:
        self.con.execute(f"SET VARIABLE {name} = ?", [value])

    def register(self, name: str, table: Any) -> None:
        self.con.register(name, table)

    def run_script(self, text: str) -> pa.Table | None:
        """Run every statement; return the last statement's result as Arrow (None for DDL)."""
        result = None
        for stmt in split_statements(text):
            result = self.con.sql(stmt)
        return result.to_arrow_table() if result is not None else None

    def run_model(self, name: str) -> pa.Table | None:
        return self.run_script(sql_text(name))

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params).to_arrow_table()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
