"""Benchmark of the outcome report (not a test): time, peak memory and size.

Renders the cohort report of a published warehouse, as ``nelmtrack report``
does, and prints one JSON line: {"patients", "seconds" (wall), "cpu_seconds"
(this process: on a shared, loaded machine the wall time mostly measures the
others), "peak_rss_mb", "report_mb", "figures"}. Issue 10's aims for the 100,000-patient generated
cohort: <= 60 s and a report < 20 MB.

    flock /work/bigrun.lock python benchmarks/bench_report.py --db WAREHOUSE [--out DIR]
        [--scratch DIR [--prepare-only]]

The warehouse is opened read-only. A warehouse built before the `survival`
table existed (an older run) is first copied to a scratch folder and given
its survival table from its own tables, with the same transform a run uses
(``transforms.survival``; not timed), so older large warehouses can be reused.
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

import duckdb  # noqa: E402

from config import load_config  # noqa: E402
from report import write_report  # noqa: E402
from warehouse import open_read_only  # noqa: E402


def with_survival(db: Path, scratch: Path) -> Path:
    """``db`` itself when it has survival rows, else a scratch copy given them."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        has = (
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'survival'"
            ).fetchone()[0]
            and con.execute("SELECT count(*) FROM survival").fetchone()[0]
        )
    finally:
        con.close()
    if has:
        return db
    from transforms.survival import INPUTS, compute_survival
    from warehouse import DDL_DIR

    copy = scratch / db.name
    shutil.copyfile(db, copy)
    con = duckdb.connect(str(copy))
    try:
        tables = {name: con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in INPUTS}
        rows = compute_survival(tables, load_config().section("report"))  # noqa: F841
        con.execute((DDL_DIR / "50_survival.sql").read_text())
        con.execute("INSERT INTO survival BY NAME SELECT *, 'bench' AS run_id FROM rows")
    finally:
        con.close()
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="keep the report here")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="keep the copy given a survival table here (reuse it with --db next time)",
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="only make that copy (not timed)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        scratch = args.scratch or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        db = with_survival(args.db.resolve(), scratch)
        if args.prepare_only:
            print(db)
            return
        out = args.out or Path(tmp) / "report"
        cfg = load_config()
        con = open_read_only(db)
        try:
            patients = con.execute("SELECT count(*) FROM patients").fetchone()[0]
            start, cpu = time.perf_counter(), time.process_time()
            index = write_report(con, cfg, out, "bench")
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
        finally:
            con.close()
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        text = index.read_text(encoding="utf-8")
        print(
            json.dumps(
                {
                    "patients": patients,
                    "seconds": round(seconds, 1),
                    "cpu_seconds": round(cpu, 1),
                    "peak_rss_mb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                    ),
                    "report_mb": round(size / 1e6, 2),
                    "figures": text.count('<figure class="fig"'),
                }
            )
        )


if __name__ == "__main__":
    main()
