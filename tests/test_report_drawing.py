"""Charts drawn in worker processes (report.drawing, issue 11): same page, no process left.

The run draws the report's charts in a worker while its own process validates data
quality. These tests check what that must never change: the page is byte-identical
to one drawn in the run's process, and a worker never outlives the run, whether the
run closes it, fails, or is killed outright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import REPO, eventually
from test_report import RUN, hand_made_warehouse

from config import load_config
from flows.serve import _alive as alive
from flows.serve import _children as children
from report import begin_report
from report.drawing import Drawing


def gone_within(pid: int, bound_s: float = 60) -> bool:
    return eventually(lambda: not alive(pid), bound_s)


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


FOREST = pd.DataFrame(
    {"covariate": ["age", "TARE"], "hr": [1.2, 0.8], "ci_lower": [0.9, 0.5], "ci_upper": [1.6, 1.3]}
)


def test_closing_stops_the_workers() -> None:
    before = set(children(os.getpid()))
    drawing = Drawing(1)
    try:
        drawing.fill(drawing.chart("forest", FOREST, salt="f"))
        workers = set(children(os.getpid())) - before
        assert workers and all(alive(pid) for pid in workers)
    finally:
        drawing.close()
    assert all(gone_within(pid) for pid in workers)


def test_a_chart_that_fails_raises_its_error_where_the_page_is_written() -> None:
    with Drawing(1) as drawing:
        text = "<p>" + drawing.chart("no_such_chart") + "</p>"
        with pytest.raises(AttributeError, match="no_such_chart"):
            drawing.fill(text)


KILLED_RUN = """
import json, os, time
from flows.serve import _children
from report.drawing import Drawing
drawing = Drawing(1)
print(json.dumps(_children(os.getpid())), flush=True)
time.sleep(600)
"""


def test_a_worker_exits_when_the_run_is_killed(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(run.stdout.readline())
        assert started and all(alive(pid) for pid in started)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert all(gone_within(pid) for pid in started), "a chart worker outlived the killed run"
    finally:
        run.kill()
        run.wait()
