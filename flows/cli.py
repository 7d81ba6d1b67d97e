"""The ``nelmtrack`` command line.

Errors a user can cause (a missing folder, no known dataset, a corrupt
database, a bad config, a second run holding the lock) end with one line on
stderr and exit status 2. Anything else also ends with one line, naming the
error's class and where it arose but not its message (which may quote source
values); ``--verbose`` shows the traceback. SIGINT and SIGTERM stop a run
cleanly: nothing is published, one line, exit 130 or 143. Prefect is imported
only by the commands that run the flow, after its logging and telemetry
settings are in place and after the checks of ``flows/preflight.py`` (a mistake
is reported without waiting for Prefect's import).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
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


#: The errors a user can cause, as (module, class): exit 2 with the message.
_USER_ERRORS = (
    ("config", "ConfigError"),
    ("flows.privacy", "ConfigurationError"),
    ("flows.serve", "ServeError"),
    ("sources", "SourceError"),
    ("warehouse", "WarehouseError"),
    ("flows.stages", "QualityGateError"),
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """The classes of ``_USER_ERRORS`` whose module is loaded: an exception can only be of a
    class that exists, and importing a module (flows.stages: DuckDB, Arrow, the transforms)
    just to say "no" would make every error line slower."""
    found = (getattr(sys.modules.get(module), name, None) for module, name in _USER_ERRORS)
    return tuple(cls for cls in found if cls is not None)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived during a run. A BaseException, like KeyboardInterrupt, so
    that no ``except Exception`` on the way up mistakes it for a failure of the data."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@contextlib.contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise ``Interrupted`` in the main thread,
    so the run unwinds through its own clean-up (the build file is removed). Further
    signals are ignored until the block is left, so that clean-up is not cut short.

    A signal that arrives while DuckDB runs a query stops the query, and DuckDB raises
    its own ``RuntimeError('Query interrupted')`` in place of ``Interrupted``: any
    error that leaves the block after a signal is the signal's doing, so it is raised
    as ``Interrupted`` (it was "unexpected RuntimeError" for Ctrl-C during staging)."""
    if threading.current_thread() is not threading.main_thread():  # signals go to main
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not received:
            received.append(signum)
            raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except Exception as exc:
        if received:
            raise Interrupted(received[0]) from exc
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _input_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the input could not be read as nelmtrack expects (exit 2), as
    opposed to a bug in nelmtrack (exit 1). Their messages may quote source values."""
    import duckdb
    import pyarrow

    return (duckdb.Error, pyarrow.ArrowException, UnicodeError)


def _where(exc: BaseException) -> str:
    """The innermost frame of nelmtrack's own code that the exception passed through."""
    ours = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if ".venv" not in frame.filename and "site-packages" not in frame.filename
    ]
    if not ours:
        return "outside nelmtrack's code"
    frame = ours[-1]
    try:
        name = Path(frame.filename).resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        name = Path(frame.filename).name
    return f"in {name}:{frame.lineno}"


def _say_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


class _Cli(click.Group):
    def __call__(self, *args: object, **kwargs: object) -> object:
        """The program's entry point (``CliRunner`` calls ``main`` instead).

        After an interrupt the run has cleaned up and said so: leave at once, as the
        signal asked, rather than spend seconds in the native libraries' teardown.
        """
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as exc:
            if exc.code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(exc.code)
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["nelmtrack.verbose"] = "--verbose" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):
            raise  # click's own: a usage error prints its one line and exits 2
        except Interrupted as exc:
            err_console.print(
                f"stopped by {exc}: nothing was published, the warehouse is as it was",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
            ctx.exit(exc.exit_code)
        except Exception as exc:
            if isinstance(exc, _user_errors()):
                err_console.print(
                    "[bold red]error:[/] " + escape(str(exc)), highlight=False, soft_wrap=True
                )
                ctx.exit(2)
            if isinstance(exc, OSError):  # a file or folder that cannot be used; names a path
                _say_error(escape(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
                ctx.exit(2)
            if ctx.meta.get("nelmtrack.verbose"):
                traceback.print_exception(exc)
            input_error = isinstance(exc, _input_errors())
            # The message is left out: it may quote a value from the source files.
            _say_error(
                escape(
                    f"unexpected {type(exc).__name__} {_where(exc)}"
                    + (" while reading or checking the input" if input_error else "")
                    + (
                        "; the traceback is above"
                        if ctx.meta.get("nelmtrack.verbose")
                        else "; rerun with --verbose to see the traceback (it may show source "
                        "values)"
                    )
                )
            )
            ctx.exit(2 if input_error else 1)


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
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "sdtm", "fhir"]),
    default="csv",
    show_default=True,
    help="The input contract as CSV or Parquet, CDISC SDTM domains (dm, pr, tu, tr, lb), "
    "or FHIR R4 Bulk Data ndjson (config/fhir.toml).",
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

    if fmt == "sdtm":
        from demo_cohort.sdtm import generate_sdtm

        return generate_sdtm(out_dir, patients=patients, seed=seed, id_style=id_style)
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


@contextlib.contextmanager
def prefect_api(config_file: str | Path | None) -> Iterator[None]:
    """The Prefect API a run reports to: ``PREFECT_API_URL`` when set, else a temporary local
    server that nelmtrack starts and stops itself, rather than Prefect's: in its own process
    group (a Ctrl-C must not kill it while the run still reports its end), with a generous
    start-up time and one retry (a busy machine is slow to start it)."""
    if os.environ.get("PREFECT_API_URL"):
        try:
            yield
        finally:
            _send_prefect_backlog()
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from config import load_config
    from flows.serve import server_start_timeout, start_local_server, stop_server

    timeout = load_config(config_file).value("schedule.server_start_timeout_seconds")
    server = start_local_server(server_start_timeout(timeout), temporary=True)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield
            finally:
                _send_prefect_backlog()
    finally:
        stop_server(server)


def _send_prefect_backlog(timeout_s: float = 10) -> None:
    """Send Prefect's queued events and logs while the server still answers (Prefect would do
    it at exit, and then retry for a while against the stopped server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s, at_exit=False)


def _run(verbose: bool, **params: object):  # noqa: ANN202
    _quiet_prefect(verbose)
    with interrupted_by_signals():
        from flows.preflight import preflight

        # Before Prefect is imported (seconds on a busy machine): a mistake is one line at once.
        preflight(
            params["source"],
            params["db"],
            params["config_file"],
            bool(params.get("demo")),
            params.get("dask_address"),
        )
        from flows.pipeline import run_flow

        with (
            err_console.status("starting", spinner="dots") as status,
            prefect_api(params["config_file"]),
        ):

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
    if summary.report_dir:
        console.print(f"outcome report: {Path(summary.report_dir) / 'index.html'}")


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
@click.option(
    "--shards",
    type=click.IntRange(1, 4096),
    help="Patient shards: one Prefect task each [default: run.shards].",
)
@click.option(
    "--dask-address",
    metavar="tcp://HOST:PORT",
    help="Run the shards on this existing dask.distributed cluster [default: run.dask_address; "
    "none: Prefect's thread pool]. Its workers need nelmtrack installed, PREFECT_API_URL, and "
    "run.shard_folder on a filesystem they share.",
)
@click.option("--verbose", is_flag=True, help="Show progress and Prefect's logs.")
def run(
    source: Path,
    db: Path,
    config_file: Path | None,
    full_refresh: bool,
    prune: bool,
    accept_shrink: bool,
    shards: int | None,
    dask_address: str | None,
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
        shards=shards,
        dask_address=dask_address,
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
    from flows.serve import SUPERVISED_ENV, serve_pipeline, supervise

    if not os.environ.get(SUPERVISED_ENV):
        args = ["serve", "--source", str(source), "--db", str(db)]
        args += ["--config", str(config_file)] if config_file else []
        args += ["--cron", cron] if cron else []
        args += ["--interval", str(interval_s)] if interval_s else []
        args += ["--prune"] * prune + ["--verbose"] * verbose
        sys.exit(supervise(args))
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML file overriding values of config/ (as given to run).",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    help="Check that this warehouse was built with the same key.",
)
@click.argument("identifiers", nargs=-1)
def key(config_file: Path | None, db: Path | None, identifiers: tuple[str, ...]) -> None:
    """Print the patient_key of source patient identifiers, one line each, in order.

    The identifiers are the arguments or, with none, the lines of stdin (better: they
    then stay out of the process list and the shell history). The key is found as
    `run` finds it. Nothing else is written anywhere: no log, no Prefect record.
    """
    from config import load_config
    from flows.privacy import key_fingerprint, needs_prefect, patient_keys, pseudonymiser_for

    cfg = load_config(config_file)
    if identifiers:
        ids = list(identifiers)
    elif sys.stdin.isatty():
        raise click.UsageError("give identifiers as arguments, or one per line on stdin")
    else:
        ids = [line.rstrip("\r\n") for line in sys.stdin]
    if needs_prefect(cfg):
        _quiet_prefect(verbose=False)
        with prefect_api(config_file):
            pseudonymiser = pseudonymiser_for(cfg, demo=False)
    else:
        pseudonymiser = pseudonymiser_for(cfg, demo=False)
    if db is not None:
        _check_same_key(db, key_fingerprint(pseudonymiser))
    click.echo("".join(f"{k or ''}\n" for k in patient_keys(pseudonymiser, ids)), nl=False)


def _check_same_key(db: Path, fingerprint: str) -> None:
    from flows.privacy import ConfigurationError
    from warehouse import open_read_only

    con = open_read_only(db)
    try:
        recorded = con.execute("SELECT fingerprint FROM meta.key_check").fetchall()
    finally:
        con.close()
    if recorded and recorded[0][0] != fingerprint:
        raise ConfigurationError(
            f"{db.name} was built with another pseudonymisation key (or the already-pseudonymous "
            "setting differs): these keys would not match its patient_key values"
        )


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
    """Run a read-only SQL query against the warehouse.

    The query sees the warehouse and nothing else: it cannot read or write files
    (COPY … TO, EXPORT DATABASE, read_csv, ATTACH are refused). Values are printed as
    data: markup is not interpreted, control characters are escaped in the table, JSON
    has null for NaN and infinities, and nested values are JSON text in CSV.
    """
    import duckdb

    from warehouse import WarehouseError, open_read_only

    con = open_read_only(db)
    try:
        # The database file is already attached; from here on no file is opened.
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            rel = con.sql(query)
            result = None if rel is None else rel.to_arrow_table()
        except duckdb.PermissionException:
            raise WarehouseError(
                "the query tried to use a file or the network (COPY … TO, EXPORT DATABASE, "
                "read_csv, ATTACH, …); nelmtrack sql reads the warehouse only"
            ) from None
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    if result is not None:
        _print_table(result, fmt)


#: C0 and C1 control characters and DEL, shown as escapes so a value cannot drive the
#: terminal (ANSI colour, cursor moves, a carriage return hiding text).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


def escape_control(text: str) -> str:
    return text.translate(_CONTROL)


def json_value(value: object) -> object:
    """A Python value from Arrow as plain JSON: null for NaN and ±inf, numbers for decimals,
    ISO text for dates and times, hex for bytes."""
    import datetime
    import decimal
    import math

    import pyarrow as pa

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, pa.MonthDayNano):  # an INTERVAL
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, list | tuple):
        # A MAP comes as a list of (key, value) pairs.
        return [json_value(v) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _json_text(value: object) -> str:
    import json

    text = json.dumps(json_value(value), ensure_ascii=False, allow_nan=False, default=str)
    # JSON escapes C0 controls itself; escape DEL and C1 too (same value, safe terminal).
    return "".join(f"\\u{ord(c):04x}" if 0x7F <= ord(c) < 0xA0 else c for c in text)


def _plain_columns(result):  # noqa: ANN001, ANN202 (pyarrow.Table in and out)
    """Nested columns (lists, structs, maps) as JSON text, which CSV can hold."""
    import pyarrow as pa

    for i, field in enumerate(result.schema):
        if pa.types.is_nested(field.type):
            text = pa.array(
                [None if v is None else _json_text(v) for v in result.column(i).to_pylist()],
                pa.string(),
            )
            result = result.set_column(i, pa.field(field.name, pa.string()), text)
    return result


def _print_table(result, fmt: str) -> None:  # noqa: ANN001
    out = sys.stdout
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        result = _plain_columns(result)
        if out.isatty():  # data for a pipe is exact; on a terminal, escapes stay inert
            for i, field in enumerate(result.schema):
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                    col = pa.array(
                        [
                            None if v is None else escape_control(v)
                            for v in result.column(i).to_pylist()
                        ],
                        field.type,
                    )
                    result = result.set_column(i, field, col)
        out.flush()
        pacsv.write_csv(result, out.buffer)
        out.buffer.flush()
    elif fmt == "json":
        rows = result.to_pylist()
        click.echo("[" + ",".join(_json_text(row) for row in rows) + "]")
    else:
        from rich.text import Text

        # No markup, no emoji codes, no highlighting: values are printed as they are. Off a
        # terminal nothing is cut: the table is as wide as its widest row.
        plain = Console(
            file=out,
            markup=False,
            emoji=False,
            highlight=False,
            width=None if out.isatty() else 1_000_000,
        )
        table = Table(show_lines=False)
        for name in result.column_names:
            table.add_column(Text(escape_control(name)), overflow="fold")
        for row in result.to_pylist():
            table.add_row(
                *(Text("" if v is None else escape_control(_cell_text(v))) for v in row.values())
            )
        plain.print(table, crop=False)
        plain.print(f"({result.num_rows} rows)")


def _cell_text(value: object) -> str:
    return _json_text(value) if isinstance(value, dict | list) else str(value)


@main.command()
@click.option("--db", type=click.Path(path_type=Path), required=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write into [default: <db stem>_report/ beside the warehouse; with "
    "--patient, <db stem>_report_patients/].",
)
@click.option(
    "--patient",
    default=None,
    help="Write one patient's page: a patient_key, or a source identifier when the "
    "pseudonymisation key is configured (as for `nelmtrack key`).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML file overriding values of config/ (as given to run).",
)
def report(db: Path, out_dir: Path | None, patient: str | None, config_file: Path | None) -> None:
    """Write the outcome report of a warehouse (responses, survival, prognostic flags).

    Every `run` and `demo` writes it too. The report names patients by a report
    number only and shows no date; it opens offline (static SVG, no script).
    """
    from config import load_config
    from report import publish_report

    cfg = load_config(config_file)
    if patient is None:
        index = publish_report(db, cfg, out_dir)
        console.print(f"outcome report: {index}")
        return
    page = _patient_page(db, cfg, config_file, patient, out_dir)
    console.print(f"patient page: {page}")


def _patient_page(
    db: Path, cfg, config_file: Path | None, given: str, out_dir: Path | None
) -> Path:  # noqa: ANN001, E501
    """The page of the patient whose patient_key is ``given``, or whose source identifier is
    (when a key is configured). The identifier is never printed: an unknown one is reported
    as "no patient with a session matches"."""
    from flows.privacy import ConfigurationError, key_fingerprint, patient_keys
    from report import require_survival, write_patient_page
    from warehouse import WarehouseError, open_read_only

    db = Path(db).resolve()
    out_dir = out_dir or db.parent / f"{db.stem}_report_patients"
    con = open_read_only(db)
    try:
        require_survival(con, db)
        known = con.execute(
            "SELECT count(*) FROM survival WHERE patient_key = $k", {"k": given}
        ).fetchone()[0]
        key = given
        if not known:
            pseudonymiser = _configured_pseudonymiser(cfg, config_file)
            if pseudonymiser is not False:
                recorded = con.execute("SELECT fingerprint FROM meta.key_check").fetchall()
                if recorded and recorded[0][0] != key_fingerprint(pseudonymiser):
                    raise ConfigurationError(
                        f"{db.name} was built with another pseudonymisation key: the "
                        "identifier cannot be matched"
                    )
                key = patient_keys(pseudonymiser, [given])[0] or ""
        page = write_patient_page(con, cfg, key, out_dir)
    finally:
        con.close()
    if page is None:
        raise WarehouseError(
            "no patient with a session matches the given patient_key or identifier"
        )
    return page


def _configured_pseudonymiser(cfg, config_file: Path | None):  # noqa: ANN001, ANN202
    """The pseudonymiser as `run` finds it, or False when no key is configured."""
    from flows.privacy import (
        KEY_ENV,
        key_block_name,
        needs_prefect,
        pseudonymiser_for,
    )

    if not (
        os.environ.get(KEY_ENV)
        or key_block_name(cfg)
        or cfg.value("privacy.identifiers_already_pseudonymous")
    ):
        return False
    if needs_prefect(cfg):
        _quiet_prefect(verbose=False)
        with prefect_api(config_file):
            return pseudonymiser_for(cfg, demo=False)
    return pseudonymiser_for(cfg, demo=False)


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


@main.command()
@click.option("--db", type=click.Path(path_type=Path), required=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="csv flattens list columns to ';'-joined items",
)
@click.option(
    "--tables",
    multiple=True,
    help="Public tables to export (comma-separated or repeated) [default: all]",
)
@click.option(
    "--adam",
    is_flag=True,
    help="CDISC ADaM instead: ADRS and ADTTE as Parquet and CSV with define-like metadata.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML file overriding values of config/ (--adam).",
)
def export(
    db: Path,
    out_dir: Path,
    fmt: str,
    tables: tuple[str, ...],
    adam: bool,
    config_file: Path | None,
) -> None:
    """Write the public tables to Parquet or CSV files, for R, pandas or a spreadsheet."""
    if adam:
        _export_adam(db, out_dir, config_file)
        return
    from warehouse.export import export_tables

    names = [t.strip() for item in tables for t in item.split(",") if t.strip()]
    exported = export_tables(db, out_dir, fmt, names or None)
    rows = sum(t.rows for t in exported)
    console.print(f"exported {len(exported)} tables ({rows:,} rows) as {fmt} to {out_dir}")


def _export_adam(db: Path, out_dir: Path, config_file: Path | None) -> None:
    """``export --adam``: ADRS and ADTTE as Parquet and CSV with define-like metadata."""
    from adam import export_adam
    from config import load_config

    result = export_adam(db, out_dir, load_config(config_file))
    console.print(
        ", ".join(f"{name} {n:,} records" for name, n in result.records.items())
        + f" → {out_dir} (Parquet, CSV, define.json, define.csv)"
    )


if __name__ == "__main__":
    main()
