"""Where the report's charts are drawn: in the calling process, or in worker processes.

Drawing is most of the report's time (at 2,000 patients, Matplotlib's SVG output took
9 of the report's 13 seconds), and it is a pure function of small frames. A run draws
its charts in a worker process while its own process validates data quality (Great
Expectations), which holds the interpreter's lock, so the two overlap on a 2-core
machine. ``Drawing.chart`` returns a placeholder at once; ``Drawing.fill`` puts each
chart's SVG in its place, waiting for the ones not drawn yet. A chart is drawn the
same in any process (its ids come from its salt), so the page is byte-identical
whichever way it was drawn.

Workers are started with ``spawn`` (the run's process holds DuckDB and Prefect
threads, which ``fork`` must not copy), watch their parent and exit when it is gone,
so even a killed run leaves no process behind.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

_PLACEHOLDER = re.compile("\x00chart (\\d+)\x00")


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker once the run's process is gone (even if killed).

    Ctrl-C reaches the whole process group; the run's process handles it (one line,
    and ``Drawing.close``), so a worker ignores it instead of printing a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="nelmtrack-parent-watch", daemon=True).start()


def _import_charts() -> None:
    import report.charts  # noqa: F401 (Matplotlib: about a second)


def _draw(name: str, args: tuple, kwargs: dict) -> str:
    """Chart ``name`` of ``report.charts``, imported where it is drawn: a run whose
    charts are drawn by workers never imports Matplotlib itself."""
    from report import charts

    return getattr(charts, name)(*args, **kwargs)


class Drawing:
    """Charts of one report: drawn now (``processes`` 0) or by that many worker processes."""

    def __init__(self, processes: int = 0) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self._pool = ProcessPoolExecutor(
                processes,
                multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            # Start the workers now: they import Matplotlib while the caller goes on.
            for _ in range(processes):
                self._pool.submit(_import_charts)
        self._charts: list[Future[str] | str] = []

    def chart(self, name: str, *args: Any, **kwargs: Any) -> str:
        """A placeholder for the SVG of ``report.charts.<name>(*args, **kwargs)``, which
        ``fill`` puts in."""
        if self._pool is None:
            self._charts.append(_draw(name, args, kwargs))
        else:
            self._charts.append(self._pool.submit(_draw, name, args, kwargs))
        return f"\x00chart {len(self._charts) - 1}\x00"

    def fill(self, text: str) -> str:
        """``text`` with every placeholder replaced by its chart (waiting for it)."""

        def svg(match: re.Match[str]) -> str:
            found = self._charts[int(match.group(1))]
            return found if isinstance(found, str) else found.result()

        return _PLACEHOLDER.sub(svg, text)

    def close(self) -> None:
        """Stop the workers at once (a chart still being drawn is not needed any more)."""
        if self._pool is not None:
            # A worker that died makes every chart raise BrokenProcessPool (never a hang).
            # ProcessPoolExecutor has no public way to stop a worker mid-chart before
            # Python 3.14 (terminate_workers), hence its process table.
            workers = list((self._pool._processes or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.join()
            self._pool = None

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
