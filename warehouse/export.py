"""Export the public tables to Parquet or CSV, for R, pandas or a spreadsheet (issue 10).

Only the public tables of the warehouse contract (``PUBLIC_TABLES``, the DDL
in warehouse/ddl) are written, never the raw or meta schemas, so an export
holds what a user could query and no more: patients appear as
``patient_key``. DuckDB writes each file (``COPY``), streaming, so a large
table never sits in memory.

* **Parquet** keeps every type: dates, timestamps, decimals, booleans, and
  ``INTEGER[]`` as a list column; R ``arrow::read_parquet`` and
  ``pandas.read_parquet`` read it as it is.
* **CSV** (UTF-8, header, ``,``-separated, RFC 4180 quoting; a missing value is
  an empty field, booleans ``true``/``false``, dates ISO 8601) is what
  ``readr::read_csv`` and ``pandas.read_csv`` read with their defaults. A
  list column is flattened to its items joined by ``;`` (``2;3;5``); an
  empty list and a missing one are both an empty field.

The export is written to a temporary folder beside ``out`` and renamed into
place (``publish_folder``), so ``out`` is the old export or the new one, never
half of one. ``manifest.json`` lists the tables, files, rows and the flattened
columns; a folder without it is not replaced (it may be someone's work).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import PUBLIC_TABLES, WarehouseError, open_read_only, publish_folder

FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"
LIST_SEPARATOR = ";"


class ExportError(WarehouseError):
    """An export that cannot be made; the message says what to do."""


@dataclass(frozen=True)
class ExportedTable:
    name: str
    file: str
    rows: int
    flattened_columns: tuple[str, ...]


def _chosen(tables: Sequence[str] | None) -> list[str]:
    if not tables:
        return list(PUBLIC_TABLES)
    unknown = [t for t in tables if t not in PUBLIC_TABLES]
    if unknown:
        raise ExportError(
            f"unknown table {unknown[0]!r}; the public tables are: {', '.join(PUBLIC_TABLES)}"
        )
    return list(dict.fromkeys(tables))


def _check_target(out: Path) -> None:
    """Replace ``out`` only when it is absent, empty, or an earlier export."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ExportError(
            f"{out} is not empty and holds no earlier export ({MANIFEST}); "
            "choose a new or empty folder"
        )


def _select(con: duckdb.DuckDBPyConnection, table: str, fmt: str) -> tuple[str, tuple[str, ...]]:
    """The SELECT one file is written from, and the list columns it flattened (CSV)."""
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if fmt == "parquet":
        return f"SELECT * FROM main.{table}", ()
    parts, flattened = [], []
    for name, kind in columns:
        if kind.endswith("[]"):
            parts.append(f"array_to_string({name}, '{LIST_SEPARATOR}') AS {name}")
            flattened.append(name)
        else:
            parts.append(name)
    return f"SELECT {', '.join(parts)} FROM main.{table}", tuple(flattened)


def export_tables(
    db: str | Path,
    out: str | Path,
    fmt: str = "parquet",
    tables: Sequence[str] | None = None,
) -> list[ExportedTable]:
    """Write the public tables (all, or ``tables``) of the warehouse ``db`` to folder ``out``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    out = Path(out)
    names = _chosen(tables)
    _check_target(out)
    con = open_read_only(db)
    staged = out.with_name(f".{out.name}.export-{secrets.token_hex(4)}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staged.mkdir()
        exported = []
        for name in names:
            select, flattened = _select(con, name, fmt)
            file = f"{name}.{fmt}"
            options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
            target = str(staged / file).replace("'", "''")
            con.execute(f"COPY ({select}) TO '{target}' ({options})")
            rows = con.execute(f"SELECT count(*) FROM main.{name}").fetchall()[0][0]
            exported.append(ExportedTable(name, file, int(rows), flattened))
        manifest = {
            "format": fmt,
            "list_separator": LIST_SEPARATOR if fmt == "csv" else None,
            "tables": [
                {
                    "name": t.name,
                    "file": t.file,
                    "rows": t.rows,
                    "flattened_columns": list(t.flattened_columns),
                }
                for t in exported
            ],
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        publish_folder(staged, out)
        return exported
    except OSError as exc:
        raise ExportError(f"cannot write the export to {out}: {exc.strerror}") from None
    finally:
        con.close()
        shutil.rmtree(staged, ignore_errors=True)
