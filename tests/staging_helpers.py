"""Raw input tables for staging tests, as `sources` hands them over (every value text)."""

from __future__ import annotations

import pyarrow as pa


def raw(**columns: list) -> pa.Table:
    """A raw dataset table: the given text columns, patient ``p1``, rows 1…n of ``f.csv``."""
    n = len(next(iter(columns.values())))
    columns.setdefault("patient_key", ["p1"] * n)
    columns.setdefault("source_file", ["f.csv"] * n)
    columns.setdefault("source_row", list(range(1, n + 1)))
    return pa.table(
        {
            k: pa.array(v, pa.int64() if k == "source_row" else pa.string())
            for k, v in columns.items()
        }
    )
