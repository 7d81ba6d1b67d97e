"""Delivery accidents (issue 9, points 1-3): the file-level contract, every record accounted
for, and the shrink guard. Each test reproduces one accident a hospital export really has.

Most tests read one file (``read_source_file``) or ingest and stage a small generated
cohort in process (``delivery_helpers.ingest_and_stage``); one slow test goes through the
CLI for the exit status, the one-line message and ``--accept-shrink``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from delivery_helpers import KEYS, ingest_and_stage, records_in, sha256
from hypothesis import given, settings
from hypothesis import strategies as st
from pipeline_helpers import make_source, only_file, read_csv, write_csv

from flows.stages import ShrinkError
from sources import NUMERIC_COLUMNS, REQUIRED_COLUMNS, SourceError, discover, read_source_file

PATIENTS = 20


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("cohort") / "src", patients=PATIENTS, seed=7)


@pytest.fixture
def source(cohort: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(cohort, tmp_path / "src"))


@pytest.fixture
def published(source: Path, tmp_path: Path) -> Path:
    """A warehouse published from the clean cohort."""
    db = tmp_path / "w.duckdb"
    ingest_and_stage(source, db, publish=True)
    return db


def read_one(folder: Path, name: str, text: str | bytes, **kwargs) -> object:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    [sf] = [f for f in discover(folder) if f.name == name]
    return read_source_file(sf, KEYS, set(), **kwargs)


def refused(folder: Path, name: str, text: str | bytes, **kwargs) -> str:
    with pytest.raises(SourceError) as err:
        read_one(folder, name, text, **kwargs)
    message = str(err.value)
    assert "\n" not in message and name in message
    return message


# --- point 1: the file-level contract ----------------------------------------------------


def test_header_typo_refused_with_missing_columns(tmp_path: Path) -> None:
    message = refused(tmp_path, "patients.csv", "patientid,sex\nNELM-000040,F\nNELM-000041,M\n")
    assert "patient_id" in message
    assert "NELM-0000" not in message  # a header-less file's first line is data: never echoed


def test_missing_unit_column_refused_not_quarantined(tmp_path: Path) -> None:
    text = "patient_id,collected_at,test,value\nA,2026-01-01,alb,4\n"
    message = refused(tmp_path, "labs.csv", text)
    assert "lacks the required column(s) unit" in message


def test_every_required_column_of_each_dataset_is_checked(tmp_path: Path) -> None:
    for dataset, required in REQUIRED_COLUMNS.items():
        for column in required:
            header = ",".join([*(c for c in required if c != column), "note"])
            message = refused(tmp_path, f"{dataset}.csv", header + "\n")
            assert f"column(s) {column} " in message
            (tmp_path / f"{dataset}.csv").unlink()


def test_trailing_empty_column_ignored(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "imaging.csv",
        "patient_id,study_date,modality,\nA,2026-01-01,CT,\nB,2026-01-02,MR,\n",
    )
    assert result.table.column_names == [
        "study_date",
        "modality",
        "patient_key",
        "source_file",
        "source_row",
    ]
    assert result.table.column("modality").to_pylist() == ["CT", "MR"]
    assert result.malformed_rows == [] and result.rows_read == 2


def test_trailing_comma_export_loads_every_row(source: Path, tmp_path: Path) -> None:
    """The issue's case: a header with a trailing comma gave a DuckDB ParserException."""
    clean = ingest_and_stage(source, tmp_path / "clean.duckdb")
    for path in source.glob("*.csv"):
        path.write_text("".join(line.rstrip("\n") + ",\n" for line in path.open()))
    outcome = ingest_and_stage(source, tmp_path / "trailing.duckdb")
    assert outcome.counts == clean.counts
    assert outcome.raw_columns == clean.raw_columns


def test_unnamed_column_with_values_refused(tmp_path: Path) -> None:
    text = "patient_id,,study_date,modality\nA,x,2026-01-01,CT\n"
    message = refused(tmp_path, "imaging.csv", text)
    assert "column without a name that holds values (column 2)" in message
    result = read_one(
        tmp_path, "imaging.csv", "patient_id,,study_date,modality\nA,,2026-01-01,CT\n"
    )
    assert result.table.column("modality").to_pylist() == ["CT"]  # an empty one is ignored


def test_semicolon_decimal_comma_file(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "sessions.csv",
        "patient_id;session_date;modality;treated_territory;activity_gbq;lvef_pct\n"
        "A;2026-01-01;TARE;5,6,7;1,85;62\n"
        "B;2026-02-01;TARE;right_lobe;2;55,5\n",
    )
    t = result.table
    assert result.delimiter == ";"
    assert t.column("activity_gbq").to_pylist() == ["1.85", "2"]
    assert t.column("lvef_pct").to_pylist() == ["62", "55.5"]
    # Not a numeric column: a segment list keeps its commas.
    assert t.column("treated_territory").to_pylist() == ["5,6,7", "right_lobe"]


def test_semicolon_decimal_comma_delivery_loads_like_the_comma_one(
    source: Path, tmp_path: Path
) -> None:
    """The issue's case: a semicolon export with decimal commas quarantined every row."""
    import csv
    import re

    comma = ingest_and_stage(source, tmp_path / "comma.duckdb")
    for path in source.glob("*.csv"):
        dataset = path.name.split("_")[0]
        rows = read_csv(path)
        numeric = [i for i, c in enumerate(rows[0]) if c in NUMERIC_COLUMNS[dataset]]
        for row in rows[1:]:
            for i in numeric:
                if i < len(row):
                    row[i] = re.sub(r"^([<>]?-?\d+)\.(\d+)$", r"\1,\2", row[i])
        with path.open("w", newline="") as fh:
            csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    assert "," in only_file(source, "labs").read_text().splitlines()[1]
    semicolon = ingest_and_stage(source, tmp_path / "semicolon.duckdb")
    assert semicolon.counts == comma.counts
    codes = [(q["source_file"], q["source_row"], q["reason_code"]) for q in comma.quarantine]
    assert [
        (q["source_file"], q["source_row"], q["reason_code"]) for q in semicolon.quarantine
    ] == codes


def test_semicolon_labs_censored_values_with_decimal_comma(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "labs.csv",
        "patient_id;collected_at;test;value;unit\nA;2026-01-01;bilirubin;<0,2;mg/dL\n"
        "A;2026-01-01;albumin;3,4;g/dL\nA;2026-01-01;ldh;1.234,5;U/L\n",
    )
    # A thousands separator is not guessed: 1.234,5 stays as given (then bad_number).
    assert result.table.column("value").to_pylist() == ["<0.2", "3.4", "1.234,5"]


def test_comma_file_never_reads_a_decimal_comma(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "labs.csv",
        'patient_id,collected_at,test,value,unit\nA,2026-01-01,albumin,"3,4",g/dL\n',
    )
    assert result.table.column("value").to_pylist() == ["3,4"]


def test_tab_delimited_file(tmp_path: Path) -> None:
    result = read_one(
        tmp_path, "imaging.csv", "patient_id\tstudy_date\tmodality\nA\t2026-01-01\tCT\n"
    )
    assert result.delimiter == "\t"
    assert result.table.column("study_date").to_pylist() == ["2026-01-01"]


def test_utf8_with_bom_and_crlf_is_read(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "imaging.csv",
        b"\xef\xbb\xbfPatient_ID,study_date,modality\r\nA,2026-01-01,CT\r\n",
    )
    assert result.table.column("modality").to_pylist() == ["CT"]


def test_non_utf8_file_refused_with_how_to_declare_its_encoding(tmp_path: Path) -> None:
    text = "patient_id,collected_at,test,value,unit\nA,2026-01-01,bilirubin,12,µmol/L\n"
    message = refused(tmp_path, "labs.csv", text.encode("cp1252"))
    assert "not valid UTF-8 (line 2)" in message and "encoding" in message


def test_declared_encoding_reads_a_cp1252_file(tmp_path: Path) -> None:
    text = "patient_id,collected_at,test,value,unit\nA,2026-01-01,bilirubin,12,µmol/L\n"
    result = read_one(tmp_path, "labs.csv", text.encode("cp1252"), encoding="cp1252")
    assert result.table.column("unit").to_pylist() == ["µmol/L"]


def test_unmapped_column_not_stored_in_raw(source: Path, tmp_path: Path) -> None:
    """The header typo and the semicolon file of the issue: nothing of them reaches raw."""
    patients = only_file(source, "patients")
    rows = read_csv(patients)
    rows[0][0] = "patientid"
    write_csv(patients, rows)
    db = tmp_path / "w.duckdb"
    with pytest.raises(SourceError, match="patients_part001.csv lacks the required column"):
        ingest_and_stage(source, db)
    assert not db.exists()  # nothing published, nothing half-written
    assert not list(tmp_path.glob("w.duckdb.building-*"))

    # A semicolon file is read as one: its columns are the contract's, not one whole line.
    rows[0][0] = "patient_id"
    patients.write_text("\n".join(";".join(r) for r in rows) + "\n")
    outcome = ingest_and_stage(source, db)
    assert outcome.raw_columns["patients"][:3] == ["sex", "birth_year", "primary_site"]
    assert not any(";" in c for cols in outcome.raw_columns.values() for c in cols)


def test_extra_columns_kept_raw_only_with_plain_names(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "imaging.csv",
        'patient_id,study_date,modality,Reader Note,"x""y",mrn\nA,2026-01-01,CT,ok,1,123\n',
    )
    result = read_source_file(discover(tmp_path)[0], KEYS, {"mrn"})
    assert "reader note" in result.table.column_names
    assert result.dropped_columns == ['x"y', "mrn"]


def test_xlsx_dataset_file(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "notes"
    book.active.append(["not the data"])
    sheet = book.create_sheet("Labs")
    sheet.append(["Patient_ID", "collected_at", "test", "value", "unit", None])
    sheet.append(["A", dt.datetime(2026, 1, 5), "albumin", 3.4, "g/dL"])
    sheet.append(["A", dt.datetime(2026, 1, 5, 8, 30), "platelets", 250, "10^9/L"])
    sheet.append([None, None, None, None, None])  # an empty row is no record
    sheet.append(['"B', dt.date(2026, 1, 6), "ldh", "<5", "U/L"])  # a stray quote is just text
    sheet.append(["C", "2026-01-07", "ldh", 180, "U/L", "stray"])  # a value beyond the header
    book.save(tmp_path / "labs_2026.xlsx")
    [sf] = discover(tmp_path)
    result = read_source_file(sf, KEYS, set())
    t = result.table
    assert sf.fmt == "xlsx" and result.rows_read == 4
    assert t.column("collected_at").to_pylist() == [
        "2026-01-05",
        "2026-01-05T08:30:00",
        "2026-01-06",
    ]
    assert t.column("value").to_pylist() == ["3.4", "250", "<5"]
    assert t.column("patient_key").to_pylist()[2] == KEYS.reference_key('"B')
    # Lineage: source_row is the sheet's data row (sheet row 2 is data row 1).
    assert t.column("source_row").to_pylist() == [1, 2, 4]
    assert result.malformed_rows == [5]
    assert result.malformed_reasons == ["sheet row 6 has values beyond the header"]


CELL = st.one_of(
    st.none(),
    st.sampled_from(['"L1', 'a"b', "5,6", "1;2", "x\ny", " ", "", "NA"]),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 100_000),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)),
)


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=12))
def test_xlsx_every_row_accounted_for(rows: list[list]) -> None:
    """A stray quote, a line break or any value in a cell never hides another row."""
    import tempfile

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["patient_id", "collected_at", "test", "value", "unit"])
    for row in rows:
        book.active.append(row)
    with tempfile.TemporaryDirectory() as folder:
        book.save(Path(folder) / "labs.xlsx")
        result = read_source_file(discover(folder)[0], KEYS, set())

    def filled(cells: list) -> bool:
        return any(c is not None and str(c).strip() for c in cells)

    assert result.rows_read == sum(filled(r) for r in rows)
    assert result.table.num_rows + len(result.malformed_rows) == result.rows_read
    assert result.malformed_rows == [i + 1 for i, r in enumerate(rows) if filled(r[5:])]


def test_xlsx_first_sheet_when_none_is_named_after_the_dataset(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["patient_id", "sex"])
    book.active.append(["A", "F"])
    book.save(tmp_path / "patients.xlsx")
    result = read_source_file(discover(tmp_path)[0], KEYS, set())
    assert result.table.column("sex").to_pylist() == ["F"]


def test_xlsx_without_required_columns_refused(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["patientid", "sex"])
    book.save(tmp_path / "patients.xlsx")
    message = refused(tmp_path, "patients.xlsx", (tmp_path / "patients.xlsx").read_bytes())
    assert "lacks the required column(s) patient_id" in message


def test_damaged_xlsx_refused_in_one_line(tmp_path: Path) -> None:
    message = refused(tmp_path, "labs.xlsx", b"PK\x03\x04 not really a workbook")
    assert "not a readable Excel workbook" in message


# --- point 2: every record accounted for -------------------------------------------------


def test_stray_quote_does_not_hide_records(source: Path, tmp_path: Path) -> None:
    """The issue's case: `"L1` as lesion_id on line 101 hid every later line."""
    lesions = only_file(source, "lesions")
    lines = lesions.read_text().splitlines(keepends=True)
    fields = lines[100].split(",")
    fields[2] = '"L1'
    lines[100] = ",".join(fields)
    lesions.write_text("".join(lines))
    outcome = ingest_and_stage(source, tmp_path / "w.duckdb")
    read, loaded, quarantined = outcome.file_counts[lesions.name]
    assert read == len(lines) - 1 == records_in(lesions.read_bytes())
    assert loaded + quarantined == read
    malformed = [q for q in outcome.quarantine if q["reason_code"] == "malformed_row"]
    assert [(q["source_file"], q["source_row"]) for q in malformed] == [(lesions.name, 100)]
    assert malformed[0]["reason"] == "line 101 has an unterminated or stray quote"
    assert all(c["read"] == c["loaded"] + c["quarantined"] for c in outcome.counts.values())


def test_wrong_field_count_and_nul_quarantined_with_their_line_numbers(tmp_path: Path) -> None:
    result = read_one(
        tmp_path,
        "imaging.csv",
        "patient_id,study_date,modality\n"
        "A,2026-01-01,CT\n"
        "B,2026-01-02\n"  # line 3: a field short
        "C,2026-01-03,MR,,\n"  # empty extra fields, as Excel writes them: fine
        "D,2026-01-04,MR,x\n"  # line 5: a value beyond the header
        "E,2026-01\x00-05,CT\n"  # line 6: NUL
        "\n"  # blank: no record
        'F,"2026-01-06",CT\n',
    )
    assert result.rows_read == 6
    assert result.malformed_rows == [2, 4, 5]
    assert result.malformed_reasons == [
        "line 3 has 2 fields where the header has 3",
        "line 5 has 4 fields where the header has 3",
        "line 6 holds a NUL byte",
    ]
    assert result.table.column("source_row").to_pylist() == [1, 3, 7]


def test_file_of_mostly_malformed_lines_refused_with_its_first_bad_line(
    source: Path, published: Path
) -> None:
    """Data written with another delimiter than the header: a file problem, not a line one."""
    before = sha256(published)
    labs = only_file(source, "labs")
    header, *lines = labs.read_text().splitlines()
    labs.write_text("\n".join([header, *(line.replace(",", ";") for line in lines)]) + "\n")
    with pytest.raises(SourceError) as err:
        ingest_and_stage(source, published)
    assert str(err.value).startswith(
        f"file {labs.name}: {len(lines):,} of its {len(lines):,} records do not split into the "
        "header's columns (first: line 2 has 1 fields where the header has 5;"
    )
    assert sha256(published) == before


def test_rows_read_is_counted_before_parsing(tmp_path: Path) -> None:
    text = 'patient_id,sex\nA,F\n"B,M\nC,F\n\n  \nD,"M"\r\nE,F\rF,M'
    result = read_one(tmp_path, "patients.csv", text)
    assert result.rows_read == records_in(text.encode()) == 6
    assert result.table.num_rows + len(result.malformed_rows) == 6
    assert result.malformed_rows == [2]


# --- point 3: delivery guards ------------------------------------------------------------


def test_header_only_file_refused_as_shrink(source: Path, published: Path) -> None:
    before = sha256(published)
    labs = only_file(source, "labs")
    full = records_in(labs.read_bytes())
    labs.write_text(labs.read_text().splitlines()[0] + "\n")
    with pytest.raises(ShrinkError) as err:
        ingest_and_stage(source, published)
    message = str(err.value)
    assert "\n" not in message
    assert f"file {labs.name} brings 0 rows, its previous version {full:,}" in message
    assert f"dataset labs would go from {full:,} rows to 0" in message
    assert "--accept-shrink" in message
    assert sha256(published) == before
    assert not list(published.parent.glob("w.duckdb.building-*"))


def test_accept_shrink_takes_the_smaller_file(source: Path, published: Path) -> None:
    labs = only_file(source, "labs")
    full = records_in(labs.read_bytes())
    lines = labs.read_text().splitlines(keepends=True)
    labs.write_text("".join(lines[: len(lines) // 3]))
    outcome = ingest_and_stage(source, published, accept_shrink=True)
    [row] = [f for f in outcome.report.files if f.name == labs.name]
    assert (row.before, row.now) == (full, len(lines) // 3 - 1)
    assert outcome.counts["labs"]["read"] == len(lines) // 3 - 1


def test_small_shrink_passes_and_summary_shows_rows_before_and_now(
    source: Path, published: Path
) -> None:
    lesions = only_file(source, "lesions")
    lines = lesions.read_text().splitlines(keepends=True)
    lesions.write_text("".join(lines[:-10]))
    outcome = ingest_and_stage(source, published)
    rows = {f.name: (f.before, f.now) for f in outcome.report.files}
    n = len(lines) - 1
    assert rows[lesions.name] == (n, n - 10)
    labs = only_file(source, "labs").name
    assert rows[labs][0] == rows[labs][1] > 0  # unchanged files are listed too


def test_dataset_shrink_refused_when_a_pruned_file_took_its_rows(
    source: Path, published: Path
) -> None:
    labs = only_file(source, "labs")
    lines = labs.read_text().splitlines(keepends=True)
    split = len(lines) // 5
    labs.unlink()
    (source / "labs_recent.csv").write_text("".join([lines[0], *lines[1:split]]))
    ingest_and_stage(source, published)  # without --prune the old file's rows are kept
    with pytest.raises(ShrinkError, match="dataset labs would go from"):
        ingest_and_stage(source, published, prune=True)


def test_shrink_threshold_is_configurable(source: Path, published: Path, tmp_path: Path) -> None:
    lesions = only_file(source, "lesions")
    lines = lesions.read_text().splitlines(keepends=True)
    lesions.write_text("".join(lines[: len(lines) * 3 // 4]))
    config = tmp_path / "strict.toml"
    config.write_text("[ingest]\nshrink_refuse_loss_pct = 20.0\n")
    with pytest.raises(ShrinkError, match="losing 20 % or more is refused"):
        ingest_and_stage(source, published, config_file=config)
    ingest_and_stage(source, published)  # the default (50 %) lets a quarter go


@pytest.mark.slow
def test_cli_header_only_file_exits_2_then_accept_shrink_publishes(
    source: Path, tmp_path: Path
) -> None:
    from pipeline_helpers import file_sha256, run_cli

    db = tmp_path / "cli.duckdb"
    first = run_cli("run", "--source", str(source), "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "rows by file" in first.stdout
    before = file_sha256(db)
    labs = only_file(source, "labs")
    labs.write_text(labs.read_text().splitlines()[0] + "\n")
    refused_run = run_cli("run", "--source", str(source), "--db", str(db))
    assert refused_run.returncode == 2
    assert len(refused_run.stderr.strip().splitlines()) == 1
    assert "--accept-shrink" in refused_run.stderr
    assert file_sha256(db) == before
    accepted = run_cli("run", "--source", str(source), "--db", str(db), "--accept-shrink")
    assert accepted.returncode == 0, accepted.stderr
    assert labs.name in accepted.stdout
    # A file-level contract error: the same one line and exit 2, nothing published.
    before = file_sha256(db)
    patients = only_file(source, "patients")
    patients.write_text(patients.read_text().replace("patient_id,", "patientid,", 1))
    typo = run_cli("run", "--source", str(source), "--db", str(db))
    assert typo.returncode == 2
    assert typo.stderr.strip().splitlines() == [
        f"error: file {patients.name} lacks the required column(s) patient_id "
        "(read as comma-separated); nothing was loaded from it"
    ]
    assert file_sha256(db) == before


def test_run_summary_lists_rows_before_and_now_of_each_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.cli import _print_file_rows
    from flows.stages import FileRows

    files = [
        FileRows("labs_a.csv", "labs", 56_145, 0),
        FileRows("labs_b.csv", "labs", None, 12),
        FileRows("labs_c.csv", "labs", 40, 40),
    ]
    _print_file_rows(files, ["labs_a.csv", "labs_b.csv"])
    out = capsys.readouterr().out
    assert "56,145" in out and "labs_c.csv" in out
    # Many files (nightly drops): the files read or changed, and one line for the others.
    many = files + [FileRows(f"labs_{i:03d}.csv", "labs", 10, 10) for i in range(30)]
    _print_file_rows(many, ["labs_a.csv", "labs_b.csv"])
    out = capsys.readouterr().out
    assert "labs_a.csv" in out and "labs_b.csv" in out and "labs_007.csv" not in out
    assert "and 31 unchanged files (340 rows)" in out
