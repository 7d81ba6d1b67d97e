"""Turning one delivered file (CSV, Parquet or Excel) into header names and text rows.

A hospital export is messy: a semicolon instead of a comma, a BOM, a legacy
encoding, an Excel trailing comma, a stray quote. This module reads the bytes
so that every record is accounted for:

- **CSV**: one physical line is one record (``\\r\\n``, ``\\n`` and ``\\r`` end a
  line; a quoted value cannot span lines). The number of records is the number
  of non-blank lines after the header, counted before any line is parsed. The
  lines without a quote are split on the delimiter all at once (Arrow); every
  other line is parsed on its own, so a malformed line (an unterminated or stray
  quote, more or fewer fields than the header, a NUL byte) is reported with its
  line number and can never swallow the lines after it.
- **Excel** (``.xlsx``): the sheet named after the dataset, else the first sheet;
  its first row is the header; a non-empty row is a record.
- **Parquet**: the records are the rows; their number comes from the file footer.

The caller (``sources.read_source_file``) applies the file-level contract.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Delimiters a CSV file may use, in the order that wins a tie.
DELIMITERS: tuple[str, ...] = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_BOM = b"\xef\xbb\xbf"


class FileError(Exception):
    """A file that cannot be read at all; ``sources`` turns it into a SourceError."""


@dataclass(frozen=True)
class RawFile:
    """A file as header names and text columns, before the contract is applied.

    ``rows_read`` is the number of records the file holds, counted independently
    of the parser; ``source_rows`` numbers the parsed records (1-based data row,
    header excluded: CSV line number − 1, sheet row number − 1, Parquet row index
    + 1); ``malformed`` holds the data row numbers of records that could not be
    split into the header's columns, with a reason each.
    """

    names: list[str]
    columns: list[pa.Array]
    source_rows: pa.Array
    rows_read: int
    malformed: list[tuple[int, str]]
    delimiter: str | None = None


def decode(path: Path, display: str, fallback_encoding: str) -> str:
    """The file's text: UTF-8 (with or without BOM), else the declared encoding, else refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileError(f"file {display} cannot be read: {exc.strerror}") from exc
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if not fallback_encoding:
            raise FileError(
                f"file {display} is not valid UTF-8 (line {line}); save it as UTF-8, or declare "
                'its encoding in a --config file: [ingest] encoding = "cp1252" (or latin-1, …)'
            ) from None
    try:
        return data.decode(fallback_encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise FileError(
            f"file {display} is neither valid UTF-8 nor valid {fallback_encoding} "
            f"(ingest.encoding): {type(exc).__name__}"
        ) from None


def _split(line: str, delimiter: str) -> list[str] | None:
    """The fields of one line, or None when the line is not well-formed CSV."""
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def fold_name(name: str) -> str:
    """Header matching: case-insensitive, surrounding blanks and a BOM ignored."""
    return name.strip().lstrip("\ufeff").strip().lower()


def detect_delimiter(header: str, known_columns: set[str]) -> str:
    """The delimiter under which the header names the most contract columns (then: most fields)."""

    def score(delimiter: str) -> tuple[int, int]:
        fields = _split(header, delimiter) or []
        return sum(fold_name(f) in known_columns for f in fields), len(fields)

    return max(DELIMITERS, key=score)  # max keeps the first of equal scores


def read_csv_text(text: str, known_columns: set[str]) -> RawFile:
    """Header and records of a CSV text, one record per non-blank physical line.

    The text is split into lines by Arrow, not into Python strings: at 100,000
    patients the labs file has 18.8 M lines, and a Python list of them cost more
    than the rest of the parse.
    """
    lines = _lines(text)
    header = lines[0].as_py()
    if _blank(header):
        raise FileError("has no header line")
    delimiter = detect_delimiter(header, known_columns)
    names = _split(header, delimiter)
    if names is None or "\x00" in header:
        raise FileError("has a header line that is not well-formed CSV (line 1)")
    width = _header_width(names)
    body = lines.slice(1)
    numbers = pa.array(np.arange(1, len(body) + 1, dtype=np.int64))
    blank = pc.equal(pc.utf8_trim(body, " \t"), "")
    # The count of records: the non-blank lines, taken before any line is parsed.
    rows_read = len(body) - (pc.sum(blank).as_py() or 0)
    # Lines without a quote or NUL, with the header's number of fields, split exactly on
    # the delimiter: all of them at once. (Fields beyond `width` must then be empty.)
    split = pc.split_pattern(body, delimiter)
    fast = pc.and_(
        pc.invert(pc.or_(pc.match_substring(body, '"'), pc.match_substring(body, "\x00"))),
        pc.and_(pc.invert(blank), pc.equal(pc.list_value_length(split), len(names))),
    )
    if len(names) > width:
        beyond = pc.binary_join(pc.list_slice(split, width), pa.scalar("", body.type))
        fast = pc.and_(fast, pc.equal(pc.utf8_trim(beyond, " \t"), ""))
    fast_fields = pc.filter(split, fast)
    columns = [pc.list_element(fast_fields, i) for i in range(width)]
    source_rows = pc.filter(numbers, fast)
    # The other lines (quoted values, another number of fields, NUL) one by one.
    records: list[list[str]] = []
    slow_rows: list[int] = []
    malformed: list[tuple[int, str]] = []
    for index in pc.indices_nonzero(pc.invert(pc.or_(fast, blank))).to_pylist():
        number = index + 1
        fields, problem = _parse_line(lines[number].as_py(), delimiter, width)
        if problem:
            malformed.append((number, f"line {number + 1} {problem}"))
        else:
            records.append(fields)
            slow_rows.append(number)
    if records:
        columns = [
            pa.concat_arrays([col, pa.array([r[i] for r in records], col.type)])
            for i, col in enumerate(columns)
        ]
        source_rows = pa.concat_arrays([source_rows, pa.array(slow_rows, pa.int64())])
        order = pc.sort_indices(source_rows)
        columns = [pc.take(col, order) for col in columns]
        source_rows = pc.take(source_rows, order)
    return RawFile(
        names=names[:width],
        # Lines are large strings (a file's text may pass 2 GiB); one column's text fits.
        columns=[col.cast(pa.string()) for col in columns],
        source_rows=source_rows,
        rows_read=rows_read,
        malformed=malformed,
        delimiter=delimiter,
    )


def _lines(text: str) -> pa.LargeStringArray:
    """The physical lines of ``text`` (ended by CRLF, LF or CR) as an Arrow array (large
    strings: 64-bit offsets, so a text over 2 GiB splits too)."""
    whole = pa.array([text], pa.large_string())
    if "\r" in text:
        whole = pc.replace_substring(pc.replace_substring(whole, "\r\n", "\n"), "\r", "\n")
    return pc.list_flatten(pc.split_pattern(whole, "\n"))


def _parse_line(line: str, delimiter: str, width: int) -> tuple[list[str], str | None]:
    """The ``width`` fields of one line, or what is wrong with it."""
    if "\x00" in line:
        return [], "holds a NUL byte"
    fields = _split(line, delimiter)
    if fields is None:
        return [], "has an unterminated or stray quote"
    if len(fields) > width and not any(f.strip(" \t") for f in fields[width:]):
        fields = fields[:width]  # empty trailing fields, as Excel writes them
    if len(fields) != width:
        return [], f"has {len(fields)} fields where the header has {width}"
    return fields, None


def _blank(line: str) -> bool:
    """A line of nothing but spaces and tabs holds no record (it is not counted)."""
    return not line.strip(" \t")


def _header_width(names: list[str]) -> int:
    """Columns that count: the header without its empty trailing names (Excel's trailing comma)."""
    width = len(names)
    while width and not names[width - 1].strip():
        width -= 1
    return width


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a CSV export would hold (dates ISO, whole numbers bare)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep="T")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def read_xlsx(path: Path, dataset: str) -> RawFile:
    """The sheet named after the dataset (else the first): first row header, then records."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise FileError(f"is not a readable Excel workbook ({type(exc).__name__})") from None
    try:
        by_name = {name.strip().lower(): name for name in book.sheetnames}
        if not by_name:
            raise FileError("has no sheet")
        sheet = book[by_name.get(dataset, book.sheetnames[0])]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise FileError("has no header row")
        names = ["" if v is None else str(v) for v in header]
        width = _header_width(names)
        records: list[list[str | None]] = []
        source_rows: list[int] = []
        malformed: list[tuple[int, str]] = []
        rows_read = 0
        for number, row in enumerate(rows, start=1):
            cells = [_cell_text(v) for v in row]
            if not any(c is not None and c.strip() for c in cells):
                continue
            rows_read += 1
            if any(c is not None and c.strip() for c in cells[width:]):
                malformed.append((number, f"sheet row {number + 1} has values beyond the header"))
                continue
            cells = (cells + [None] * width)[:width]
            records.append(cells)
            source_rows.append(number)
    except FileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise FileError(f"is not a readable Excel workbook ({type(exc).__name__})") from None
    finally:
        book.close()
    columns = [pa.array([r[i] for r in records], pa.string()) for i in range(width)]
    return RawFile(
        names=names[:width],
        columns=columns,
        source_rows=pa.array(source_rows, pa.int64()),
        rows_read=rows_read,
        malformed=malformed,
    )


def read_parquet(path: Path) -> RawFile:
    """Every column as text (Arrow prints floats as their shortest round trip, dates as ISO)."""
    try:
        rows_read = pq.ParquetFile(path).metadata.num_rows
        table = pq.read_table(path)
        columns = [pc.cast(col, pa.string()).combine_chunks() for col in table.columns]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise FileError(f"is not a readable Parquet file ({type(exc).__name__})") from None
    return RawFile(
        names=list(table.column_names),
        columns=columns,
        source_rows=pa.array(range(1, table.num_rows + 1), pa.int64()),
        rows_read=rows_read,
        malformed=[],
    )
