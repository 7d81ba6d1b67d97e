"""Benchmark of FHIR ingestion against CSV ingestion of the same cohort (not a test).

Generates one cohort (same seed) in both forms, or reuses them, then reads each
form the way ``flows.stages.ingest`` does, up to the keyed contract tables the
raw layer stores: CSV through ``sources.read_source_file``, FHIR ndjson through
``sources.fhir.read`` and ``sources.read_mapped``. Each form is read in its own
child process, so each peak RSS is its own.

    python benchmarks/bench_fhir_ingest.py [--patients 100000] [--work DIR] [--reuse]

Prints one JSON line per form: {"form", "patients", "files", "bytes", "records",
"seconds", "cpu_seconds", "peak_rss_mb"} (CPU seconds of all threads: the machine
may be shared). A run of >= 10,000 patients goes through the shared
lock (``flock /work/bigrun.lock python benchmarks/bench_fhir_ingest.py …``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_form(form: str, folder: Path) -> dict:
    """Read every file of ``folder`` as ingestion does; the numbers of this process."""
    from config import load_config
    from sources import (
        Pseudonymiser,
        adapter_files,
        discover,
        read_mapped,
        read_source_file,
    )

    key = Pseudonymiser(b"benchmark key")
    start = time.perf_counter()
    cpu_start = _cpu()
    records = 0
    if form == "csv":
        files = discover(folder)
        for sf in files:
            records += read_source_file(sf, key, set()).rows_read
        paths = [sf.path for sf in files]
    else:
        params = load_config().section("fhir")
        paths = []
        for group in adapter_files(folder):
            paths += group.paths
            for mapped in group.adapter.read(group.paths, folder, params):
                records += read_mapped(mapped, key, set()).rows_read
    seconds = time.perf_counter() - start
    return {
        "form": form,
        "files": len(paths),
        "bytes": sum(p.stat().st_size for p in paths),
        "records": records,
        "seconds": round(seconds, 2),
        # CPU seconds of the process (all threads): the machine may be shared
        "cpu_seconds": round(_cpu() - cpu_start, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_fhir_ingest"))
    parser.add_argument("--reuse", action="store_true", help="read cohorts generated before")
    parser.add_argument("--child", nargs=2, metavar=("FORM", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(read_form(args.child[0], Path(args.child[1]))))
        return
    from demo_cohort import generate

    for form in ("csv", "fhir"):
        folder = args.work / form
        if not args.reuse:
            start = time.perf_counter()
            generate(folder, patients=args.patients, seed=args.seed, fmt=form)
            print(f"generated {form} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--child", form, str(folder)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps({"patients": args.patients, **result}), flush=True)


if __name__ == "__main__":
    main()
