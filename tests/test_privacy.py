"""Private identifiers: no source patient identifier reaches anything a run writes or prints.

The cohort's identifiers look like MRNs (8-digit numbers). The run takes its key from
a Prefect Secret block, logs verbosely, and keeps its temporary files in a folder the
test searches too. Searched, as bytes: the warehouse file and everything beside it,
the data-quality report folder, the Prefect server's home (its SQLite database holds
flow run parameters, logs and artifacts), the run's temporary folder, and everything
the run and ``nelmtrack dq`` printed. The warehouse's text columns are also searched
with SQL, since DuckDB may store strings compressed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from pipeline_helpers import (
    CONFIG,
    PREFECT_SERVER,
    REPO,
    cli_env,
    make_source,
    once_per_session,
    process_dict,
    read_csv,
    run_cli,
)

from sources import Pseudonymiser

pytestmark = pytest.mark.slow

BLOCK_NAME = "nelmtrack-test-pseudonym-key"
BLOCK_KEY = "a secret kept in a Prefect Secret block"


def config_args() -> list[str]:
    return ["--config", CONFIG] if CONFIG else []


def source_identifiers(source: Path) -> set[str]:
    ids = set()
    for path in source.glob("*.csv"):
        rows = read_csv(path)
        col = rows[0].index("patient_id")
        ids |= {r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()}
    return ids


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in sorted(root.rglob("*")) if p.is_file()]


def identifier_pattern(ids: set[str]) -> re.Pattern[bytes]:
    """An identifier as a token: not part of a longer run of hexadecimal digits.

    The session's Prefect database holds the UUIDs and hashes of every test's runs
    (about 70,000 UUIDs after a CI session); an 8-digit identifier can turn up inside
    one by chance, and CI on 8429fe3 found one in that database. That is a
    coincidence, not a leak: an identifier a run wrote stands on its own, between
    quotes, spaces, commas or other punctuation, and a failure shows the bytes around.
    """
    alternatives = b"|".join(re.escape(i.encode()) for i in sorted(ids))
    return re.compile(b"(?<![0-9A-Fa-f])(?:" + alternatives + b")(?![0-9A-Fa-f])")


def identifiers_in(data: bytes, pattern: re.Pattern[bytes]) -> set[bytes]:
    return set(pattern.findall(data))


def where_found(data: bytes, pattern: re.Pattern[bytes]) -> list[bytes]:
    """Each match with 40 bytes either side, so a failure shows what wrote it."""
    return [data[max(m.start() - 40, 0) : m.end() + 40] for m in pattern.finditer(data)][:5]


def run_on_mrns(root: Path) -> dict:
    source = make_source(root / "source", patients=200, seed=5, id_style="mrn")
    ids = source_identifiers(source)
    assert len(ids) >= 200 and all(re.fullmatch(r"\d{8}", i) for i in ids)
    out = root / "out"
    out.mkdir()
    tmp = root / "tmp"
    tmp.mkdir()
    env = cli_env(
        NELMTRACK_PSEUDONYM_KEY="", NELMTRACK_PSEUDONYM_KEY_BLOCK=BLOCK_NAME, TMPDIR=str(tmp)
    )
    saved = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from prefect.blocks.system import Secret; "
            "Secret(value=sys.argv[1]).save(sys.argv[2], overwrite=True)",
            BLOCK_KEY,
            BLOCK_NAME,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert saved.returncode == 0, saved.stderr
    db = out / "nelmtrack.duckdb"
    run = run_cli(
        "run", "--source", str(source), "--db", str(db), "--verbose", *config_args(), env=env
    )
    dq = run_cli("dq", "--db", str(db), env=env)
    return {
        "ids": sorted(ids),
        **{name: str(path) for name, path in (("source", source), ("out", out), ("tmp", tmp))},
        "db": str(db),
        "prefect_home": str(PREFECT_SERVER.home),
        "run": process_dict(run),
        "dq": process_dict(dq),
    }


@pytest.fixture(scope="module")
def mrn_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = once_per_session(tmp_path_factory, "privacy", run_on_mrns)
    for name in ("source", "out", "tmp", "db", "prefect_home"):
        out[name] = Path(out[name])
    out["ids"] = set(out["ids"])
    return out


def test_run_with_the_key_from_a_prefect_secret_block_succeeds(mrn_run: dict) -> None:
    assert mrn_run["run"]["returncode"] == 0, mrn_run["run"]["stderr"][-3000:]
    assert mrn_run["dq"]["returncode"] == 0, mrn_run["dq"]["stderr"][-3000:]
    some_id = sorted(mrn_run["ids"])[0]
    expected = Pseudonymiser(BLOCK_KEY.encode()).reference_key(some_id)
    con = duckdb.connect(str(mrn_run["db"]), read_only=True)
    try:
        assert con.execute(
            "SELECT count(*) FROM patients WHERE patient_key = ?", [expected]
        ).fetchall() == [(1,)]
    finally:
        con.close()


def test_no_identifier_in_any_file_the_run_wrote_or_anything_it_printed(mrn_run: dict) -> None:
    assert mrn_run["run"]["returncode"] == 0, mrn_run["run"]["stderr"][-3000:]
    pattern = identifier_pattern(mrn_run["ids"])
    # The search finds identifiers where they are: in the source files.
    assert identifiers_in(b"".join(p.read_bytes() for p in files_under(mrn_run["source"])), pattern)

    written = files_under(mrn_run["out"], mrn_run["tmp"], mrn_run["prefect_home"])
    names = {p.name for p in written}
    assert "nelmtrack.duckdb" in names and "index.html" in names and "prefect.db" in names
    # The Prefect database searched is the one that recorded this run (its parameters).
    prefect_db = b"".join(p.read_bytes() for p in written if p.name.startswith("prefect.db"))
    assert str(mrn_run["db"]).encode() in prefect_db
    leaks = {str(p): where_found(p.read_bytes(), pattern) for p in written}
    assert {p: found for p, found in leaks.items() if found} == {}
    printed = "".join(mrn_run[k]["stdout"] + mrn_run[k]["stderr"] for k in ("run", "dq")).encode()
    assert "run " in mrn_run["run"]["stdout"]
    assert identifiers_in(printed, pattern) == set()


def test_no_identifier_in_any_text_column_of_the_warehouse(mrn_run: dict) -> None:
    con = duckdb.connect(str(mrn_run["db"]), read_only=True)
    try:
        con.execute("CREATE TEMP TABLE ids (id VARCHAR)")
        con.executemany("INSERT INTO ids VALUES (?)", [(i,) for i in mrn_run["ids"]])
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema IN ('main', 'raw', 'meta') "
            "AND table_catalog = current_database()"
        ).fetchall()
        assert len(columns) > 20
        for schema, table, column in columns:
            found = con.execute(
                f'SELECT count(*) FROM (SELECT unnest(regexp_extract_all("{column}", '
                f"'\\d{{8}}')) AS n FROM {schema}.{table}) JOIN ids ON n = id"
            ).fetchall()[0][0]
            assert found == 0, f"{schema}.{table}.{column}"
    finally:
        con.close()


def test_a_real_run_without_a_key_refuses_to_start(tmp_path: Path, mrn_run: dict) -> None:
    db = tmp_path / "wh.duckdb"
    run = run_cli(
        "run",
        "--source",
        str(mrn_run["source"]),
        "--db",
        str(db),
        env=cli_env(NELMTRACK_PSEUDONYM_KEY=""),
    )
    assert run.returncode == 2
    assert "NELMTRACK_PSEUDONYM_KEY" in run.stderr
    assert "Traceback" not in run.stderr
    assert not db.exists()


def test_a_missing_secret_block_is_named_in_a_clear_error(tmp_path: Path, mrn_run: dict) -> None:
    env = cli_env(NELMTRACK_PSEUDONYM_KEY="", NELMTRACK_PSEUDONYM_KEY_BLOCK="no-such-block")
    run = run_cli(
        "run", "--source", str(mrn_run["source"]), "--db", str(tmp_path / "w.duckdb"), env=env
    )
    assert run.returncode == 2
    assert "Prefect Secret block 'no-such-block'" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_run_with_another_key_is_refused_instead_of_mixing_keys(
    mrn_run: dict, tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(mrn_run["db"], db)
    before = db.read_bytes()
    run = run_cli(
        "run",
        "--source",
        str(mrn_run["source"]),
        "--db",
        str(db),
        *config_args(),
        env=cli_env(NELMTRACK_PSEUDONYM_KEY="another key"),
    )
    assert run.returncode == 2
    assert "differs from the one this warehouse was built with" in run.stderr
    assert db.read_bytes() == before
