"""Test-session settings: a private Prefect home, quiet Prefect, and shared paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports prefect: one private, writable Prefect home for the
# whole session (its temporary server keeps a SQLite database there), no
# telemetry, and quiet logs.
_PREFECT_HOME = tempfile.mkdtemp(prefix="nelmtrack-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHARMAVERSE = SHARED / "data" / "pharmaverse"
