"""Vectorised number, date and vocabulary formatting for the demo cohort's text columns.

Every function takes whole numpy arrays and returns one Arrow string array, so a
column of millions of rows is formatted without a Python loop per value. A
``missing`` mask gives nulls, which the CSV writer leaves empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = np.datetime64("1970-01-01", "D")
NULL_TEXT = pa.scalar(None, pa.string())


def day_number(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date (the model works in whole days)."""
    return int((np.datetime64(iso, "D") - EPOCH).astype(np.int64))


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number."""
    return (EPOCH + days.astype("timedelta64[D]")).astype("datetime64[Y]").astype(np.int64) + 1970


def _with_missing(text: pa.Array, missing: np.ndarray | None) -> pa.Array:
    if missing is None or not missing.any():
        return text
    return pc.if_else(pa.array(missing), NULL_TEXT, text)


def fixed(values: np.ndarray, decimals: int, missing: np.ndarray | None = None) -> pa.Array:
    """Numbers with exactly ``decimals`` decimals ('12.3', '-0.5', '240'), rounded half-even."""
    scale = 10**decimals
    scaled = np.rint(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)
    magnitude = np.abs(scaled)
    text = pc.cast(pa.array(magnitude // scale), pa.string())
    if decimals:
        fraction = pc.utf8_lpad(pc.cast(pa.array(magnitude % scale), pa.string()), decimals, "0")
        text = pc.binary_join_element_wise(text, fraction, ".")
    negative = scaled < 0
    if negative.any():
        text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return _with_missing(text, missing)


def fixed_per_row(values: np.ndarray, decimals: np.ndarray) -> pa.Array:
    """Like ``fixed``, with the number of decimals given per row (one pass per distinct count)."""
    groups = [np.flatnonzero(decimals == d) for d in np.unique(decimals)]
    texts = pa.concat_arrays([fixed(values[g], int(decimals[g[0]])) for g in groups])
    where = np.empty(len(values), np.int64)
    where[np.concatenate(groups)] = np.arange(len(values))
    return texts.take(pa.array(where))


def iso_date(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """ISO 8601 dates ('2026-03-14') of day numbers."""
    dates = pa.array(np.asarray(days, dtype=np.int32), type=pa.date32())
    return _with_missing(pc.cast(dates, pa.string()), missing)


def iso_datetime(seconds: np.ndarray) -> pa.Array:
    """ISO 8601 date-times ('2026-03-14T08:30:00') of seconds since 1970-01-01."""
    stamps = pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"))
    return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S")


def pick(
    spellings: Sequence[str], index: np.ndarray, missing: np.ndarray | None = None
) -> pa.Array:
    """The spelling at ``index`` for every row (a vocabulary lookup)."""
    chosen = pc.take(pa.array(list(spellings), pa.string()), pa.array(index, type=pa.int32()))
    return _with_missing(chosen, missing)


def prefixed(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """Identifiers such as 'NELM-000123' or 'L3': a prefix and a zero-padded number."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


# Accepted boolean spellings (input contract: true/false, yes/no, 1/0, y/n, any case),
# as (true, false) pairs; each row uses one pair so a file mixes them as real exports do.
BOOLEAN_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("true", "false"),
    ("yes", "no"),
    ("Y", "N"),
    ("1", "0"),
    ("TRUE", "FALSE"),
    ("Yes", "No"),
    ("y", "n"),
)


def boolean(
    values: np.ndarray, rng: np.random.Generator, missing: np.ndarray | None = None
) -> pa.Array:
    """Booleans written in a random accepted spelling per row."""
    flat = [s for pair in BOOLEAN_SPELLINGS for s in pair]
    family = rng.integers(0, len(BOOLEAN_SPELLINGS), size=len(values))
    return pick(flat, family * 2 + (~np.asarray(values, dtype=bool)).astype(np.int64), missing)


def segment_list(masks: np.ndarray) -> pa.Array:
    """Couinaud segment lists ('5,6,7,8') of 8-bit masks (bit s-1 set = segment s)."""
    parts = [
        pc.if_else(pa.array((masks >> (s - 1)) & 1 == 1), str(s), NULL_TEXT) for s in range(1, 9)
    ]
    return pc.binary_join_element_wise(*parts, ",", null_handling="skip")
