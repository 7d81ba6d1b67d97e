"""Benchmark of the response stage (not a test).

Generates a cohort of N patients, ingests and stages it into a scratch
warehouse (not timed), then times the response stage — RECIST 1.1 and mRECIST
timepoints over the course and after each session, and best responses — and
compares it with a floor: one DuckDB query that only sums target diameters
per patient and study over the same, already loaded data.

    python benchmarks/bench_responses.py [--patients 100000] [--keep DIR]

The last line printed is one JSON object:
{"patients", "seconds", "floor_seconds", "ratio", "peak_rss_mb"}.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import load_config  # noqa: E402
from demo_cohort import generate  # noqa: E402
from flows import stages  # noqa: E402
from flows.pipeline import DEMO_PSEUDONYM_KEY  # noqa: E402
from sources import Pseudonymiser  # noqa: E402
from warehouse import start_build  # noqa: E402

FLOOR_SQL = """
SELECT patient_key, study_date,
       sum(coalesce(CASE WHEN is_nodal THEN short_axis_mm ELSE longest_diameter_mm END, 0)) AS s
FROM lesion_measurements WHERE role = 'target'
GROUP BY patient_key, study_date
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the generated cohort and warehouse here")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="nelmtrack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "source"
    try:
        t0 = time.perf_counter()
        if not source.exists():
            generate(source, patients=args.patients, seed=args.seed)
        print(
            f"generated {args.patients} patients in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        cfg = load_config()
        build = start_build(work / "bench.duckdb", "bench", full_refresh=True)
        ctx = stages.RunContext(
            build=build,
            cfg=cfg,
            source_dir=source,
            pseudonymiser=Pseudonymiser(DEMO_PSEUDONYM_KEY),
        )
        t0 = time.perf_counter()
        stages.ingest(ctx)
        stages.stage(ctx)
        print(f"ingested and staged in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        lesions = build.con.execute("SELECT count(*) FROM lesion_measurements").fetchall()[0][0]
        print(f"{lesions:,} lesion rows", file=sys.stderr)

        t0 = time.perf_counter()
        build.con.sql(FLOOR_SQL).fetchall()
        floor = time.perf_counter() - t0

        t0 = time.perf_counter()
        stages.responses(ctx)
        seconds = time.perf_counter() - t0
        build.abort()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "patients": args.patients,
                "seconds": round(seconds, 2),
                "floor_seconds": round(floor, 3),
                "ratio": round(seconds / floor, 1) if floor else None,
                "peak_rss_mb": round(peak_mb),
            }
        )
    )


if __name__ == "__main__":
    main()
