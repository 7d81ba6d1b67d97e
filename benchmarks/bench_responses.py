"""Benchmark of the response stage (not a test).

Generates a cohort of N patients, ingests and stages it into a scratch
warehouse (not timed), then times the response stage — timepoints over the
course and after each session, and best responses — under each setting of
``response.criteria``: the default two (RECIST 1.1, mRECIST), then all four
(with EASL and Choi). Each is compared with a floor: one DuckDB query that only
sums target diameters per patient and study over the same, already loaded data.

    python benchmarks/bench_responses.py [--patients 100000] [--keep DIR] [--source DIR]
                                         [--settings two four]

``--source DIR`` reuses a cohort generated before (``nelmtrack generate``)
instead of generating one; ``patients`` then counts its patients. The time of
each phase of the response stage goes to stderr. One JSON line per setting is
printed: {"criteria", "patients", "seconds", "floor_seconds", "ratio",
"peak_rss_mb"} (the peak of the process so far), then, with both settings, one
line {"four_vs_two": seconds of four / seconds of two}.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import transforms.derive  # noqa: E402
from config import load_config  # noqa: E402
from config.params import EngineSettings  # noqa: E402
from demo_cohort import generate  # noqa: E402
from flows import stages  # noqa: E402
from flows.pipeline import DEMO_PSEUDONYM_KEY  # noqa: E402
from sources import Pseudonymiser  # noqa: E402
from warehouse import start_build  # noqa: E402

#: The settings of response.criteria the benchmark can time.
SETTINGS = {
    "two": ["RECIST1.1", "mRECIST"],
    "four": ["RECIST1.1", "mRECIST", "EASL", "Choi"],
}

FLOOR_SQL = """
SELECT patient_key, study_date,
       sum(coalesce(CASE WHEN is_nodal THEN short_axis_mm ELSE longest_diameter_mm END, 0)) AS s
FROM lesion_measurements WHERE role = 'target'
GROUP BY patient_key, study_date
"""


def floor_seconds(con: Any) -> float:
    """Seconds of the floor query (``FLOOR_SQL``) on a connection holding lesion_measurements."""
    t0 = time.perf_counter()
    con.sql(FLOOR_SQL).fetchall()
    return time.perf_counter() - t0


def _timed(phases: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, adding the seconds each call takes to ``phases[name]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

    return wrapper


def _time_phases(phases: dict[str, float], build: Any) -> None:
    """Time the transforms the response stage calls and its writes to the build."""
    # The stage runs the response models inside the build (transforms.derive), then
    # moves the marts into the public tables; the rest is that writing and R1.
    transforms.derive.run_models = _timed(
        phases, "models (in the build)", transforms.derive.run_models
    )


class _RssSampler:
    """The largest resident set size seen while running, sampled every 50 ms.

    ru_maxrss is the peak of the whole process, staging included; this is the
    peak of one stage.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_kb(self) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self._rss_kb())
            self._stop.wait(0.05)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._rss_kb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the generated cohort and warehouse here")
    parser.add_argument("--source", type=Path, help="use this generated cohort (no generation)")
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=sorted(SETTINGS),
        default=["two", "four"],
        help="the response.criteria settings to time, in this order",
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="nelmtrack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = args.source or work / "source"
    patients = args.patients
    try:
        t0 = time.perf_counter()
        if not source.exists():
            generate(source, patients=args.patients, seed=args.seed)
            print(
                f"generated {args.patients} patients in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
        cfg = load_config()
        build = start_build(
            work / "bench.duckdb",
            "bench",
            full_refresh=True,
            engine=EngineSettings.from_config(cfg),
        )
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
        if args.source:
            sql = "SELECT count(DISTINCT patient_key) FROM raw.patients"
            patients = build.con.execute(sql).fetchall()[0][0]

        floor = floor_seconds(build.con)

        staged_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS before the response stage: {staged_peak_mb:.0f} MB", file=sys.stderr)
        phases: dict[str, float] = {}
        _time_phases(phases, build)
        results = []
        for setting in args.settings:
            ctx.cfg = _config_with_criteria(work, SETTINGS[setting])
            phases.clear()
            with _RssSampler() as rss:
                t0 = time.perf_counter()
                stages.derive_in_build(ctx)
                seconds = time.perf_counter() - t0
            phases["other (views, R1 quarantine, writes)"] = seconds - sum(phases.values())
            print(f"criteria {', '.join(SETTINGS[setting])}:", file=sys.stderr)
            for name, phase_seconds in phases.items():
                print(f"  {name:<34} {phase_seconds:7.2f} s", file=sys.stderr)
            print(
                f"peak RSS during the response stage: {rss.peak_kb / 1024:.0f} MB", file=sys.stderr
            )
            results.append((setting, seconds))
        build.abort()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for setting, seconds in results:
        print(
            json.dumps(
                {
                    "criteria": setting,
                    "patients": patients,
                    "seconds": round(seconds, 2),
                    "floor_seconds": round(floor, 3),
                    "ratio": round(seconds / floor, 1) if floor else None,
                    "peak_rss_mb": round(peak_mb),
                }
            )
        )
    timed = dict(results)
    if "two" in timed and "four" in timed:
        print(json.dumps({"four_vs_two": round(timed["four"] / timed["two"], 2)}))


def _config_with_criteria(work: Path, criteria: list[str]) -> Any:
    """The default config with ``response.criteria`` set, through a user config file."""
    user = work / f"criteria-{len(criteria)}.toml"
    user.write_text("[response]\ncriteria = " + json.dumps(criteria) + "\n")
    return load_config(user)


if __name__ == "__main__":
    main()
