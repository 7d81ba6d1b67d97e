"""``nelmtrack serve``: a scheduled run really happens, and stopping serve leaves nothing.

Without ``PREFECT_API_URL``, serve starts its own Prefect server (in a fresh Prefect
home here, so this test costs the server's first start-up) and stops it on exit. The
schedule is a 5-second interval; the runner polls every second. Every process serve
starts (the server, the runner's flow-run processes) inherits a marker in its
environment, so any survivor is found after serve exits, whoever its parent became.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from pipeline_helpers import (
    CONFIG,
    MARKER_VAR,
    REPO,
    TEST_KEY,
    cli_command,
    kill_group,
    make_source,
    processes_with,
)

pytestmark = pytest.mark.slow


def runs_recorded(db: Path) -> int:
    try:
        con = duckdb.connect(str(db), read_only=True)
    except (duckdb.Error, OSError):
        return 0
    try:
        return con.execute("SELECT count(*) FROM pipeline_runs").fetchall()[0][0]
    finally:
        con.close()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_serve_runs_on_schedule_and_stopping_leaves_no_process(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source", patients=20, seed=3)
    db = tmp_path / "wh.duckdb"
    marker = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_API", "PREFECT_LOGGING_", "NELMTRACK_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        NELMTRACK_PSEUDONYM_KEY=TEST_KEY,
        **{MARKER_VAR: marker},
    )
    config = ["--config", CONFIG] if CONFIG else []
    log = tmp_path / "serve.log"
    started = time.monotonic()
    with log.open("w") as fh:
        serve = subprocess.Popen(
            cli_command("serve", "--source", str(source), "--db", str(db), "--interval", "5")
            + config,
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while runs_recorded(db) == 0 and serve.poll() is None:
            # a bound for a hung serve, far above a busy machine's server start and run
            assert time.monotonic() - started < 900, log.read_text()[-3000:]
            time.sleep(0.5)
        first_run_after = time.monotonic() - started
        assert serve.poll() is None, log.read_text()[-3000:]
        assert processes_with(marker)  # the check below can see serve's processes

        serve.send_signal(signal.SIGINT)  # as Ctrl-C in a terminal
        returncode = serve.wait(timeout=600)  # a bound for a hung serve
        stopped_after = time.monotonic() - started
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(marker) == []
    finally:
        kill_group(serve.pid)
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
    output = log.read_text()
    print(
        f"first scheduled run after {first_run_after:.1f} s, serve stopped at {stopped_after:.1f} s"
    )
    assert returncode == 0, output[-3000:]
    assert "Prefect server: started a local one at http://127.0.0.1:" in output
    assert "files 5 new" in output  # the scheduled run's summary line
    assert "Prefect server: stopped the local one" in output


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_serve_stop_starts_no_new_run(tmp_path: Path) -> None:
    """Ctrl-C while a scheduled run is in progress: the run stops and publishes nothing,
    and nothing is left that could start or publish another one.

    No timing: the run waits at a known stage (test hook, flows.pipeline) until serve
    is stopped. Ctrl-C goes to serve's process group, as in a terminal; Prefect runs
    each flow run in a group of its own, which it does not reach."""
    from flows.pipeline import TEST_PAUSE_ENV

    source = make_source(tmp_path / "source", patients=20, seed=3)
    db = tmp_path / "wh.duckdb"
    reached = tmp_path / "reached-transforms"
    marker = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_API", "PREFECT_LOGGING_", "NELMTRACK_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        NELMTRACK_PSEUDONYM_KEY=TEST_KEY,
        **{MARKER_VAR: marker, TEST_PAUSE_ENV: f"transforms:{reached}"},
    )
    config = ["--config", CONFIG] if CONFIG else []
    log = tmp_path / "serve.log"
    with log.open("w") as fh:
        serve = subprocess.Popen(
            cli_command("serve", "--source", str(source), "--db", str(db), "--interval", "5")
            + config,
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # A bound for a serve whose runs never reach the stage (they fail, or hang):
        # the test then fails with serve's log instead of waiting forever.
        give_up = time.monotonic() + 600
        while not reached.exists():
            assert serve.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < give_up, log.read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C in the terminal
        returncode = serve.wait(timeout=600)  # a bound for a hung serve
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_with(marker)
    finally:
        kill_group(serve.pid)
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
    output = log.read_text()
    assert returncode == 0, output[-3000:]
    assert left == []  # no run, runner or server survives to start or publish anything
    assert "run(s) in progress: they published nothing" in output
    assert runs_recorded(db) == 0
    assert not db.exists()
    assert not list(tmp_path.glob("wh.duckdb.building-*"))
    # No run was interrupted mid-start by the terminal's Ctrl-C (serve stops them itself).
    # (A busy machine may still make the Prefect server log its own database errors.)
    assert "KeyboardInterrupt" not in output
