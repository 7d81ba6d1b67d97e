"""End-to-end: the `nelmtrack` CLI on a generated cohort (Prefect flow included)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from contract import FACT_TABLES as FACTS
from contract import PUBLIC_TABLES
from flows.cli import main

# Each test reads a whole demo run (Prefect, every stage).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    work = tmp_path_factory.mktemp("demo")
    src, db = work / "src", work / "w.duckdb"
    result = CliRunner().invoke(
        main, ["demo", "--patients", "20", "--out", str(src), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    return src, db, result.output


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def spoiled(src: Path) -> set[tuple[str, str, int, str | None, str, str]]:
    with (src / "_generator" / "spoiled_rows.csv").open() as fh:
        return {
            (
                r["dataset"],
                r["source_file"],
                int(r["source_row"]),
                r["column_name"] or None,
                r["reason_code"],
                r["action"],
            )
            for r in csv.DictReader(fh)
        }


def source_rows(src: Path, dataset: str) -> int:
    total = 0
    for path in src.glob(f"{dataset}_*.csv"):
        with path.open(newline="") as fh:
            total += sum(1 for _ in csv.reader(fh)) - 1
    return total


def test_demo_prints_a_summary(demo: tuple[Path, Path, str]) -> None:
    _, db, output = demo
    assert "rows by dataset" in output and "quarantined by reason" in output
    assert str(db.name) in output
    assert "sessions by flag and eligibility criterion" in output


def test_every_dataset_balances_read_loaded_quarantined(demo: tuple[Path, Path, str]) -> None:
    src, db, _ = demo
    for dataset, table in FACTS.items():
        read = source_rows(src, dataset)
        [(loaded,)] = query(db, f"SELECT count(*) FROM {table}")
        # a row whose optional value was nulled is loaded; a rejected row is not
        [(rejected,)] = query(
            db,
            "SELECT count(DISTINCT (source_file, source_row)) FROM quarantine "
            f"WHERE dataset = '{dataset}' AND action = 'row_rejected'",
        )
        assert read > 0
        assert read == loaded + rejected, dataset


def test_every_spoiled_row_and_no_good_row_is_quarantined(demo: tuple[Path, Path, str]) -> None:
    src, db, _ = demo
    expected = spoiled(src)
    got = set(
        query(
            db,
            "SELECT dataset, source_file, source_row, column_name, reason_code, action "
            "FROM quarantine",
        )
    )
    assert got == expected
    # optional values spoiled by the generator are nulled and their rows load
    assert {(d, c, a) for d, _, _, c, _, a in expected if a == "value_nulled"} >= {
        ("imaging", "ascites", "value_nulled"),
        ("imaging", "liver_tumor_burden_pct", "value_nulled"),
    }
    # the generator injects every kind of bad row even in a 20-patient cohort
    assert {code for *_, code, _ in expected} >= {
        "missing_required",
        "bad_date",
        "bad_number",
        "bad_boolean",
        "out_of_range",
        "unknown_vocabulary",
        "unknown_modality",
        "unknown_territory",
        "unknown_unit",
        "duplicate_row",
        "orphan_study",
        "target_after_baseline",
    }


def test_derived_tables_are_filled_for_every_patient_with_sessions(
    demo: tuple[Path, Path, str],
) -> None:
    _, db, _ = demo
    [(patients_with_sessions, sessions)] = query(
        db, "SELECT count(DISTINCT patient_key), count(*) FROM sessions"
    )
    [(course_rows,)] = query(db, "SELECT count(*) FROM best_responses WHERE scope = 'course'")
    [(session_rows,)] = query(db, "SELECT count(*) FROM best_responses WHERE scope <> 'course'")
    assert course_rows == 2 * patients_with_sessions  # RECIST1.1 and mRECIST
    assert session_rows == 2 * sessions
    [(flags,)] = query(db, "SELECT count(*) FROM session_flags")
    [(labs,)] = query(db, "SELECT count(*) FROM session_labs")
    assert flags == labs == sessions
    [(missing_reason,)] = query(
        db,
        "SELECT count(*) FROM timepoint_responses WHERE overall_response IS NOT NULL "
        "AND (reason IS NULL OR reason = '')",
    )
    assert missing_reason == 0
    [(runs, status)] = query(db, "SELECT count(*), any_value(status) FROM pipeline_runs")
    assert (runs, status) == (1, "succeeded")


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            name: sorted(con.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            for name in PUBLIC_TABLES
            if name != "pipeline_runs"
        }
    finally:
        con.close()


def test_running_twice_on_the_same_folder_changes_nothing(
    demo: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, _, _ = demo
    db = tmp_path / "twice.duckdb"
    monkeypatch.setenv("NELMTRACK_PSEUDONYM_KEY", "a test secret")
    runner = CliRunner()
    first = runner.invoke(main, ["run", "--source", str(src), "--db", str(db)])
    assert first.exit_code == 0, first.output
    before = _snapshot(db)
    second = runner.invoke(main, ["run", "--source", str(src), "--db", str(db)])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _snapshot(db) == before
    [(runs,)] = query(db, "SELECT count(*) FROM pipeline_runs")
    assert runs == 2


def test_sql_command_prints_csv_and_json(demo: tuple[Path, Path, str]) -> None:
    _, db, _ = demo
    runner = CliRunner()
    sql = "SELECT criteria, count(*) AS n FROM best_responses GROUP BY 1 ORDER BY 1"
    as_json = runner.invoke(main, ["sql", "--db", str(db), "--format", "json", sql])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [r["criteria"] for r in rows] == ["RECIST1.1", "mRECIST"]
    as_csv = runner.invoke(main, ["sql", "--db", str(db), "--format", "csv", sql])
    assert as_csv.output.splitlines()[0] == '"criteria","n"'


def test_sql_command_cannot_write(demo: tuple[Path, Path, str]) -> None:
    _, db, _ = demo
    result = CliRunner().invoke(main, ["sql", "--db", str(db), "DELETE FROM patients"])
    assert result.exit_code == 2
    [(n,)] = query(db, "SELECT count(*) FROM patients")
    assert n > 0


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_folder", "does not exist"),
        ("no_dataset", "no known dataset"),
        ("corrupt_db", "not a readable nelmtrack warehouse"),
        ("bad_config", "unknown setting"),
        ("no_key", "NELMTRACK_PSEUDONYM_KEY"),
    ],
)
def test_user_errors_give_one_line_and_exit_2(
    demo: tuple[Path, Path, str], tmp_path: Path, case: str, message: str
) -> None:
    src, _, _ = demo
    db = tmp_path / "w.duckdb"
    env = {"NELMTRACK_PSEUDONYM_KEY": "k"}
    args = ["run", "--source", str(src), "--db", str(db)]
    if case == "missing_folder":
        args[2] = str(tmp_path / "nope")
    elif case == "no_dataset":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("x")
        args[2] = str(tmp_path / "empty")
    elif case == "corrupt_db":
        db.write_bytes(b"this is not a database")
    elif case == "bad_config":
        (tmp_path / "c.toml").write_text("[response]\nno_such_threshold = 3\n")
        args += ["--config", str(tmp_path / "c.toml")]
    elif case == "no_key":
        env = {"NELMTRACK_PSEUDONYM_KEY": ""}
    result = _cli(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
