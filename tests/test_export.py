"""`nelmtrack export` (issue 10): every public table to Parquet or CSV, read back equal.

The warehouse is the clean synthetic one of the DQ tests (every public table
filled, typed as the DDL declares), published like a run would; the slow test
does the same on a generated demo cohort.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from test_dq_synthetic import clean_outputs

from flows.cli import main
from warehouse import PUBLIC_TABLES, start_build

SOURCE_IDENTIFIER = "MRN-0042-SECRET"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "w.duckdb"
    build = start_build(path, "run-clean")
    for name, table in clean_outputs().items():
        build.replace_table(name, table)
    # A raw-layer row carrying a source identifier: an export must never reach it.
    build.con.execute(f"CREATE TABLE raw.patients AS SELECT '{SOURCE_IDENTIFIER}' AS patient_id")
    build.publish()
    return path


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", *args])
    return result.exit_code, result.output


def table(db: Path, name: str, sql: str | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql or f"SELECT * FROM {name}").df()
    finally:
        con.close()


def arrow(db: Path, name: str) -> pa.Table:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {name}").to_arrow_table()
    finally:
        con.close()


def as_text(db: Path, name: str) -> pd.DataFrame:
    """The table as the CSV should spell it: lists ';'-joined, everything else DuckDB's text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        kinds = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
        columns = ", ".join(
            f"array_to_string({c}, ';') AS {c}" if t.endswith("[]") else f"{c}::VARCHAR AS {c}"
            for c, t in kinds
        )
        return con.sql(f"SELECT {columns} FROM {name}").df()
    finally:
        con.close()


def test_parquet_export_of_every_public_table_reads_back_equal(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    code, output = export("--db", str(db), "--out", str(out))
    assert code == 0, output
    assert f"exported {len(PUBLIC_TABLES)} tables" in output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [t["name"] for t in manifest["tables"]] == list(PUBLIC_TABLES)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.parquet" for t in PUBLIC_TABLES] + ["manifest.json"]
    )
    for name in PUBLIC_TABLES:
        got = pd.read_parquet(out / f"{name}.parquet", dtype_backend="pyarrow")
        want = arrow(db, name).to_pandas(types_mapper=pd.ArrowDtype)
        assert list(got.columns) == list(want.columns), name
        assert len(got) == len(want) == manifest["tables"][PUBLIC_TABLES.index(name)]["rows"]
        pd.testing.assert_frame_equal(got, want, obj=name)
    segments = pd.read_parquet(out / "sessions.parquet")["treated_segments"].dropna()
    assert len(segments) and all(list(v) == sorted(v) for v in segments)


def test_csv_export_flattens_lists_and_reads_back_equal(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    code, output = export("--db", str(db), "--out", str(out), "--format", "csv")
    assert code == 0, output
    for name in PUBLIC_TABLES:
        got = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])
        want = as_text(db, name)
        assert list(got.columns) == list(want.columns), name
        assert len(got) == len(want), name
        for column in want.columns:
            expected = want[column].tolist()
            actual = got[column].tolist()
            for a, e in zip(actual, expected, strict=True):
                if pd.isna(e) or e == "":
                    assert pd.isna(a), (name, column)
                elif a != e:  # DuckDB's CSV writer and VARCHAR cast may spell a float apart
                    assert float(a) == float(e), (name, column, a, e)
    manifest = json.loads((out / "manifest.json").read_text())
    sessions = next(t for t in manifest["tables"] if t["name"] == "sessions")
    assert sessions["flattened_columns"] == ["treated_segments"]
    segments = pd.read_csv(out / "sessions.csv", dtype=str)["treated_segments"].dropna()
    assert segments.str.fullmatch(r"\d+(;\d+)*").all()
    # booleans and dates as pandas (and readr) infer them with their defaults
    survival = pd.read_csv(out / "survival.csv")
    assert survival["os_event"].dtype == bool
    assert (survival["os_days"] >= 0).all()


def test_tables_option_and_no_identifier_in_any_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "some"
    code, output = export(
        "--db", str(db), "--out", str(out), "--format", "csv",
        "--tables", "survival,patients", "--tables", "sessions",
    )  # fmt: skip
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "patients.csv",
        "sessions.csv",
        "survival.csv",
    ]
    full = tmp_path / "all"
    assert export("--db", str(db), "--out", str(full), "--format", "csv")[0] == 0
    for path in [*out.iterdir(), *full.iterdir()]:
        assert SOURCE_IDENTIFIER not in path.read_text(), path.name


def test_a_new_export_replaces_the_old_one_whole(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert export("--db", str(db), "--out", str(out), "--format", "csv")[0] == 0
    assert export("--db", str(db), "--out", str(out), "--tables", "survival")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "survival.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no temporary folder left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tables", "raw.patients"], "unknown table 'raw.patients'; the public tables are"),
        (["--format", "xlsx"], "Invalid value for '--format'"),
    ],
)
def test_bad_requests_end_in_one_line(
    db: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    code, output = export("--db", str(db), "--out", str(tmp_path / "x"), *args)
    assert code == 2
    assert message in output
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_an_export_is_never_replaced(db: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, output = export("--db", str(db), "--out", str(tmp_path))
    assert code == 2
    assert output.strip().splitlines() == [
        f"error: {tmp_path} is not empty and holds no earlier export (manifest.json); "
        "choose a new or empty folder"
    ]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_no_warehouse_is_one_line(tmp_path: Path) -> None:
    code, output = export("--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "no warehouse at" in output and len(output.strip().splitlines()) == 1


@pytest.mark.slow
def test_export_of_a_generated_demo_cohort(tmp_path: Path) -> None:
    src, db = tmp_path / "src", tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        main, ["demo", "--patients", "20", "--out", str(src), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    for fmt in ("parquet", "csv"):
        out = tmp_path / fmt
        code, output = export("--db", str(db), "--out", str(out), "--format", fmt)
        assert code == 0, output
        survival = (
            pd.read_parquet(out / "survival.parquet")
            if fmt == "parquet"
            else pd.read_csv(out / "survival.csv")
        )
        want = table(db, "survival")
        assert len(survival) == len(want) == 20
        assert survival["os_days"].tolist() == want["os_days"].tolist()
