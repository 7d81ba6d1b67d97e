"""Benchmark of the survival mart and the report statistics (not a test).

Reads the input tables of ``survival`` from a published warehouse (a demo run),
replicates every patient ``--copies`` times under new keys (so 300 demo
patients x 334 = 100,200), then times ``compute_survival`` over all of them and
the statistics a report draws from it: Kaplan–Meier by first modality, the
log-rank test across modalities, the median follow-up, and a Cox model of OS on
the first session's NLR flag and the pancreatic primary.

    python benchmarks/bench_survival.py --db nelmtrack-demo/nelmtrack.duckdb [--copies 334]

Prints one JSON line: {"patients", "survival_seconds", "statistics_seconds",
"peak_rss_mb"}.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from config import load_config  # noqa: E402
from report.stats import cox_ph, kaplan_meier, logrank, median_follow_up  # noqa: E402
from transforms.survival import INPUTS, compute_survival  # noqa: E402


def replicated(db: Path, copies: int) -> dict:
    """Each input table with every row repeated ``copies`` times under new patient keys."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            name: con.sql(
                f"SELECT * REPLACE (patient_key || '-' || i::VARCHAR AS patient_key) "
                f"FROM {name}, range({copies}) AS r(i)"
            ).to_arrow_table()
            for name in INPUTS
        }
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=334)
    args = parser.parse_args()
    tables = replicated(args.db, args.copies)
    started = time.perf_counter()
    survival = compute_survival(tables, load_config().section("report"))
    survival_seconds = time.perf_counter() - started
    frame = survival.to_pandas()
    started = time.perf_counter()
    for _, group in frame.groupby("first_modality"):
        kaplan_meier(group.os_days, group.os_event)
    logrank(frame.os_days, frame.os_event, frame.first_modality)
    median_follow_up(frame.os_days, frame.os_event)
    cox_ph(frame, "os_days", "os_event", ["nlr_elevated_pre_first", "pancreatic_primary"])
    statistics_seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "patients": survival.num_rows,
                "survival_seconds": round(survival_seconds, 2),
                "statistics_seconds": round(statistics_seconds, 2),
                "peak_rss_mb": round(peak),
            }
        )
    )


if __name__ == "__main__":
    main()
