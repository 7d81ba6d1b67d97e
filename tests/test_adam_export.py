"""``nelmtrack export --adam``: ADRS and ADTTE from a warehouse, checked against pharmaverse ADaM.

The warehouse is built by ``nelmtrack run`` from the pharmaverse SDTM files
(tu/tr_onco_recist, dm, lb; investigator reads), so the structure and the OVR
values can be compared with adrs_onco.csv / adtte_onco.csv, which admiralonco
built from the same SDTM data.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flows.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse"
pytestmark = [
    pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found"),
    pytest.mark.slow,  # runs the pipeline (Prefect) once
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("adam")
    folder = tmp / "sdtm"
    folder.mkdir()
    for name in ("tu_onco_recist", "tr_onco_recist", "dm", "lb"):
        (folder / f"{name}.csv").symlink_to(DATA / f"{name}.csv")
    cfg = tmp / "run.toml"
    cfg.write_text("[privacy]\nidentifiers_already_pseudonymous = true\n")
    db = tmp / "w.duckdb"
    runner = CliRunner()
    ran = runner.invoke(
        main, ["run", "--source", str(folder), "--db", str(db), "--config", str(cfg)]
    )
    assert ran.exit_code == 0, ran.output
    out = tmp / "adam"
    done = runner.invoke(main, ["export", "--adam", "--db", str(db), "--out", str(out)])
    assert done.exit_code == 0, done.output
    return db, out


def _kind(values: pd.Series, name: str) -> str:
    """The type class of a pharmaverse CSV column: date, numeric or text."""
    present = values.dropna()
    if name.endswith("DT"):
        return "date"
    if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
        return "numeric"
    return "text"


OUR_KIND = {"integer": "numeric", "float": "numeric", "date": "date", "text": "text"}


@pytest.mark.parametrize(("dataset", "reference"), [("ADRS", "adrs_onco"), ("ADTTE", "adtte_onco")])
def test_shared_variables_have_the_pharmaverse_names_and_types(exported, dataset, reference):
    _, out = exported
    define = json.loads((out / "define.json").read_text())["datasets"][dataset]
    ours = {v["name"]: OUR_KIND[v["type"]] for v in define["variables"]}
    theirs = pd.read_csv(
        DATA / f"{reference}.csv", dtype=str, keep_default_na=False, na_values=[""]
    )
    shared = sorted(set(ours) & set(theirs.columns))
    print(f"\n{dataset}: shared with {reference}: {', '.join(shared)}")
    required = {
        "ADRS": {"STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "ADT", "ANL01FL"},
        "ADTTE": {"STUDYID", "USUBJID", "PARAMCD", "AVAL", "CNSR", "STARTDT", "ADT", "EVNTDESC"},
    }[dataset]
    assert required <= set(shared)
    assert {n: ours[n] for n in shared} == {n: _kind(theirs[n], n) for n in shared}
    # the Parquet and CSV files hold the same records as the metadata says
    table = pq.read_table(out / f"{dataset.lower()}.parquet")
    assert table.column_names == [v["name"] for v in define["variables"]]
    assert len(pd.read_csv(out / f"{dataset.lower()}.csv")) == table.num_rows == define["records"]


def test_values_are_the_warehouse_values(exported):
    db, out = exported
    con = duckdb.connect()
    con.sql(f"ATTACH '{db}' AS w (READ_ONLY)")
    con.sql(f"CREATE VIEW adrs AS SELECT * FROM read_parquet('{out / 'adrs.parquet'}')")
    con.sql(f"CREATE VIEW adtte AS SELECT * FROM read_parquet('{out / 'adtte.parquet'}')")
    differ = con.sql(
        """
        SELECT count(*) FROM w.best_responses b
        JOIN adrs a ON a.USUBJID = b.patient_key AND a.SCOPE = b.scope
            AND a.PARAMCD = 'CBOR'
            AND a.PARCAT3 = CASE b.criteria WHEN 'RECIST1.1' THEN 'RECIST 1.1' ELSE b.criteria END
        WHERE a.AVALC IS DISTINCT FROM b.bor_confirmed
        """
    ).fetchall()
    assert differ == [(0,)]
    pfs = con.sql(
        """
        SELECT count(*), count(*) FILTER (WHERE t.AVAL = b.pfs_days
                                           AND t.CNSR = CASE WHEN b.pfs_event THEN 0 ELSE 1 END)
        FROM w.best_responses b
        JOIN adtte t ON t.USUBJID = b.patient_key AND t.SCOPE = b.scope AND t.PARAMCD = 'PFS'
            AND t.PARCAT1 = CASE b.criteria WHEN 'RECIST1.1' THEN 'RECIST 1.1' ELSE b.criteria END
        """
    ).fetchall()[0]
    assert pfs[0] == pfs[1] == con.sql("SELECT count(*) FROM w.best_responses").fetchall()[0][0]


def test_ovr_matches_pharmaverse_adrs(exported):
    """OVR in adrs_onco is the investigator's RS OVRLRESP: ours agree on all 22 records."""
    _, out = exported
    con = duckdb.connect()
    rows = con.sql(
        f"""
        SELECT p.USUBJID, p.ADT, p.AVALC, o.AVALC AS ours, p.AVAL, o.AVAL AS our_aval
        FROM read_csv('{DATA / "adrs_onco.csv"}', all_varchar = true) p
        LEFT JOIN read_parquet('{out / "adrs.parquet"}') o
          ON o.USUBJID = p.USUBJID AND o.PARAMCD = 'OVR' AND o.PARCAT3 = 'RECIST 1.1'
         AND (o.ADT = p.ADT::DATE OR (p.ADTF = 'D'  -- Q8: a month-only RSDTC, imputed
              AND date_trunc('month', o.ADT) = date_trunc('month', p.ADT::DATE)))
        WHERE p.PARAMCD = 'OVR'
        """
    ).fetchall()
    assert len(rows) == 22
    assert [r for r in rows if r[2] != r[3] or float(r[4]) != r[5]] == []
