"""The seam between standard-format source files (CDISC SDTM, HL7 FHIR R4) and ingestion.

An adapter is a module (``sources.sdtm``, ``sources.fhir``) with:

- ``VERSION``: bumped when its code maps the same files differently;
- ``NAME``: its name, also the config section whose values it receives
  (``[sdtm]`` in config/sdtm.toml; no section: an empty mapping);
- ``claims(path: Path) -> bool``: whether it reads this file of the source
  folder (a file the input contract names, ``labs_*.csv`` etc., is never
  offered to an adapter);
- ``read(paths: list[Path], root: Path, params: Mapping) -> list[Mapped]``:
  all the files it claimed, at once (SDTM joins TU with TR, FHIR resolves
  references across files), mapped onto the contract datasets.

Each ``Mapped`` is one contract dataset's records from one original file, so
ingestion treats it like a contract file read: pseudonymisation, the raw layer,
quarantine, lineage, incremental runs, the shrink guard and data quality are
shared (``flows.stages.ingest``).

**Lineage key.** A file may yield several datasets (SDTM TR gives lesions and
imaging studies; a FHIR Observation file gives labs and tumour sizes), and the
warehouse keys every source row by (source_file, source_row). The key of a
Mapped in ``meta.source_files`` and in every ``source_file`` column is
therefore always ``<file name relative to the folder>#<dataset>``, for example
``tr.xpt#lesions`` and ``tr.xpt#imaging``, even when the file yields one
dataset (so a key never changes when a mapping starts to yield a second one).
The part before ``#`` is the original file; ``source_row`` is the row of that
file (1-based data row of a CSV, XPT or Parquet file) or the line of an ndjson
file. A contract file name never holds ``#``.

**Counts.** ``rows_read`` of a Mapped is the number of contract records it
stands for: its table's rows plus its rejected records (default), so the run's
"read = loaded + quarantined" balance holds per dataset. A contract record
built from several source records (a lesion at one study from its LDIAM,
LPERP and TUMSTATE rows) takes the smallest of their rows.

**Change detection.** The fingerprint of every Mapped an adapter returns is one
sha256 over the content hashes of all the files it claimed and its config
values: when none of them changed since the last run, the adapter is not run
and its datasets count as unchanged; otherwise every Mapped is stored anew and
the row-level comparison of ``flows.stages`` finds the patients that changed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pyarrow as pa

#: Adapter modules, in claiming order (the first that claims a file reads it).
ADAPTER_MODULES: tuple[str, ...] = ("sources.sdtm", "sources.fhir")
#: Separates the original file from the dataset in a lineage key.
KEY_SEPARATOR = "#"

REJECTED_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("reason_code", pa.string()),
        ("column_name", pa.string()),
        ("reason", pa.string()),
    ]
)


def no_rejections() -> pa.Table:
    return REJECTED_SCHEMA.empty_table()


@dataclass(frozen=True)
class Mapped:
    """One contract dataset's records mapped from one original file.

    ``table``: text columns named as the CSV contract (``patient_id`` included;
    a contract column the source cannot give may be absent or null) plus
    ``source_row`` (int64). ``rejected``: the source records that cannot be
    mapped (REJECTED_SCHEMA: source_row, reason_code such as
    ``unmapped_test_code`` or ``no_subject``, column_name or null, a reason
    that names the column and the rule, never a value); each becomes a
    quarantine row with action ``row_rejected``.
    """

    dataset: str
    name: str
    table: pa.Table
    rows_read: int | None = None
    rejected: pa.Table = field(default_factory=no_rejections)

    @property
    def key(self) -> str:
        """The lineage key: ``<file>#<dataset>`` (see the module docstring)."""
        return f"{self.name}{KEY_SEPARATOR}{self.dataset}"

    @property
    def records(self) -> int:
        """Contract records this Mapped stands for (the "read" of the run's balance)."""
        if self.rows_read is not None:
            return self.rows_read
        rejected_rows = len(set(self.rejected.column("source_row").to_pylist()))
        return self.table.num_rows + rejected_rows


def original_file(key: str) -> str:
    """The source file a lineage key names (the key itself for a contract file)."""
    return key.split(KEY_SEPARATOR, 1)[0]


def adapters() -> list[ModuleType]:
    """The adapter modules present in this installation, in claiming order."""
    found = []
    for name in ADAPTER_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


@dataclass(frozen=True)
class AdapterFiles:
    """The files of the source folder one adapter reads, and their joint fingerprint."""

    adapter: ModuleType
    paths: list[Path]

    @property
    def name(self) -> str:
        return str(self.adapter.NAME)


def claimed(root: Path, candidates: list[Path]) -> list[AdapterFiles]:
    """Which adapter reads which of ``candidates`` (files no contract pattern matched)."""
    taken: set[Path] = set()
    out = []
    for adapter in adapters():
        paths = [p for p in sorted(candidates) if p not in taken and adapter.claims(p)]
        if paths:
            taken.update(paths)
            out.append(AdapterFiles(adapter=adapter, paths=paths))
    return out


def fingerprint(root: Path, group: AdapterFiles, params: Mapping, file_sha: dict[Path, str]) -> str:
    """One sha256 over the adapter's name and VERSION, its files' names and hashes, its config.

    An adapter bumps its ``VERSION`` when a change of its code changes what it
    maps, so that the next run maps the unchanged files again.
    """
    digest = hashlib.sha256(f"{group.name}\0{getattr(group.adapter, 'VERSION', '')}".encode())
    for path in group.paths:
        digest.update(f"\0{path.relative_to(root).as_posix()}\0{file_sha[path]}".encode())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    return "adapter:" + digest.hexdigest()
