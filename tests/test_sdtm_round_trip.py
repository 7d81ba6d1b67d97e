"""The same generated cohort as contract CSV and as SDTM domains gives the same results.

``nelmtrack generate --format sdtm`` rewrites the cohort (spoiled rows included)
as DM, PR, TU, TR and LB; ``nelmtrack run`` maps it back through sources/sdtm.py.
Every derived table (responses, best responses, NLR, session labs and flags) has
the same digest (tools/table_digests.py), the fact tables are equal but for
their lineage (``tr_part001.csv#lesions`` row n, not ``lesions_part001.csv`` row
m), and the quarantine counts per dataset and reason are equal, with the
adapter's own reasons mapped onto staging's.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from contract import DERIVED_TABLES
from flows.cli import main
from tools.table_digests import table_digests
from warehouse import PUBLIC_COLUMNS

pytestmark = pytest.mark.slow  # generates 300 patients twice and runs the pipeline twice

PATIENTS = 300
# Responses, labs, flags and the survival mart: every derived table (contract).
DERIVED = DERIVED_TABLES
FACTS = ("patients", "sessions", "imaging_studies", "lesion_measurements", "lab_results")
LINEAGE = ("run_id", "source_file", "source_row")
# Adapter rejection -> the staging reason the CSV run gives the same row.
REASON_MAP = {"no_subject": "missing_required", "unmapped_test_code": "missing_required"}
SDTM_RUN_CONFIG = """
[sdtm]
reference_date = []   # every generated patient has its own sessions (PR)
organ_default = ""    # an unknown organ is quarantined, as the CSV run does
"""


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("round_trip")
    runner = CliRunner()
    out = {}
    for fmt, extra in (("csv", ""), ("sdtm", SDTM_RUN_CONFIG)):
        source = tmp / fmt
        made = runner.invoke(
            main,
            ["generate", "--out", str(source), "--patients", str(PATIENTS), "--format", fmt],
        )
        assert made.exit_code == 0, made.output
        cfg = tmp / f"{fmt}.toml"
        cfg.write_text("[privacy]\nidentifiers_already_pseudonymous = true\n" + extra)
        db = tmp / f"{fmt}.duckdb"
        ran = runner.invoke(
            main, ["run", "--source", str(source), "--db", str(db), "--config", str(cfg)]
        )
        assert ran.exit_code == 0, ran.output
        out[fmt] = db
    return out


def test_sdtm_files_are_sdtm_domains(warehouses):
    folder = warehouses["sdtm"].parent / "sdtm"
    names = sorted(p.name for p in folder.glob("*.csv"))
    assert names == [f"{d}_part001.csv" for d in ("dm", "lb", "pr", "tr", "tu")]
    con = duckdb.connect()
    header = con.sql(f"SELECT * FROM read_csv('{folder / 'tr_part001.csv'}') LIMIT 0").columns
    assert {"USUBJID", "TRSEQ", "TRGRPID", "TRLNKID", "TRTESTCD", "TRSTRESC", "TRDTC"} <= set(
        header
    )


def test_derived_tables_have_equal_digests(warehouses):
    csv_digests = table_digests(warehouses["csv"], DERIVED)
    sdtm_digests = table_digests(warehouses["sdtm"], DERIVED)
    print(f"\nderived digests (CSV run): {csv_digests}")
    assert all(rows > 0 for rows, _ in csv_digests.values())
    assert sdtm_digests == csv_digests


def _facts_digest(db: Path, table: str) -> tuple[int, str]:
    cols = ", ".join(c for c in LINEAGE if c in PUBLIC_COLUMNS[table])
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), '')) FROM "
            f"(SELECT CAST(t AS VARCHAR) AS r FROM (SELECT * EXCLUDE ({cols}) FROM {table}) t)"
        ).fetchall()[0]
    finally:
        con.close()


@pytest.mark.parametrize("table", FACTS)
def test_fact_tables_are_equal_but_for_lineage(warehouses, table):
    assert _facts_digest(warehouses["sdtm"], table) == _facts_digest(warehouses["csv"], table)


def _quarantine_counts(db: Path) -> dict[tuple[str, str, str], int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT dataset, reason_code, action, count(*) FROM quarantine GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    counts: dict[tuple[str, str, str], int] = {}
    for dataset, reason, action, n in rows:
        key = (dataset, REASON_MAP.get(reason, reason), action)
        counts[key] = counts.get(key, 0) + n
    return counts


def test_quarantine_counts_match_with_reasons_mapped(warehouses):
    csv_counts = _quarantine_counts(warehouses["csv"])
    print(f"\nquarantine (CSV run): {sorted(csv_counts.items())}")
    assert sum(csv_counts.values()) > 0
    assert _quarantine_counts(warehouses["sdtm"]) == csv_counts
