"""Write a deterministic synthetic source folder (input contract) in chunks of patients.

Each chunk gets its own random stream derived from (seed, chunk number), so the
same arguments always give the same bytes, and memory stays bounded by the
chunk size whatever the cohort size. Every chunk writes one file per dataset
(``<dataset>_part001.csv`` …) and the spoiled rows it injected go to
``_generator/spoiled_rows.csv`` (dataset, source_file, source_row, column_name,
reason_code, action), which is the answer key for ingestion tests: the
quarantine holds exactly these rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from contract import DATASETS, REQUIRED_VALUES, Action
from demo_cohort.fhir import file_name as fhir_file_name
from demo_cohort.model import build_chunk
from demo_cohort.spoil import SpoiledFrame, spoil

GENERATOR_DIR = "_generator"
SPOIL_LOG = f"{GENERATOR_DIR}/spoiled_rows.csv"
FORMATS = ("csv", "parquet", "fhir")
ID_STYLES = ("study", "mrn")
WRITE_SLICE_ROWS = 500_000


@dataclass(frozen=True)
class GenerationSummary:
    """What a run wrote: rows per dataset (spoiled rows included), spoiled rows per reason."""

    out_dir: Path
    patients: int
    seed: int
    rows: dict[str, int]
    spoiled: dict[str, int]
    files: list[str] = field(default_factory=list)  # relative to out_dir

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_spoiled(self) -> int:
        return sum(self.spoiled.values())


def _action(dataset: str, column: str | None) -> str:
    """What the ingestion does with a spoiled row: a bad optional value is nulled.

    The generator spoils a conditionally required column (a diameter) only
    where it is required, so the column alone decides.
    """
    if column is None or column in REQUIRED_VALUES[dataset]:
        return Action.ROW_REJECTED.value
    return Action.VALUE_NULLED.value


def _write(result: SpoiledFrame, path: Path, fmt: str, dataset: str = "") -> None:
    """Write the rows in file order, a slice at a time (bounded memory, deterministic bytes)."""
    table = result.table
    if fmt == "fhir":
        from config import load_config
        from demo_cohort.fhir import write_ndjson

        slices = (
            table.take(pa.array(result.file_order[start : start + WRITE_SLICE_ROWS]))
            for start in range(0, len(result.file_order), WRITE_SLICE_ROWS)
        )
        cfg = load_config()
        sections = {s: cfg.section(s) for s in ("fhir", "ingest", "labs")}
        write_ndjson(dataset, list(slices), path, sections)
        return
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, table.schema)
    else:
        # Quote only when some value needs it (e.g. segment lists "5,6,7,8"): plain files
        # are smaller and look like real exports.
        needs_quotes = any(
            pc.any(pc.match_substring_regex(col, r'[,"\r\n]')).as_py() for col in table.columns
        )
        options = pacsv.WriteOptions(
            quoting_style="needed" if needs_quotes else "none", quoting_header="none"
        )
        writer = pacsv.CSVWriter(path, table.schema, write_options=options)
    with writer:
        for start in range(0, len(result.file_order), WRITE_SLICE_ROWS):
            rows = result.file_order[start : start + WRITE_SLICE_ROWS]
            writer.write_table(table.take(pa.array(rows)))


def _remove_previous_output(out_dir: Path) -> None:
    """Delete files an earlier run of the generator left (a folder must hold one cohort)."""
    for dataset in DATASETS:
        for old in out_dir.glob(f"{dataset}_part*.*"):
            if old.suffix in (".csv", ".parquet"):
                old.unlink()
    for old in out_dir.glob("*_part*.ndjson"):
        old.unlink()
    (out_dir / SPOIL_LOG).unlink(missing_ok=True)


def generate(
    out_dir: Path,
    patients: int = 200,
    seed: int = 42,
    fmt: str = "csv",
    id_style: str = "study",
    chunk_patients: int = 20_000,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationSummary:
    """Write a synthetic source folder of ``patients`` patients into ``out_dir``.

    ``fmt`` is "csv", "parquet" (all columns text) or "fhir" (FHIR R4 ndjson,
    one resource per row: ``demo_cohort.fhir``); ``id_style`` "study"
    gives ids like NELM-000123, "mrn" 8-digit MRN-like numbers. ``progress`` is
    called with (patients done, patients total) after every chunk.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if id_style not in ID_STYLES:
        raise ValueError(f"id_style must be one of {ID_STYLES}, not {id_style!r}")
    if patients < 1 or chunk_patients < 1:
        raise ValueError("patients and chunk_patients must be at least 1")
    out_dir = Path(out_dir)
    (out_dir / GENERATOR_DIR).mkdir(parents=True, exist_ok=True)
    _remove_previous_output(out_dir)

    rows: Counter[str] = Counter()
    spoiled: Counter[str] = Counter()
    files: list[str] = []
    log_parts: list[pa.Table] = []
    sessions_so_far = 0
    n_chunks = -(-patients // chunk_patients)
    for chunk in range(n_chunks):
        first = chunk * chunk_patients
        n = min(chunk_patients, patients - first)
        model_seed, spoil_seed = np.random.SeedSequence([seed, chunk]).spawn(2)
        frames = build_chunk(
            np.random.default_rng(model_seed), first, n, seed, id_style, sessions_so_far + 1
        )
        sessions_so_far += frames["sessions"].n_rows
        spoil_rng = np.random.default_rng(spoil_seed)
        for dataset in DATASETS:
            result = spoil(dataset, frames.pop(dataset), spoil_rng)
            if fmt == "fhir":
                name = fhir_file_name(dataset, chunk + 1)
            else:
                name = f"{dataset}_part{chunk + 1:03d}.{fmt}"
            _write(result, out_dir / name, fmt, dataset)
            files.append(name)
            rows[dataset] += result.table.num_rows
            spoiled.update(result.spoiled_reasons.tolist())
            k = len(result.spoiled_rows)
            log_parts.append(
                pa.table(
                    {
                        "dataset": pa.array([dataset] * k, pa.string()),
                        "source_file": pa.array([name] * k, pa.string()),
                        "source_row": pa.array(result.spoiled_rows + 1, pa.int64()),
                        "column_name": pa.array(result.spoiled_columns.tolist(), pa.string()),
                        "reason_code": pa.array(result.spoiled_reasons.tolist(), pa.string()),
                        "action": pa.array(
                            [_action(dataset, c) for c in result.spoiled_columns], pa.string()
                        ),
                    }
                )
            )
            del result
            # Arrow's allocator keeps freed blocks for reuse; hand them back between
            # datasets so the peak stays that of the largest single dataset.
            pa.default_memory_pool().release_unused()
        if progress is not None:
            progress(first + n, patients)

    pacsv.write_csv(
        pa.concat_tables(log_parts),
        out_dir / SPOIL_LOG,
        pacsv.WriteOptions(quoting_style="none", quoting_header="none"),
    )
    files.append(SPOIL_LOG)
    return GenerationSummary(
        out_dir=out_dir,
        patients=patients,
        seed=seed,
        rows={d: rows[d] for d in DATASETS},
        spoiled=dict(sorted(spoiled.items())),
        files=files,
    )
