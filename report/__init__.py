"""The outcome report (issue 10): responses, survival and prognostic flags as pictures.

``write_report`` renders ``index.html`` from any connection to a warehouse (the
run's build, before it is published, or a published file); ``publish_report``
does it for a published warehouse into ``<db stem>_report/``, staged and swapped
in as the data-quality report is. ``write_patient_page`` renders one patient's
page for a tumour board. Statistics: ``report.stats``; data: ``report.data``;
charts: ``report.charts`` (Matplotlib, inline SVG: the report opens offline), drawn
in worker processes by ``report.drawing``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from config import Config
from report.drawing import Drawing

REPORT_INDEX = "index.html"


def report_dir_for(db_path: Path) -> Path:
    """Where a run publishes the report: ``<db stem>_report/`` beside the warehouse."""
    db_path = Path(db_path).resolve()
    return db_path.parent / f"{db_path.stem}_report"


def begin_report(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    out_dir: Path,
    run_id: str | None,
    drawing: Drawing,
) -> Callable[[], Path]:
    """Query the warehouse and compute the report's statistics now, handing its charts to
    ``drawing``; the function returned writes ``out_dir/index.html`` once they are drawn.

    Between the two a run validates data quality while the charts are drawn.
    """
    from report.cohort import CohortReport

    text = CohortReport(con, cfg, drawing).render(run_id)

    def finish() -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        index = out_dir / REPORT_INDEX
        index.write_text(drawing.fill(text), encoding="utf-8")
        return index

    return finish


def write_report(
    con: duckdb.DuckDBPyConnection, cfg: Config, out_dir: Path, run_id: str | None = None
) -> Path:
    """Render the cohort report into ``out_dir/index.html``; return its path."""
    with Drawing(cfg.value("report.chart_processes")) as drawing:
        return begin_report(con, cfg, out_dir, run_id, drawing)()


def require_survival(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """A clear error for a warehouse published before the `survival` table existed."""
    from warehouse import WarehouseError

    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'survival'"
    ).fetchone()[0]
    if not found:
        raise WarehouseError(
            f"{db_path.name} was published before the survival table existed; run "
            "`nelmtrack run` on it once (it adds the table), then `nelmtrack report`"
        )


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT max(run_id) FROM pipeline_runs WHERE status = 'succeeded'").fetchone()
    return None if row is None else row[0]


def publish_report(db_path: Path, cfg: Config, out_dir: Path | None = None) -> Path:
    """Render the report of a published warehouse; swap it in place of ``out_dir``.

    The default folder is the one runs publish into, so this holds the run lock: a
    run publishing at the same moment waits, and the two never mix.
    """
    from warehouse import open_read_only, publish_folder, run_lock, stage_folder

    db_path = Path(db_path).resolve()
    target = (out_dir or report_dir_for(db_path)).resolve()
    with run_lock(db_path, cfg.value("run.lock_wait_seconds")):
        con = open_read_only(db_path)
        try:
            require_survival(con, db_path)
            staged = stage_folder(target, "cli")
            try:
                write_report(con, cfg, staged, latest_run_id(con))
            except BaseException:
                import shutil

                shutil.rmtree(staged, ignore_errors=True)
                raise
        finally:
            con.close()
        publish_folder(staged, target)
    return target / REPORT_INDEX


def write_patient_page(
    con: duckdb.DuckDBPyConnection, cfg: Config, patient_key: str, out_dir: Path
) -> Path | None:
    """Write ``out_dir/patient-P<n>.html`` (None: no patient with a session has that key)."""
    from report.patient import render_patient

    rendered = render_patient(con, cfg, patient_key)
    if rendered is None:
        return None
    number, text = rendered
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"patient-P{number}.html"
    path.write_text(text, encoding="utf-8")
    return path
