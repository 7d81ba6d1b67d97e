"""Readers and a second run while a run is going on.

A reader in another process holds a read-only connection across a whole run and,
meanwhile, keeps opening new ones (as ``nelmtrack sql`` or ``duckdb -readonly`` do):
the held one keeps the old state, each new one sees the old or the new state, never a
mixture, and no reader makes the run fail. Two runs started at once take turns; a
run that cannot get the lock in time exits with status 2 and a clear message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
from pipeline_helpers import (
    CONFIG,
    RESULT_TABLES,
    TEST_KEY,
    cli_env,
    make_source,
    once_per_session,
    only_file,
    query,
    read_csv,
    run_cli,
    write_csv,
)

from flows.pipeline import run_pipeline
from warehouse import run_lock

pytestmark = pytest.mark.slow

STATE_TABLES = (*RESULT_TABLES, "pipeline_runs", "ingested_files")

# Holds one read-only connection from before the run until told to stop, checking that
# it keeps showing the same state. (A second connection to the same file *in the same
# process* would share the held one's database instance, so fresh reads are made
# elsewhere: by the test process, which holds nothing open between reads.)
HOLDER = """
import duckdb, json, pathlib, sys, time
db, stop, tables = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3].split(",")

def digest(con):
    return [list(con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {t} t")
            .fetchall()[0]) for t in tables]

held = duckdb.connect(db, read_only=True)
first = digest(held)
print(json.dumps(first), flush=True)
changed, reads = False, 0
while not stop.exists():
    changed |= digest(held) != first
    reads += 1
    time.sleep(0.05)
print(json.dumps({"changed": changed, "reads": reads}), flush=True)
"""


def digest(db: Path) -> str:
    """Row count and a hash sum of every state table, read through one connection."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return json.dumps(
            [
                list(
                    con.execute(
                        f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {t} t"
                    ).fetchall()[0]
                )
                for t in STATE_TABLES
            ]
        )
    finally:
        con.close()


def run_args(source: Path, db: Path) -> list[str]:
    config = ["--config", CONFIG] if CONFIG else []
    return ["run", "--source", str(source), "--db", str(db), *config]


def published_v1(root: Path) -> dict[str, str]:
    v1 = make_source(root / "v1", patients=30, seed=31)
    v2 = root / "v2"
    shutil.copytree(v1, v2)
    lesions = only_file(v2, "lesions")
    rows = read_csv(lesions)
    write_csv(lesions, rows[:-5])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        run_pipeline(v1, root / "v1.duckdb", CONFIG)
    return {"v1": str(v1), "v2": str(v2), "db": str(root / "v1.duckdb")}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A warehouse published from v1, and v2: v1 with a changed lesions file."""
    paths = once_per_session(tmp_path_factory, "concurrent", published_v1)
    return {name: Path(path) for name, path in paths.items()}


def test_readers_see_the_old_or_the_new_state_and_never_fail_the_run(
    published: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(published["db"], db)
    old = digest(db)
    stop = tmp_path / "stop-holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(stop), ",".join(STATE_TABLES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    errors: list[str] = []
    run_done = threading.Event()

    def read_fresh_until_the_run_ends() -> None:
        while not run_done.is_set():
            try:
                seen.append(digest(db))
            except Exception as exc:  # a reader must never fail either
                errors.append(str(exc))
            time.sleep(0.05)

    try:
        assert json.dumps(json.loads(holder.stdout.readline())) == old
        with ThreadPoolExecutor(1) as pool:
            reading = pool.submit(read_fresh_until_the_run_ends)
            try:
                run = run_cli(*run_args(published["v2"], db))
            finally:
                run_done.set()
            reading.result()
    finally:
        stop.touch()
        out, err = holder.communicate(timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    held = json.loads(out.strip().splitlines()[-1])
    assert held["changed"] is False, err
    assert held["reads"] > 10
    new = digest(db)
    assert new != old
    assert errors == []
    assert len(seen) > 10
    assert set(seen) <= {old, new}
    assert seen[0] == old


def test_two_runs_started_together_take_turns(published: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(published["db"], db)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_cli(*run_args(published["v2"], db)), range(2)))
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    # One run did the work; the other waited for it and then found nothing new.
    assert sorted("nothing changed since the last run" in run.stdout for run in runs) == [
        False,
        True,
    ]
    spans = query(db, "SELECT started_at, finished_at FROM pipeline_runs ORDER BY started_at")
    assert len(spans) == 3
    assert spans[1][1] <= spans[2][0]  # the second started after the first had finished


def test_a_run_that_cannot_get_the_lock_in_time_exits_with_a_clear_message(
    published: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(published["db"], db)
    config = tmp_path / "short-wait.toml"
    config.write_text("[run]\nlock_wait_seconds = 1\n")
    with run_lock(db, 0):
        run = run_cli(
            "run",
            "--source",
            str(published["v2"]),
            "--db",
            str(db),
            "--config",
            str(config),
            env=cli_env(),
        )
    assert run.returncode == 2
    assert "another nelmtrack run is writing wh.duckdb" in run.stderr
    assert "Traceback" not in run.stderr
