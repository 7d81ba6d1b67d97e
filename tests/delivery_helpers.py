"""Shared by the delivery tests: a run's ingest and staging, in process and without Prefect.

The ingest contract (what is read, refused, quarantined) is decided by the
ingest and stage stages; the later stages (responses, labs, data quality,
about 20 s for a small cohort on a busy machine) do not change it. These
helpers run the two stages on a build of the warehouse exactly as
``flows.pipeline.run_pipeline`` does, then publish the build or throw it away.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from config import load_config
from contract import FACT_TABLES
from flows import stages
from sources import Pseudonymiser
from warehouse import ledger, start_build

TEST_KEY = b"test-only delivery key"
KEYS = Pseudonymiser(TEST_KEY)


@dataclass
class Outcome:
    report: stages.IngestReport
    counts: dict[str, dict[str, int]]
    quarantine: list[dict]
    raw_columns: dict[str, list[str]]
    file_counts: dict[str, tuple[int, int, int]]  # file: read, loaded, quarantined


def ingest_and_stage(
    source: Path,
    db: Path,
    *,
    publish: bool = False,
    accept_shrink: bool = False,
    prune: bool = False,
    config_file: Path | None = None,
) -> Outcome:
    """Ingest and stage ``source`` into a build of ``db``; publish it, or leave ``db`` as it was."""
    cfg = load_config(config_file)
    build = start_build(db, stages.new_run_id())
    try:
        ctx = stages.RunContext(
            build=build,
            cfg=cfg,
            source_dir=source,
            pseudonymiser=KEYS,
            prune=prune,
            accept_shrink=accept_shrink,
        )
        report = stages.ingest(ctx)
        stages.stage(ctx)
        con = build.con
        raw_columns = {
            table: [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            for (table,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
            ).fetchall()
        }
        facts = " UNION ALL ".join(f"SELECT source_file FROM {t}" for t in FACT_TABLES.values())
        file_counts = {
            path: (int(read), int(loaded), int(quarantined))
            for path, read, loaded, quarantined in con.execute(
                f"""
                SELECT f.path, f.rows,
                    (SELECT count(*) FROM ({facts}) x WHERE x.source_file = f.path),
                    (SELECT {ledger.REMOVED_ROWS} FROM quarantine q WHERE q.source_file = f.path)
                FROM meta.source_files f
                """
            ).fetchall()
        }
        outcome = Outcome(
            report=report,
            counts=ledger.dataset_counts(build.con),
            quarantine=rows(con, "SELECT * FROM quarantine ORDER BY ALL"),
            raw_columns=raw_columns,
            file_counts=file_counts,
        )
        if publish:
            stages.record_run(ctx, report, "succeeded")
            build.publish()
        else:
            build.abort()
        return outcome
    except BaseException:
        build.abort()
        raise


def rows(con, sql: str) -> list[dict]:  # noqa: ANN001 (a duckdb connection)
    return con.sql(sql).to_arrow_table().to_pylist()


def records_in(data: bytes) -> int:
    """Records of a CSV file as the contract counts them: non-blank lines after the header."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = re.split(rb"\r\n|\r|\n", data)
    return sum(1 for line in lines[1:] if line.strip(b" \t"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
