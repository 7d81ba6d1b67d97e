"""The source folder of a run: find dataset files, hash them, read them as text.

This is the only place that sees raw patient identifiers. A file is read with
every column as text (the staging transforms do all typing, so a bad value
becomes a quarantine row instead of a crash), column names are folded to
lower case, and ``patient_id`` is replaced by ``patient_key`` before the
table leaves this module.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DATASETS: tuple[str, ...] = ("patients", "sessions", "imaging", "lesions", "labs")
# Columns of every input dataset besides patient_id (../shared/contract/inputs.md).
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": (
        "sex",
        "birth_year",
        "primary_site",
        "ki67_pct",
        "who_grade",
        "functional",
        "bilioenteric_anastomosis",
        "prior_whipple",
        "death_date",
        "last_contact_date",
    ),
    "sessions": (
        "session_date",
        "modality",
        "treated_territory",
        "session_id",
        "agent",
        "microsphere",
        "activity_gbq",
        "prior_systemic_lines",
        "lvef_pct",
    ),
    "imaging": (
        "study_date",
        "modality",
        "extrahepatic_disease",
        "ascites",
        "liver_tumor_burden_pct",
        "portal_vein_occlusion",
    ),
    "lesions": (
        "study_date",
        "lesion_id",
        "role",
        "organ",
        "liver_segment",
        "status",
        "longest_diameter_mm",
        "short_axis_mm",
        "viable_diameter_mm",
        "viable_perpendicular_mm",
        "attenuation_hu",
    ),
    "labs": ("collected_at", "test", "value", "unit"),
}

_FILE_RE = re.compile(
    r"^(?P<dataset>" + "|".join(DATASETS) + r")(?:_[^/]*)?\.(?P<fmt>csv|parquet)$", re.IGNORECASE
)


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
    """The rows of one file as text, plus the lines that could not be split into columns."""

    table: pa.Table
    malformed_rows: list[int]
    dropped_columns: list[str]


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
    if not found:
        raise SourceError(
            f"source folder {root} holds no known dataset file "
            f"(expected {', '.join(d + '*.csv|parquet' for d in DATASETS)})"
        )
    return sorted(found, key=lambda f: (DATASETS.index(f.dataset), f.name))


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


def _normalise_names(names: list[str]) -> list[str]:
    return [n.strip().lstrip("\ufeff").strip().lower() for n in names]


def _read_csv(path: Path) -> tuple[pa.Table, list[int]]:
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(io.StringIO(fh.readline())), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"file {path.name} cannot be read as UTF-8 CSV") from exc
    if not header:
        raise SourceError(f"file {path.name} has no header line")
    # Multi-threaded first; only a file with a malformed line is read again on
    # one thread, where pyarrow can tell which line it was.
    table, bad_lines = _parse_csv(path, header, threads=True)
    if bad_lines:
        table, bad_lines = _parse_csv(path, header, threads=False)
    # Physical line numbers (header = line 1) → data row numbers.
    return table, [n - 1 for n in bad_lines if n is not None]


def _parse_csv(path: Path, header: list[str], threads: bool) -> tuple[pa.Table, list[int | None]]:
    bad_lines: list[int | None] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_lines.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"file {path.name} is not a readable CSV file") from exc
    return table, bad_lines


def _read_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"file {path.name} is not a readable Parquet file") from exc
    columns = []
    for col in table.columns:
        # Arrow prints floats as their shortest round-trip text and dates as ISO.
        columns.append(pc.cast(col, pa.string()))
    return pa.table(columns, names=table.column_names)


def read_source_file(
    sf: SourceFile, pseudonymiser: Pseudonymiser | None, never_store: set[str]
) -> ReadResult:
    """Read one file as text columns, with lineage and ``patient_key`` in place of ``patient_id``.

    Without a pseudonymiser the identifiers are declared pseudonymous already
    and are kept, trimmed.
    """
    if sf.fmt == "csv":
        table, malformed = _read_csv(sf.path)
    else:
        table, malformed = _read_parquet(sf.path), []
    names = _normalise_names(table.column_names)
    if len(set(names)) != len(names):
        raise SourceError(f"file {sf.name} has two columns with the same name")
    table = table.rename_columns(names)
    dropped = [n for n in names if n in never_store]
    if dropped:
        table = table.drop_columns(dropped)
    rows = np.arange(1, table.num_rows + len(malformed) + 1, dtype=np.int64)
    if malformed:
        rows = np.setdiff1d(rows, np.asarray(malformed, dtype=np.int64), assume_unique=True)
    if "patient_id" in table.column_names:
        ids = table.column("patient_id")
        if pseudonymiser is None:
            trimmed = pc.utf8_trim_whitespace(ids)
            keys = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        else:
            keys = pseudonymiser.keys(ids)
        table = table.drop_columns(["patient_id"]).append_column("patient_key", keys)
    else:
        table = table.append_column("patient_key", pa.nulls(table.num_rows, pa.string()))
    table = table.append_column("source_file", pa.array([sf.name] * table.num_rows, pa.string()))
    table = table.append_column("source_row", pa.array(rows, pa.int64()))
    return ReadResult(table=table, malformed_rows=malformed, dropped_columns=dropped)


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
