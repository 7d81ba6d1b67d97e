"""Each heavy library is imported only by the work that uses it.

A new ``nelmtrack`` process pays for every import it makes (seconds each for Prefect and
Great Expectations on a busy machine): help and a mistake in the arguments import no
Prefect; an unchanged rerun imports neither Great Expectations (no quality stage) nor
Matplotlib or statsmodels (no report written), and a first run leaves Matplotlib to the
report's chart worker; a folder of CSV files imports no SDTM or
FHIR library, and a run without a Dask address no Dask. Checked by the modules loaded in
the CLI's process, never by time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import REPO, cli_env, make_source

#: Runs ``nelmtrack <args>`` as the installed command does and prints, on its last line of
#: stderr, its exit status and which of the watched modules it loaded.
PROBE = """
import json, sys
from flows.cli import main
watched = json.loads(sys.argv[1])
try:
    main(sys.argv[2:])
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in watched if m in sys.modules)}),
      file=sys.stderr)
"""

HEAVY = (
    "prefect",
    "great_expectations",
    "matplotlib",
    "statsmodels",
    "pandas",
    "pyreadstat",
    "fhir.resources",
    "dask",
    "distributed",
    "prefect_dask",
)


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """The exit status of ``nelmtrack <args>`` in a new process, and the HEAVY modules it
    loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), *args],
        cwd=REPO,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    return result["code"], set(result["loaded"])


def test_help_imports_nothing_heavy() -> None:
    code, loaded = probe("--help")
    assert code == 0
    assert loaded == set()
    code, loaded = probe("run", "--help")
    assert code == 0
    assert loaded == set()


def test_argument_errors_import_no_prefect(tmp_path: Path) -> None:
    code, loaded = probe("run", "--source", str(tmp_path))  # --db missing: click's usage error
    assert code == 2
    assert loaded == set()
    missing = tmp_path / "no such folder"
    code, loaded = probe("run", "--source", str(missing), "--db", str(tmp_path / "w.duckdb"))
    assert code == 2  # checked before Prefect is imported
    assert loaded == set()


@pytest.mark.slow
def test_unchanged_rerun_imports_no_quality_or_report_library(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source", patients=30, seed=11)
    args = ("run", "--source", str(source), "--db", str(tmp_path / "w.duckdb"))
    code, first = probe(*args)
    assert code == 0
    # The first run checks quality and writes the report, whose charts a worker process
    # draws (report.chart_processes = 1), so Matplotlib is never loaded in the run's own;
    # CSV files need no adapter library and no Dask address was given.
    assert {"prefect", "great_expectations", "statsmodels"} <= first
    assert "matplotlib" not in first
    assert not first & {"pyreadstat", "fhir.resources", "dask", "distributed", "prefect_dask"}
    code, rerun = probe(*args)
    assert code == 0
    assert rerun == {"prefect"}
