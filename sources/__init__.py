"""The source folder of a run: find dataset files, hash them, read them as text.

This is the only place that sees raw patient identifiers. A file is read with
every column as text (the staging transforms do all typing, so a bad value
becomes a quarantine row instead of a crash), column names are folded to
lower case, and ``patient_id`` is replaced by ``patient_key`` before the
table leaves this module. The input contract's columns are data
(``contract.inputs.CONTRACT``); a file that breaks the file-level contract
(a required column missing, say) is refused before any of its rows is stored. ``sources.files``
turns the bytes of each format into header names and text columns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from contract.inputs import (
    CONTRACT,
    DATASETS,
    INPUT_COLUMNS,
    NUMERIC_COLUMNS,
    PATIENT_ID,
    PATIENT_KEY,
    REQUIRED_COLUMNS,
)
from sources.adapters import AdapterFiles, Mapped, claimed
from sources.files import (
    DELIMITER_NAMES,
    FileError,
    RawFile,
    decode,
    fold_name,
    read_csv_text,
    read_parquet,
    read_xlsx,
)

# The contract allows extra columns; they are kept in the raw layer (never the
# personal-data columns of privacy.never_store_columns) when their name is plain.
_PLAIN_NAME = re.compile(r"^[a-z0-9_][a-z0-9_ .()%/-]{0,62}$")
# A decimal comma in a number, optionally censored (<0,2 / >=1000,5).
_DECIMAL_COMMA = r"^(\s*(?:[<>]=?)?\s*[+-]?\d*),(\d+\s*)$"

_FILE_RE = re.compile(
    r"^(?P<dataset>" + "|".join(DATASETS) + r")(?:_[^/]*)?\.(?P<fmt>csv|parquet|xlsx)$",
    re.IGNORECASE,
)


# Re-exported for callers that read the contract through ``sources``.
__all__ = [
    "CONTRACT",
    "DATASETS",
    "INPUT_COLUMNS",
    "NUMERIC_COLUMNS",
    "REQUIRED_COLUMNS",
    "Pseudonymiser",
    "ReadResult",
    "SourceError",
    "SourceFile",
    "discover",
    "read_source_file",
    "sha256_of",
]


class SourceError(Exception):
    """A source folder or file that cannot be read at all; the message is for the user."""


@dataclass(frozen=True)
class SourceFile:
    """One dataset file of the source folder."""

    path: Path
    name: str  # relative to the source folder; the lineage key
    dataset: str
    fmt: str


@dataclass(frozen=True)
class ReadResult:
    """The rows of one file as text, plus the records that could not be split into columns.

    ``rows_read`` is the number of records in the file, counted independently
    of the parser: ``table.num_rows + len(malformed_rows)`` equals it, or the
    run's balance shows the difference.
    """

    table: pa.Table
    rows_read: int
    malformed_rows: list[int]
    malformed_reasons: list[str]
    dropped_columns: list[str]
    delimiter: str | None = None


def discover(source_dir: str | Path) -> list[SourceFile]:
    """Every dataset file directly inside ``source_dir``, sorted by dataset and name."""
    root = Path(source_dir)
    if not root.exists():
        raise SourceError(f"source folder {root} does not exist")
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder")
    try:
        entries = sorted(p for p in root.iterdir() if p.is_file())
    except PermissionError as exc:
        raise SourceError(f"source folder {root} cannot be read: permission denied") from exc
    found = []
    for path in entries:
        match = _FILE_RE.match(path.name)
        if match:
            found.append(
                SourceFile(
                    path=path,
                    name=path.name,
                    dataset=match["dataset"].lower(),
                    fmt=match["fmt"].lower(),
                )
            )
    if not found and not adapter_files(root):
        raise SourceError(
            f"source folder {root} holds no known dataset file "
            f"(expected {', '.join(d + '*.csv|parquet|xlsx' for d in DATASETS)}, "
            "or SDTM domain files / FHIR ndjson files)"
        )
    return sorted(found, key=lambda f: (DATASETS.index(f.dataset), f.name))


def adapter_files(source_dir: str | Path) -> list[AdapterFiles]:
    """Files of the folder no contract pattern names, grouped by the adapter that reads them."""
    root = Path(source_dir)
    others = [p for p in root.iterdir() if p.is_file() and not _FILE_RE.match(p.name)]
    return claimed(root, others)


def sha256_of(path: Path) -> str:
    """Content fingerprint of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise SourceError(f"file {path.name} cannot be read: {exc.strerror}") from exc
    return digest.hexdigest()


def _refuse(sf: SourceFile, problem: str) -> SourceError:
    return SourceError(f"file {sf.name} {problem}; nothing was loaded from it")


def _read_raw(sf: SourceFile, encoding: str) -> RawFile:
    known = {c.name for c in CONTRACT[sf.dataset]}
    try:
        if sf.fmt == "csv":
            return read_csv_text(decode(sf.path, sf.name, encoding), known)
        if sf.fmt == "xlsx":
            return read_xlsx(sf.path, sf.dataset)
        return read_parquet(sf.path)
    except FileError as exc:
        message = str(exc)
        if message.startswith(f"file {sf.name} "):
            raise SourceError(message) from None
        raise _refuse(sf, message) from None


def read_source_file(
    sf: SourceFile,
    pseudonymiser: Pseudonymiser | None,
    never_store: set[str],
    encoding: str = "",
) -> ReadResult:
    """Read one file as text columns, with lineage and ``patient_key`` in place of ``patient_id``.

    The file-level contract is checked first, so a file that breaks it is
    refused before any of its rows is stored: every required column present
    (names folded to lower case, surrounding blanks ignored), no unnamed column
    that holds values, no name twice. Extra columns are kept when their name is
    plain text; columns of ``never_store`` are dropped. In a semicolon file, the
    numeric columns may use a decimal comma. ``encoding`` is the one declared
    for files that are not UTF-8 (empty: none).

    Without a pseudonymiser the identifiers are declared pseudonymous already
    and are kept, trimmed.
    """
    raw = _read_raw(sf, encoding)
    names = [fold_name(n) for n in raw.names]
    for i, (name, values) in enumerate(zip(names, raw.columns, strict=True)):
        if not name and pc.any(pc.not_equal(pc.utf8_trim(values, " \t"), "")).as_py():
            raise _refuse(sf, f"has a column without a name that holds values (column {i + 1})")
    # An empty column without a name holds nothing to keep.
    named = [(name, values) for name, values in zip(names, raw.columns, strict=True) if name]
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise _refuse(sf, "has two columns with the same name")
    missing = [c for c in REQUIRED_COLUMNS[sf.dataset] if c not in names]
    if missing:
        how = f" (read as {DELIMITER_NAMES[raw.delimiter]}-separated)" if raw.delimiter else ""
        raise _refuse(sf, f"lacks the required column(s) {', '.join(missing)}{how}")
    known = set(INPUT_COLUMNS[sf.dataset]) | {PATIENT_ID}
    dropped = [
        n for n in names if n in never_store or (n not in known and not _PLAIN_NAME.match(n))
    ]
    columns = {}
    for name, values in named:
        if name in dropped:
            continue
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        if raw.delimiter == ";" and name in NUMERIC_COLUMNS[sf.dataset]:
            values = pc.replace_substring_regex(values, _DECIMAL_COMMA, r"\1.\2")
        columns[name] = values
    table = pa.table(columns) if columns else pa.table({})
    n = len(raw.source_rows)
    table = _keyed(table, pseudonymiser)
    table = table.append_column("source_file", pa.array([sf.name] * n, pa.string()))
    table = table.append_column("source_row", raw.source_rows)
    return ReadResult(
        table=table,
        rows_read=raw.rows_read,
        malformed_rows=[row for row, _ in raw.malformed],
        malformed_reasons=[reason for _, reason in raw.malformed],
        dropped_columns=dropped,
        delimiter=raw.delimiter,
    )


def _keyed(table: pa.Table, pseudonymiser: Pseudonymiser | None) -> pa.Table:
    """``patient_key`` in place of ``patient_id`` (trimmed ids when already pseudonymous)."""
    if PATIENT_ID not in table.column_names:
        return table
    ids = table.column(PATIENT_ID)
    if pseudonymiser is None:
        trimmed = pc.utf8_trim_whitespace(ids)
        keys = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    else:
        keys = pseudonymiser.keys(ids)
    return table.drop_columns([PATIENT_ID]).append_column(PATIENT_KEY, keys)


def read_mapped(
    mapped: Mapped, pseudonymiser: Pseudonymiser | None, never_store: set[str]
) -> ReadResult:
    """An adapter's records as a contract file read: text columns, lineage, ``patient_key``.

    Every contract column is present (null where the source has none), values
    are text with empty text as null, ``source_file`` is the lineage key
    ``<file>#<dataset>``; extra columns follow the contract file rules.
    """
    if mapped.dataset not in DATASETS:
        raise SourceError(f"adapter output {mapped.key} names an unknown dataset")
    table = mapped.table
    if "source_row" not in table.column_names:
        raise SourceError(f"adapter output {mapped.key} has no source_row column")
    known = set(INPUT_COLUMNS[mapped.dataset]) | {PATIENT_ID}
    dropped = [
        n
        for n in table.column_names
        if n != "source_row" and (n in never_store or (n not in known and not _PLAIN_NAME.match(n)))
    ]
    columns: dict[str, pa.Array] = {}
    for name in (PATIENT_ID, *INPUT_COLUMNS[mapped.dataset]):
        if name in table.column_names:
            values = pc.cast(table.column(name), pa.string())
            columns[name] = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        else:
            columns[name] = pa.nulls(table.num_rows, pa.string())
    for name in table.column_names:
        if name not in columns and name != "source_row" and name not in dropped:
            columns[name] = pc.cast(table.column(name), pa.string())
    out = _keyed(pa.table(columns), pseudonymiser)
    out = out.append_column("source_file", pa.array([mapped.key] * table.num_rows, pa.string()))
    out = out.append_column("source_row", pc.cast(table.column("source_row"), pa.int64()))
    return ReadResult(
        table=out,
        rows_read=mapped.records,
        malformed_rows=[],
        malformed_reasons=[],
        dropped_columns=dropped,
    )


class Pseudonymiser:
    """Replaces source identifiers by ``patient_key`` = HMAC-SHA-256(secret, trimmed id).

    Computed in DuckDB SQL (two SHA-256 passes over the padded key), so a
    cohort of any size is keyed in one set-based pass; ``reference_key`` is
    the plain-Python HMAC the tests compare it with. An empty identifier
    stays empty (null), and is then quarantined as a missing required value.
    """

    KEY_HEX_CHARS = 20  # 80 bits: no collision in any realistic registry

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the pseudonymisation secret is empty")
        key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\0")
        self._secret = secret
        self._ipad = bytes(b ^ 0x36 for b in key)
        self._opad = bytes(b ^ 0x5C for b in key)
        self._con = duckdb.connect(":memory:")

    def keys(self, ids: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Keys in the order of ``ids``; each distinct identifier is hashed once."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        encoded = pc.dictionary_encode(ids)
        self._con.register("ids", pa.table({"id": encoded.dictionary}))
        result = self._con.sql(
            """
            SELECT CASE WHEN nullif(trim(id), '') IS NULL THEN NULL ELSE
                left(sha256($opad || unhex(sha256($ipad || encode(trim(id))))), $n) END AS k
            FROM ids
            """,
            params={"ipad": self._ipad, "opad": self._opad, "n": self.KEY_HEX_CHARS},
        ).to_arrow_table()
        self._con.unregister("ids")
        return pc.take(result.column("k").combine_chunks(), encoded.indices)

    def reference_key(self, identifier: str) -> str:
        mac = hmac.new(self._secret, identifier.strip().encode(), hashlib.sha256)
        return mac.hexdigest()[: self.KEY_HEX_CHARS]

    def fingerprint(self) -> str:
        """Names the key without revealing it: the HMAC of a fixed, public text.

        A warehouse records it, so a run with another key (whose patient_keys
        would not match the stored ones) is refused instead of mixing both.
        """
        return "hmac-sha256:" + self.reference_key("nelmtrack key check")
