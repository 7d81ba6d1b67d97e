"""The ``nelmtrack`` command line.

Errors a user can cause (a missing folder, no known dataset, a corrupt
database, a bad config, a second run holding the lock) end with one line on
stderr and exit status 2; only a bug shows a traceback. Prefect is imported
only by the commands that run the flow, after its logging and telemetry
settings are in place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

DEFAULT_DEMO_DIR = Path("nelmtrack-demo")
console = Console(stderr=False)
err_console = Console(stderr=True)


def _quiet_prefect(verbose: bool) -> None:
    """Prefect settings that must be in the environment before prefect is imported."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        # Our own one-line message reports a failure; Prefect's traceback would repeat it.
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def _user_errors() -> tuple[type[BaseException], ...]:
    from config import ConfigError
    from flows.privacy import ConfigurationError
    from flows.serve import ServeError
    from flows.stages import QualityGateError
    from sources import SourceError
    from warehouse import WarehouseError

    return (
        ConfigError,
        ConfigurationError,
        ServeError,
        SourceError,
        WarehouseError,
        QualityGateError,
    )


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            if isinstance(exc, _user_errors()):
                err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
                ctx.exit(2)
            raise


def source_db_config_options(command: Callable) -> Callable:
    """--source, --db and --config, shared by the commands that run the pipeline."""
    for option in reversed(
        (
            click.option(
                "--source",
                type=click.Path(path_type=Path),
                required=True,
                help="The source folder (input contract).",
            ),
            click.option(
                "--db",
                type=click.Path(path_type=Path),
                required=True,
                help="The DuckDB warehouse file (created if absent).",
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(path_type=Path),
                help="TOML file overriding values of config/.",
            ),
        )
    ):
        command = option(command)
    return command


@click.group(cls=_Cli)
@click.version_option(package_name="nelmtrack")
def main() -> None:
    """Response tracking for neuroendocrine liver metastases after transarterial therapy."""


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write the source files into.",
)
@click.option("--patients", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
@click.option(
    "--id-style",
    type=click.Choice(["study", "mrn"]),
    default="study",
    show_default=True,
    help="Identifiers like NELM-000001, or 8-digit MRN-like numbers.",
)
def generate(out_dir: Path, patients: int, seed: int, fmt: str, id_style: str) -> None:
    """Write a synthetic, deterministic demo cohort in the input contract."""
    summary = _generate(out_dir, patients, seed, fmt, id_style)
    console.print(
        f"wrote {patients} patients to {out_dir} "
        f"({sum(summary.rows.values()):,} rows, {sum(summary.spoiled.values())} deliberately bad)"
    )


def _generate(out_dir: Path, patients: int, seed: int, fmt: str, id_style: str = "study"):  # noqa: ANN202
    from rich.progress import Progress

    from demo_cohort import generate as generate_cohort

    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        job = bar.add_task("generating", total=patients)
        return generate_cohort(
            out_dir,
            patients=patients,
            seed=seed,
            fmt=fmt,
            id_style=id_style,
            progress=lambda done, total: bar.update(job, completed=done),
        )


def _run(verbose: bool, **params: object):  # noqa: ANN202
    _quiet_prefect(verbose)
    from flows.pipeline import preflight, run_flow

    preflight(params["source"], params["db"], params["config_file"], bool(params.get("demo")))
    with err_console.status("starting", spinner="dots") as status:

        def progress(message: str) -> None:
            if err_console.is_terminal:
                status.update(message)
            elif verbose:
                err_console.print(message)

        return run_flow(progress=progress, **params)


def _print_summary(summary, demo: bool = False) -> None:  # noqa: ANN001
    report = summary.report
    console.print(f"[bold]run {summary.run_id}[/] → {summary.db_path}")
    console.print(
        f"files: {len(report.new)} new, {len(report.changed)} changed, "
        f"{len(report.unchanged)} unchanged, {len(report.missing)} missing"
        + (f" ({len(report.pruned)} pruned)" if report.pruned else "")
    )
    for name in report.missing:
        if name not in report.pruned:
            console.print(f"  [yellow]missing from the source folder, rows kept:[/] {name}")
    if not summary.recomputed:
        console.print("nothing changed since the last run; results are as they were")
    elif report.changed_patients:
        console.print(f"patients with changed source rows: {report.changed_patients:,}")
    _print_file_rows(report.files, report.read_files)
    table = Table(title="rows by dataset (read = loaded + quarantined)")
    for col in ("dataset", "read", "loaded", "quarantined", "balanced"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for dataset, c in summary.counts.items():
        ok = c["read"] == c["loaded"] + c["quarantined"]
        table.add_row(
            dataset,
            f"{c['read']:,}",
            f"{c['loaded']:,}",
            f"{c['quarantined']:,}",
            "yes" if ok else "[red]NO[/]",
        )
    console.print(table)
    if summary.quarantine_by_reason:
        console.print(
            "quarantined by reason: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary.quarantine_by_reason.items()))
        )
    if summary.failed_checks:
        console.print(f"data-quality checks failing (non-fatal): {len(summary.failed_checks)}")
    if summary.docs_dir:
        console.print(f"data-quality report: {Path(summary.docs_dir) / 'index.html'}")


def _print_file_rows(files, read: list[str], max_rows: int = 20) -> None:  # noqa: ANN001
    """Each source file's rows in the published warehouse before this run, and now.

    ``files`` are flows.stages.FileRows. A folder of many files (nightly drops)
    lists the files this run read or lost, and counts the others in one line.
    """
    if not files:
        return
    shown = files
    if len(files) > max_rows:
        shown = [f for f in files if f.name in read or f.before != f.now]
    table = Table(title="rows by file (before this run → now)")
    for col in ("file", "dataset", "before", "now"):
        table.add_column(col, justify="left" if col in ("file", "dataset") else "right")
    for f in shown:
        table.add_row(
            f.name,
            f.dataset,
            "—" if f.before is None else f"{f.before:,}",
            "—" if f.now is None else f"{f.now:,}",
        )
    console.print(table, highlight=False)
    if len(shown) < len(files):
        rest = [f for f in files if f not in shown]
        console.print(
            f"  and {len(rest):,} unchanged files ({sum(f.now or 0 for f in rest):,} rows)"
        )


@main.command()
@source_db_config_options
@click.option("--full-refresh", is_flag=True, help="Forget what was ingested and rebuild all.")
@click.option("--prune", is_flag=True, help="Drop the rows of files gone from the source folder.")
@click.option(
    "--accept-shrink",
    is_flag=True,
    help="Accept files or datasets that lost ingest.shrink_refuse_loss_pct of their rows or more.",
)
@click.option("--verbose", is_flag=True, help="Show progress and Prefect's logs.")
def run(
    source: Path,
    db: Path,
    config_file: Path | None,
    full_refresh: bool,
    prune: bool,
    accept_shrink: bool,
    verbose: bool,
) -> None:
    """One batch run: ingest, compute, check, publish atomically."""
    summary = _run(
        verbose,
        source=str(source),
        db=str(db),
        config_file=str(config_file) if config_file else None,
        full_refresh=full_refresh,
        prune=prune,
        demo=False,
        accept_shrink=accept_shrink,
    )
    _print_summary(summary)


@main.command()
@source_db_config_options
@click.option(
    "--cron",
    help="When to run, as a cron expression [default: schedule.cron in config/schedule.toml].",
)
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=1, min_open=False),
    help="Run every this many seconds instead of on the cron schedule.",
)
@click.option("--prune", is_flag=True, help="Drop the rows of files gone from the source folder.")
@click.option("--verbose", is_flag=True, help="Show Prefect's logs.")
def serve(
    source: Path,
    db: Path,
    config_file: Path | None,
    cron: str | None,
    interval_s: float | None,
    prune: bool,
    verbose: bool,
) -> None:
    """Run the pipeline on a schedule through Prefect until stopped (Ctrl-C).

    Uses the Prefect server of PREFECT_API_URL if set; otherwise starts a local
    one and stops it on exit.
    """
    if cron and interval_s:
        raise click.UsageError("give --cron or --interval, not both")
    # Each run's start and end state, and its one-line summary.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "INFO")
    _quiet_prefect(verbose)
    from flows.serve import serve_pipeline

    serve_pipeline(
        source,
        db,
        config_file,
        prune=prune,
        cron=cron,
        interval_s=interval_s,
        say=lambda message: console.print(message, highlight=False, soft_wrap=True),
    )


@main.command()
@click.option("--patients", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Folder for the generated source files [default: {DEFAULT_DEMO_DIR}/source]",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Warehouse file [default: {DEFAULT_DEMO_DIR}/nelmtrack.duckdb]",
)
@click.option("--verbose", is_flag=True, help="Show progress and Prefect's logs.")
def demo(patients: int, seed: int, out_dir: Path | None, db: Path | None, verbose: bool) -> None:
    """Generate the demo cohort and run the whole pipeline on it (built-in demo key)."""
    out_dir = out_dir or DEFAULT_DEMO_DIR / "source"
    db = db or DEFAULT_DEMO_DIR / "nelmtrack.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    gen = _generate(out_dir, patients, seed, "csv")
    summary = _run(
        verbose,
        source=str(out_dir),
        db=str(db),
        config_file=None,
        full_refresh=True,
        prune=True,
        demo=True,
        accept_shrink=True,  # the demo regenerates its own cohort, maybe a smaller one
    )
    _print_summary(summary, demo=True)
    _print_demo_extras(summary)
    console.print(
        f"source files: {out_dir} ({sum(gen.spoiled.values())} rows deliberately bad, "
        f"listed in {out_dir / '_generator' / 'spoiled_rows.csv'})"
    )
    console.print(
        f'try: nelmtrack sql --db {db} "SELECT criteria, bor_confirmed, count(*) '
        "FROM best_responses WHERE scope = 'course' GROUP BY ALL ORDER BY ALL\""
    )


def _print_demo_extras(summary) -> None:  # noqa: ANN001
    from warehouse import open_read_only

    con = open_read_only(summary.db_path)
    try:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM imaging_studies), "
            "(SELECT count(*) FROM sessions)"
        ).fetchall()[0]
        console.print(f"patients {counts[0]:,} · studies {counts[1]:,} · sessions {counts[2]:,}")
        from transforms.labs import flag_distribution

        dist = flag_distribution(con.sql("SELECT * FROM session_flags").to_arrow_table())
        # One row per flag: true/pass, false/fail, null/missing, not applicable.
        columns = {"true": 0, "pass": 0, "false": 1, "fail": 1, "null": 2, "missing": 2}
        counts: dict[str, list[int]] = {}
        for row in dist.to_pylist():
            cells = counts.setdefault(row["column_name"], [0, 0, 0, 0])
            cells[columns.get(row["category"], 3)] += row["n_sessions"]
        table = Table(title="sessions by flag and eligibility criterion")
        table.add_column("", no_wrap=True)
        for name in ("true/pass", "false/fail", "null/missing", "n/a"):
            table.add_column(name, justify="right")
        for name, cells in counts.items():
            table.add_row(name, *(f"{n:,}" if n else "" for n in cells))
        console.print(table)
    finally:
        con.close()


@main.command()
@click.option("--db", type=click.Path(path_type=Path), required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.argument("query")
def sql(db: Path, fmt: str, query: str) -> None:
    """Run a read-only SQL query against the warehouse."""
    import duckdb

    from warehouse import WarehouseError, open_read_only

    con = open_read_only(db)
    try:
        try:
            rel = con.sql(query)
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed: {str(exc).splitlines()[0]}") from None
        if rel is None:
            return
        result = rel.to_arrow_table()
    finally:
        con.close()
    _print_table(result, fmt)


def _print_table(result, fmt: str) -> None:  # noqa: ANN001
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(result, sink)
        sink.flush()
    elif fmt == "json":
        import json

        click.echo(json.dumps(result.to_pylist(), default=str, indent=None))
    else:
        table = Table(show_lines=False)
        for name in result.column_names:
            table.add_column(name)
        for row in result.to_pylist():
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(table)
        console.print(f"({result.num_rows} rows)")


@main.command()
@click.option("--db", type=click.Path(path_type=Path), required=True)
def dq(db: Path) -> None:
    """Summarise the data-quality checks of the latest run."""
    from expectations import print_dq_summary
    from warehouse import open_read_only

    con = open_read_only(db)
    try:
        rows = con.sql(
            "SELECT * FROM dq_results WHERE run_id = (SELECT max(run_id) FROM dq_results)"
        ).to_arrow_table()
    finally:
        con.close()
    print_dq_summary(rows, console)


if __name__ == "__main__":
    main()
