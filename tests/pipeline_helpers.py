"""Shared by the end-to-end tests of runs: source folders, CLI runs, warehouse snapshots.

Runs that must be separate processes (killed runs, concurrent runs, the
privacy check of everything a run prints) go through ``python -m flows.cli``.
They talk to the test session's one Prefect server (started by conftest.py), so
each run skips the temporary server's start-up and a killed run leaves no
orphaned temporary server behind.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import duckdb
import pytest

from contract import RESULT_TABLES  # noqa: F401 (the tests import it from here)
from warehouse import PUBLIC_COLUMNS

REPO = Path(__file__).resolve().parents[1]
TEST_KEY = "test-only pseudonymisation key"
CONFIG: str | None = None  # a config file for every run of these tests, if any


def once_per_session(
    factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], dict]
) -> dict:
    """``compute(folder)``'s JSON result, computed once per test session.

    With pytest-xdist, the tests of one module may land on several workers, and a
    module fixture would run once on each: the first worker computes, under a file
    lock, in a folder all workers share; the others wait and read its result.
    """
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    done = base / f"{name}.json"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder = base / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            done.write_text(json.dumps(compute(folder)))
    return json.loads(done.read_text())


def summary_dict(summary) -> dict:  # noqa: ANN001 (a flows.pipeline.RunSummary)
    report = summary.report
    return {"run_id": summary.run_id, "recomputed": summary.recomputed, **asdict(report)} | {
        "read_files": report.read_files
    }


def process_dict(process: subprocess.CompletedProcess) -> dict:
    return {"returncode": process.returncode, "stdout": process.stdout, "stderr": process.stderr}


def make_source(folder: Path, patients: int, seed: int, id_style: str = "study") -> Path:
    """A generated source folder, without the generator's own notes (they name the ids)."""
    from demo_cohort import generate

    generate(folder, patients=patients, seed=seed, id_style=id_style)
    shutil.rmtree(folder / "_generator", ignore_errors=True)
    return folder


def only_file(folder: Path, dataset: str) -> Path:
    (path,) = sorted(folder.glob(f"{dataset}_*.csv"))
    return path


def move_rows(path: Path, new_name: str, patient_ids: set[str]) -> Path:
    """Move the data lines of some patients from a CSV file into a new file beside it."""
    with path.open(newline="") as fh:
        header, *rows = list(csv.reader(fh))
    col = header.index("patient_id")
    keep = [r for r in rows if r[col] not in patient_ids]
    moved = [r for r in rows if r[col] in patient_ids]
    write_csv(path, [header, *keep])
    return write_csv(path.with_name(new_name), [header, *moved])


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def edit_cell(path: Path, row: int, column: str, value: str) -> str:
    """Set one cell of a CSV file (row is the 1-based data row); returns the old value."""
    rows = read_csv(path)
    col = rows[0].index(column)
    old = rows[row][col]
    rows[row][col] = value
    write_csv(path, rows)
    return old


# --- reading a warehouse ---------------------------------------------------------------


def result_rows(db: Path, tables: tuple[str, ...] = RESULT_TABLES) -> dict[str, list[tuple]]:
    """Every row of the given tables without run_id, sorted; doubles rounded to 9 places."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for name in tables:
            types = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'main' AND table_name = ?",
                    [name],
                ).fetchall()
            )
            cols = [
                f"round({c}, 9)" if types[c] == "DOUBLE" else c
                for c in PUBLIC_COLUMNS[name]
                if c != "run_id"
            ]
            out[name] = con.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- running the CLI in another process --------------------------------------------------


class _SessionPrefectServer:
    """The Prefect server conftest.py started for the whole test session (all xdist workers)."""

    @property
    def home(self) -> Path:
        return Path(os.environ["PREFECT_HOME"])

    def start(self) -> str:
        """Its API address (the name is kept from when each test process started its own)."""
        url = os.environ.get("PREFECT_API_URL")
        if not url:
            raise RuntimeError("no session Prefect server: tests/conftest.py starts one")
        return url


PREFECT_SERVER = _SessionPrefectServer()


def cli_env(**extra: str) -> dict[str, str]:
    """Environment of a CLI run: the test key, the shared server, quiet Prefect."""
    env = {
        k: v
        for k, v in os.environ.items()
        # the CLI's own logging defaults apply (tests in this process may have set others)
        if not k.startswith(("NELMTRACK_", "PREFECT_API_URL", "PREFECT_LOGGING_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_API_URL=PREFECT_SERVER.start(),
        PREFECT_HOME=str(PREFECT_SERVER.home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        NELMTRACK_PSEUDONYM_KEY=TEST_KEY,
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """Run ``nelmtrack <args>`` to the end; a run killed by a signal has returncode < 0."""
    process = subprocess.Popen(
        cli_command(*args),
        cwd=REPO,
        env=env or cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        kill_group(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def kill_group(pgid: int) -> None:
    """Whatever a (killed) run left behind in its process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def eventually(condition: Callable[[], bool], bound_s: float) -> bool:
    """True once ``condition()`` holds; False if it still does not after ``bound_s``
    seconds (a bound for a slow machine, not a timing assumption)."""
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# Set in a run's environment so that the test finds every process it started.
MARKER_VAR = "NELMTRACK_TEST_MARKER"


def processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``MARKER_VAR=marker`` (all descendants of a run)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours
                continue
    return found
