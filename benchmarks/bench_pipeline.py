"""Benchmark of the whole pipeline (not a test).

Generates a cohort of N patients (or reuses the one cached for N and the seed),
runs the Prefect flow of ``nelmtrack run`` on a new warehouse in this process,
then runs it again on the unchanged source. Both talk to ``PREFECT_API_URL``
when it is set, else to a temporary local server started here (its start-up is
timed apart, as ``prefect_server_start_seconds``).

    python benchmarks/bench_pipeline.py --patients 2000 [--shards 4] [--seed 7]
        [--cache DIR] [--local-dask] [--cli] [--profile FILE]

``--local-dask`` starts a two-worker ``dask.distributed.LocalCluster`` (worker
processes) and runs the shards on it through ``--dask-address``; its start-up
is timed apart (``dask_cluster_start_seconds``). ``--cli`` also times
``nelmtrack run`` as a new process (imports included), first run and unchanged
rerun, as a user sees them. ``--profile FILE`` writes a cProfile of the first
run and prints its top functions to stderr.

The last line printed is one JSON object: wall seconds per stage of the first
run (``stage_seconds``) and their peak RSS (``stage_peak_rss_mb``), the first
run and the unchanged rerun, the response, lab and survival parts of the
derive stage (summed over shards), the floor of
``bench_responses.py`` (one DuckDB query summing target diameters, on the
published warehouse) and the response part's ratio to it, and the peak RSS
(ru_maxrss of this process, and of its waited-for children).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Each stage's peak RSS in the run summary (flows.pipeline.StageMeter).
os.environ["NELMTRACK_STAGE_PEAKS"] = "1"

from bench_responses import floor_seconds  # noqa: E402

BENCH_KEY = "benchmark-only pseudonymisation key"


def cohort(cache: Path, patients: int, seed: int) -> Path:
    """The generated source folder for ``patients`` and ``seed``, generated once."""
    from demo_cohort import generate

    folder = cache / f"patients={patients},seed={seed}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        generate(folder, patients=patients, seed=seed)
        shutil.rmtree(folder / "_generator", ignore_errors=True)
        (folder / ".complete").touch()
        print(f"generated {patients} patients in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return folder


@contextlib.contextmanager
def prefect_api(result: dict[str, Any]) -> Iterator[None]:
    """``PREFECT_API_URL`` if set, else a temporary local server for the benchmark's runs."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.serve import start_local_server, stop_server

    t0 = time.perf_counter()
    server = start_local_server(600, temporary=True)
    result["prefect_server_start_seconds"] = round(time.perf_counter() - t0, 2)
    os.environ["PREFECT_API_URL"] = server.api_url  # for child processes (CLI, Dask workers)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop_server(server)


@contextlib.contextmanager
def local_dask(result: dict[str, Any]) -> Iterator[str]:
    """A two-worker LocalCluster (one process each); yields its scheduler address."""
    from distributed import LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    result["dask_cluster_start_seconds"] = round(time.perf_counter() - t0, 2)
    try:
        yield cluster.scheduler_address
    finally:
        t0 = time.perf_counter()
        cluster.close()
        result["dask_cluster_stop_seconds"] = round(time.perf_counter() - t0, 2)


def timed_cli(source: Path, db: Path, shards: int) -> float:
    """Wall seconds of ``nelmtrack run`` as a new process."""
    env = {**os.environ, "NELMTRACK_PSEUDONYM_KEY": BENCH_KEY, "PYTHONPATH": str(REPO)}
    env.pop("NELMTRACK_STAGE_PEAKS")  # the child's whole-run peak is peak_rss_children_mb
    command = [sys.executable, "-m", "flows.cli", "run", "--source", str(source), "--db", str(db)]
    t0 = time.perf_counter()
    subprocess.run([*command, "--shards", str(shards)], env=env, check=True, capture_output=True)
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "nelmtrack-bench-cohorts",
        help="where generated cohorts are kept for the next run",
    )
    parser.add_argument("--local-dask", action="store_true")
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()

    os.environ["NELMTRACK_PSEUDONYM_KEY"] = BENCH_KEY
    # Each stage's figures as it ends (flows.pipeline.STAGE_LOG), so a run that fails late
    # still shows those of the stages it finished.
    stage_log = logging.getLogger("nelmtrack.stages")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    stage_log.addHandler(handler)
    stage_log.setLevel(logging.INFO)
    stage_log.propagate = False  # not again through the console handler Prefect sets up
    args.cache.mkdir(parents=True, exist_ok=True)
    source = cohort(args.cache, args.patients, args.seed)
    work = Path(tempfile.mkdtemp(prefix="nelmtrack-bench-pipeline-"))
    result: dict[str, Any] = {
        "patients": args.patients,
        "shards": args.shards,
        "runner": "dask-local" if args.local_dask else "threads",
    }
    try:
        with prefect_api(result), contextlib.ExitStack() as stack:
            address = stack.enter_context(local_dask(result)) if args.local_dask else ""
            from flows.pipeline import run_flow

            db = work / "bench.duckdb"
            params = {"source": str(source), "db": str(db), "shards": args.shards}
            params["dask_address"] = address
            profile = cProfile.Profile() if args.profile else None
            t0 = time.perf_counter()
            if profile:
                profile.enable()
            first = run_flow(**params)
            if profile:
                profile.disable()
            result["first_run_seconds"] = round(time.perf_counter() - t0, 2)
            result["stage_seconds"] = first.stage_seconds
            result["stage_peak_rss_mb"] = first.stage_peak_rss_mb
            t0 = time.perf_counter()
            rerun = run_flow(**params)
            result["unchanged_rerun_seconds"] = round(time.perf_counter() - t0, 2)
            assert not rerun.recomputed
            parts = first.derive_seconds
            for part in ("responses", "labs", "survival"):
                result[f"{part}_seconds"] = round(parts[part], 2)
            if args.cli:
                cli_db = work / "cli.duckdb"
                result["cli_first_run_seconds"] = timed_cli(source, cli_db, args.shards)
                result["cli_unchanged_rerun_seconds"] = timed_cli(source, cli_db, args.shards)
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            floor_seconds(con)  # the first reads the file; the floor is the warm query
            floor = floor_seconds(con)
        finally:
            con.close()
        result["floor_seconds"] = round(floor, 3)
        result["response_ratio"] = round(parts["responses"] / floor, 1) if floor else None
        if profile:
            profile.dump_stats(args.profile)
            stats = pstats.Stats(profile, stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(40)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # The run resets the high-water mark at each stage (flows.pipeline.StageMeter), so the
    # process's peak is the largest of the stages' peaks and of what getrusage saw since.
    result["peak_rss_mb"] = max(
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        *result.get("stage_peak_rss_mb", {}).values(),
    )
    result["peak_rss_children_mb"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
