"""Charts drawn in worker processes (report.drawing, issue 11): same page, no process left.

The run draws the report's charts in a worker while its own process validates data
quality. These tests check what that must never change: the page is byte-identical
to one drawn in the run's process, and a worker never outlives the run, whether the
run closes it, fails, or is killed outright.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import REPO
from test_report import RUN, hand_made_warehouse

from config import load_config
from report import begin_report
from report.drawing import Drawing


def worker_pid() -> str:
    """A 'chart' that tells which process drew it."""
    return str(os.getpid())


def failing_chart() -> str:
    raise ValueError("no such figure")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def gone_within(pid: int, bound_s: float = 60) -> bool:
    """True once the process is gone (a bound, not a timing assumption)."""
    deadline = time.monotonic() + bound_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_page_drawn_by_a_worker_equals_the_page_drawn_in_the_run(tmp_path: Path) -> None:
    cfg = load_config()
    pages = {}
    for processes in (0, 1):
        con = hand_made_warehouse()
        try:
            with Drawing(processes) as drawing:
                write = begin_report(con, cfg, tmp_path / str(processes), RUN, drawing)
                pages[processes] = write().read_text(encoding="utf-8")
        finally:
            con.close()
    assert pages[1] == pages[0]
    assert pages[0].count("<svg") >= 6 and "\x00" not in pages[0]


def test_charts_are_drawn_in_the_worker_and_closing_stops_it() -> None:
    drawing = Drawing(1)
    try:
        pid = int(drawing.fill(drawing.chart(worker_pid)))
        assert pid != os.getpid() and alive(pid)
    finally:
        drawing.close()
    assert gone_within(pid)


def test_a_chart_that_fails_raises_its_error_where_the_page_is_written() -> None:
    with Drawing(1) as drawing:
        text = "<p>" + drawing.chart(failing_chart) + "</p>"
        with pytest.raises(ValueError, match="no such figure"):
            drawing.fill(text)


KILLED_RUN = """
import os, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from report.drawing import Drawing
from test_report_drawing import worker_pid
drawing = Drawing(1)
print(drawing.fill(drawing.chart(worker_pid)), flush=True)
time.sleep(600)
"""


def test_a_worker_exits_when_the_run_is_killed(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(REPO), str(REPO / "tests")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid = int(run.stdout.readline())
        assert alive(pid)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert gone_within(pid), "the chart worker outlived the killed run"
    finally:
        run.kill()
        run.wait()
