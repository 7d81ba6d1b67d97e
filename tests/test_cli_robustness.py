"""The CLI on a busy machine and under signals: one line per error, clean interrupts, data
printed as data, and no process left behind (issue 9, points 7-10 and 12).

Signal tests never depend on timing: the run is told (test hook
``NELMTRACK_TEST_PAUSE_AT=<stage>:<file>``, flows.pipeline) to create a file when it
reaches a stage and to wait there; the test waits for the file, then sends the signal.
Every process a CLI run starts inherits a marker in its environment, so a survivor is
found whoever its parent became.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from pipeline_helpers import (
    CONFIG,
    MARKER_VAR,
    REPO,
    TEST_KEY,
    cli_command,
    cli_env,
    eventually,
    file_sha256,
    kill_group,
    make_source,
    once_per_session,
    only_file,
    processes_with,
    query,
    read_csv,
    run_cli,
    write_csv,
)

from flows.cli import Interrupted, interrupted_by_signals, main
from flows.pipeline import TEST_PAUSE_ENV, run_pipeline
from sources import Pseudonymiser


def no_process_with(marker: str, grace_s: float = 30) -> bool:
    """True once no process carries the marker."""
    return eventually(lambda: not processes_with(marker), grace_s)


def published_once(root: Path) -> dict[str, str]:
    source = make_source(root / "source", patients=30, seed=41)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        run_pipeline(source, root / "wh.duckdb", CONFIG)
    return {"source": str(source), "db": str(root / "wh.duckdb")}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 30-patient source folder and the warehouse published from it."""
    paths = once_per_session(tmp_path_factory, "robustness", published_once)
    return {name: Path(path) for name, path in paths.items()}


@pytest.fixture
def warehouse(published: dict[str, Path], tmp_path: Path) -> Path:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(published["db"], db)
    return db


def run_args(source: Path, db: Path, *extra: str) -> list[str]:
    config = ["--config", CONFIG] if CONFIG else []
    return ["run", "--source", str(source), "--db", str(db), *config, *extra]


def start_paused_run(source: Path, db: Path, stage: str, env: dict[str, str]):  # noqa: ANN201
    """A ``nelmtrack run --full-refresh`` subprocess, once it waits at ``stage``."""
    reached = db.parent / f"reached-{stage}"
    process = subprocess.Popen(
        cli_command(*run_args(source, db, "--full-refresh")),
        cwd=REPO,
        env={**env, TEST_PAUSE_ENV: f"{stage}:{reached}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    while not reached.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before {stage}: {process.returncode}\n{err[-3000:]}")
        time.sleep(0.1)
    return process


def assert_nothing_published(db: Path, published_bytes: str) -> None:
    assert file_sha256(db) == published_bytes
    assert not list(db.parent.glob(f"{db.name}.building-*"))
    assert not list(db.parent.glob(f"{db.stem}_dq.building-*"))


# --- 8. signals and Prefect's start-up -----------------------------------------------------


@pytest.mark.slow
def test_sigint_during_run_exits_130_publishes_nothing(
    published: dict[str, Path], warehouse: Path
) -> None:
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group. No
    # PREFECT_API_URL: the run starts its own temporary server (the case that hung).
    marker = uuid.uuid4().hex
    env = cli_env(PREFECT_API_URL="", **{MARKER_VAR: marker})
    before = file_sha256(warehouse)
    process = start_paused_run(published["source"], warehouse, "transforms", env)
    try:
        sent = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
        print(f"SIGINT to exit: {time.monotonic() - sent:.1f} s")
    finally:
        kill_group(process.pid)
    assert process.returncode == 130, err[-3000:]
    assert err.strip().splitlines() == [
        "stopped by SIGINT: nothing was published, the warehouse is as it was"
    ]
    assert "Traceback" not in out + err
    assert_nothing_published(warehouse, before)
    assert no_process_with(marker)  # the temporary server went with the run


def test_a_signal_during_a_duckdb_query_is_an_interruption_not_a_query_error() -> None:
    """DuckDB stops a query on SIGINT and raises RuntimeError('Query interrupted') in
    place of the handler's exception; the CLI must still say "stopped by SIGINT" (exit
    130), not "unexpected RuntimeError". The signal is sent from inside the query (a
    UDF), so it always arrives while DuckDB runs."""
    con = duckdb.connect()

    def send_sigint_at(i: int) -> int:
        if i == 1000:
            os.kill(os.getpid(), signal.SIGINT)
        return i

    con.create_function("send_sigint_at", send_sigint_at)
    with pytest.raises(Interrupted) as caught, interrupted_by_signals():
        con.execute("SELECT sum(send_sigint_at(i::INTEGER)) FROM range(100000) t(i)").fetchall()
    assert caught.value.exit_code == 130
    assert isinstance(caught.value.__cause__, duckdb.Error | RuntimeError)
    con.close()


@pytest.mark.slow
def test_sigterm_during_run_exits_143(published: dict[str, Path], warehouse: Path) -> None:
    # At the last moment before the rename that would publish the build.
    before = file_sha256(warehouse)
    process = start_paused_run(published["source"], warehouse, "publish", cli_env())
    try:
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
        print(f"SIGTERM to exit: {time.monotonic() - sent:.1f} s")
    finally:
        kill_group(process.pid)
    assert process.returncode == 143, err[-3000:]
    assert err.strip().splitlines() == [
        "stopped by SIGTERM: nothing was published, the warehouse is as it was"
    ]
    assert "Traceback" not in out + err
    assert_nothing_published(warehouse, before)
    # The next run completes normally.
    rerun = run_cli(*run_args(published["source"], warehouse, "--full-refresh"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]


def test_prefect_start_timeout_one_line(published: dict[str, Path], warehouse: Path) -> None:
    marker = uuid.uuid4().hex
    env = cli_env(
        PREFECT_API_URL="",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0",  # as if it never answers
        **{MARKER_VAR: marker},
    )
    before = file_sha256(warehouse)
    result = run_cli(*run_args(published["source"], warehouse), env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "did not start within 0 s (2 attempts; its messages: " in line
    assert "nelmtrack-server.log" in line
    assert "PREFECT_API_URL=" in line and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in line
    assert_nothing_published(warehouse, before)
    assert no_process_with(marker)


# --- 9. every error is one line ---------------------------------------------------------------


def test_unexpected_error_one_line(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import flows.preflight  # noqa: F401 (imported, as by a run, before the patch below)
    import warehouse as warehouse_module

    def fails_reading(db: object) -> None:
        raise duckdb.ParserException("zero-length delimited identifier near 'NELM-000040'")

    monkeypatch.setattr(warehouse_module, "open_read_only", fails_reading)
    result = CliRunner().invoke(main, ["sql", "--db", str(warehouse), "SELECT 1"])
    assert result.exit_code == 2  # an input nelmtrack could not read
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: unexpected ParserException in tests/test_cli_robustness.py:")
    assert "--verbose" in line
    assert "NELM-000040" not in result.output  # the message may quote source values

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("flows.preflight.preflight", bug)
    source = tmp_path / "source"
    source.mkdir()
    quiet = CliRunner().invoke(main, run_args(source, warehouse))
    assert quiet.exit_code == 1
    [line] = quiet.stderr.strip().splitlines()
    assert line.startswith("error: unexpected RuntimeError in tests/test_cli_robustness.py:")
    verbose = CliRunner().invoke(main, run_args(source, warehouse, "--verbose"))
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr and "RuntimeError: a bug" in verbose.stderr


@pytest.mark.slow
def test_trailing_comma_header_is_one_line_or_loads(
    published: dict[str, Path], warehouse: Path, tmp_path: Path
) -> None:
    """Excel's empty trailing column: loaded (sources/ ignores it) or one line, never a
    traceback."""
    source = shutil.copytree(published["source"], tmp_path / "source")
    lesions = only_file(source, "lesions")
    rows = read_csv(lesions)
    write_csv(lesions, [[*row, ""] for row in rows])
    result = run_cli(*run_args(source, warehouse))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode in (0, 2), result.stderr[-3000:]
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) == 1


# --- 10. sql prints data as data ----------------------------------------------------------


def sql(db: Path, query: str, *fmt: str) -> subprocess.CompletedProcess:
    """``nelmtrack sql`` in a subprocess: stdout is a pipe, as in a script."""
    return subprocess.run(
        cli_command("sql", "--db", str(db), *fmt, query),
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sql_markup_printed_literally(warehouse: Path) -> None:
    result = sql(warehouse, "SELECT '[red]x[/red]' AS \"[bold]a\", ':x: [link=y]z' AS b")
    assert result.returncode == 0, result.stderr
    assert "[red]x[/red]" in result.stdout and ":x: [link=y]z" in result.stdout
    assert "[bold]a" in result.stdout
    assert "\x1b" not in result.stdout


def test_sql_control_characters_escaped(warehouse: Path) -> None:
    q = "SELECT 'a' || chr(27) || '[31mred' || chr(10) || 'b' || chr(13) || chr(155) AS v"
    table = sql(warehouse, q)
    assert table.returncode == 0, table.stderr
    assert "a\\x1b[31mred\\nb\\r\\x9b" in table.stdout
    assert not any(ch in table.stdout for ch in "\x1b\r\x9b")
    as_json = sql(warehouse, q, "--format", "json")
    assert "\x1b" not in as_json.stdout and "\x9b" not in as_json.stdout
    assert json.loads(as_json.stdout) == [{"v": "a\x1b[31mred\nb\r\x9b"}]  # the same value


def test_sql_json_nan_is_null(warehouse: Path) -> None:
    q = (
        "SELECT 'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, '-inf'::DOUBLE AS minus_inf, "
        "1.25::DECIMAL(10, 2) AS dec, 3::DECIMAL(10, 2) AS whole, [1.5, 'nan'::DOUBLE] AS l, "
        "DATE '2024-01-02' AS d"
    )
    result = sql(warehouse, q, "--format", "json")
    assert result.returncode == 0, result.stderr

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    rows = json.loads(result.stdout, parse_constant=refuse)
    assert rows == [
        {
            "nan": None,
            "inf": None,
            "minus_inf": None,
            "dec": 1.25,
            "whole": 3,
            "l": [1.5, None],
            "d": "2024-01-02",
        }
    ]


def test_sql_csv_list_columns(warehouse: Path) -> None:
    order = "ORDER BY source_file, source_row"
    result = sql(warehouse, f"SELECT * FROM sessions {order}", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = query(warehouse, f"SELECT treated_segments FROM sessions {order}")
    assert len(rows) == len(expected) > 0
    assert [json.loads(r["treated_segments"]) for r in rows] == [s for (s,) in expected]
    nested = sql(warehouse, "SELECT {'a': 1, 'b': [2]} AS s, MAP {'k': 1} AS m", "--format", "csv")
    assert nested.returncode == 0, nested.stderr
    [row] = list(csv.DictReader(io.StringIO(nested.stdout)))
    assert json.loads(row["s"]) == {"a": 1, "b": [2]}


def test_sql_pipe_full_width(warehouse: Path) -> None:
    wide = "w" * 300
    result = sql(warehouse, f"SELECT '{wide}' AS a, patient_key FROM patients LIMIT 3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if wide in line]
    assert len(lines) == 3  # never cut or wrapped
    assert all(len(line) > 300 for line in lines)


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT * FROM patients) TO '{out}/patients.csv'",
        "EXPORT DATABASE '{out}/export'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH '{out}/other.duckdb' AS other",
    ],
)
def test_sql_external_access_refused(warehouse: Path, tmp_path: Path, statement: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = sql(warehouse, statement.format(out=out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the query tried to use a file or the network (COPY … TO, EXPORT DATABASE, "
        "read_csv, ATTACH, …); nelmtrack sql reads the warehouse only"
    ]
    assert list(out.iterdir()) == []
    assert "root:" not in result.stdout


# --- 7. nelmtrack key -------------------------------------------------------------------------


def test_key_command_prints_patient_key(
    published: dict[str, Path], warehouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = read_csv(only_file(published["source"], "patients"))
    col = rows[0].index("patient_id")
    ids = [row[col] for row in rows[1:4]]
    stored = query(
        warehouse,
        "SELECT patient_key FROM patients WHERE source_row IN (1, 2, 3) ORDER BY source_row",
    )
    monkeypatch.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
    runner = CliRunner()
    by_args = runner.invoke(main, ["key", "--db", str(warehouse), *ids])
    assert by_args.exit_code == 0, by_args.output
    assert by_args.stdout.splitlines() == [k for (k,) in stored]
    assert by_args.stderr == ""  # nothing else is written
    # From stdin, in order, an empty line kept as an empty line, spaces trimmed as when read.
    by_stdin = runner.invoke(main, ["key"], input=f" {ids[0]} \n\n{ids[1]}\n")
    assert by_stdin.stdout.splitlines() == [stored[0][0], "", stored[1][0]]
    assert stored[0][0] == Pseudonymiser(TEST_KEY.encode()).reference_key(ids[0])
    # Another key would not find the patient: refused against the warehouse.
    monkeypatch.setenv("NELMTRACK_PSEUDONYM_KEY", "another key")
    other = runner.invoke(main, ["key", "--db", str(warehouse), ids[0]])
    assert other.exit_code == 2
    assert "built with another pseudonymisation key" in other.stderr
    # Identifiers already pseudonymous: the key is the identifier itself.
    monkeypatch.delenv("NELMTRACK_PSEUDONYM_KEY")
    config = tmp_path / "pseudonymous.toml"
    config.write_text("[privacy]\nidentifiers_already_pseudonymous = true\n")
    same = runner.invoke(main, ["key", "--config", str(config), " S-0001 "])
    assert same.stdout == "S-0001\n"
    none = runner.invoke(main, ["key", ids[0]])
    assert none.exit_code == 2 and "NELMTRACK_PSEUDONYM_KEY" in none.stderr


# --- 12. one Prefect server per test session, and nothing left behind -----------------------

INNER_TEST = """
import os, pathlib

def _record(name):
    from prefect import flow

    @flow
    def answer() -> int:
        return 42

    assert answer() == 42  # a flow run in this test process, on the session's server
    pathlib.Path(os.environ["INNER_OUT"], name).write_text(os.environ["PREFECT_API_URL"])

def test_one():
    _record("one")

def test_two():
    _record("two")
"""


@pytest.mark.slow
def test_no_process_left_behind(tmp_path: Path) -> None:
    """A whole pytest session with two xdist workers, as CI runs it: both workers use the
    one server, and when pytest exits no process it started survives."""
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    out = tmp_path / "out"
    out.mkdir()
    marker = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "NELMTRACK_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join((str(REPO / "tests"), str(REPO))),
        INNER_OUT=str(out),
        **{MARKER_VAR: marker},
    )
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider"]
        + ["-n", "2", "-q", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = inner.communicate(timeout=900)
        left = no_process_with(marker)
    finally:
        kill_group(inner.pid)
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
    assert inner.returncode == 0, output[-3000:]
    urls = {path.read_text() for path in out.iterdir()}
    assert len(urls) == 1 and len(list(out.iterdir())) == 2  # both workers, one server
    assert left, "a process of the inner test session survived it"
