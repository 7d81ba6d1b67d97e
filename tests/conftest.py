"""Test-session settings: one Prefect server for the whole session, quiet Prefect, shared paths.

Every test that needs Prefect (CLI runs in subprocesses, flows and tasks run in the test
processes) talks to ONE Prefect API server per test session. The process that controls
the session (plain pytest, or pytest-xdist's controller) starts it in ``pytest_configure``,
before any xdist worker exists, and puts its address in ``PREFECT_API_URL``; the workers
and every CLI subprocess inherit it. The controller stops the server, with its whole
process group, in ``pytest_unconfigure``, after the workers are done. The server also
gets SIGTERM if the controller dies (``flows.serve.start_local_server``), so a test run
leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before anything imports prefect: one private, writable Prefect home for the whole
# session (the server keeps its SQLite database there; xdist workers inherit it), no
# telemetry, and quiet logs.
if "NELMTRACK_TEST_PREFECT_HOME" not in os.environ:
    os.environ["NELMTRACK_TEST_PREFECT_HOME"] = tempfile.mkdtemp(prefix="nelmtrack-prefect-")
    os.environ["PREFECT_HOME"] = os.environ["NELMTRACK_TEST_PREFECT_HOME"]
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHARMAVERSE = SHARED / "data" / "pharmaverse"

#: Seconds the session's server may take to start: a busy 2-core machine is slow.
SERVER_START_TIMEOUT_S = 600
_session_server = None  # the server this process started, if it controls the session


def pytest_configure(config: pytest.Config) -> None:
    global _session_server
    if hasattr(config, "workerinput"):  # an xdist worker: the controller started it
        return
    from flows.serve import start_local_server

    # Never a server from the developer's environment: tests write runs and blocks into it.
    os.environ.pop("PREFECT_API_URL", None)
    _session_server = start_local_server(SERVER_START_TIMEOUT_S, temporary=True)
    os.environ["PREFECT_API_URL"] = _session_server.api_url


def pytest_unconfigure(config: pytest.Config) -> None:
    global _session_server
    if _session_server is None:
        return
    from flows.serve import stop_server

    stop_server(_session_server)
    _session_server = None
    os.environ.pop("PREFECT_API_URL", None)
    shutil.rmtree(os.environ["NELMTRACK_TEST_PREFECT_HOME"], ignore_errors=True)
