"""Conformance through the product: ``nelmtrack run`` on pharmaverse SDTM domain files.

The folders hold the original files (symlinks into a temporary folder, never the
repository); the SDTM adapter (sources/sdtm.py, config/sdtm.toml) maps them.
These data have no treatment: each patient gets one reference session on its
first tumour assessment (``sdtm.reference_date = ["TR.first"]``), so the
screening scan is the course baseline.

- tu/tr_onco_recist, every reader its own patient (``sdtm.readers = "each"``),
  against rs_onco_recist: 65 of 66 OVRLRESP agree. The one disagreement is the
  one test_conformance_rs_onco documents (R15: reappearance after CR is PD, the
  hand-built scenario says PR); through the product R5 also fires, because the
  product rounds diameters once from the text, half away from zero (R2):
  4.95 mm is 5.0 mm, +5.0 mm over the 0 mm nadir.
- tu/tr_onco (+ supptr_onco), investigator reads (the default), against
  rs_onco: 594 of 633 agree; Q1 28, Q2 8, Q3 1, Q5 2, as the test-code adapter
  (test_conformance_rs_onco, whose re-derivation of upstream's rule is the oracle
  here) found.
- lb: the original (LBORRES/LBORRESU) and standard (LBSTRESC/LBSTRESU) results
  give the same canonical values (test_conformance_lb's tolerances), nothing
  quarantined.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from test_conformance_rs_onco import ADAPTER as ORACLE_TABLES
from test_conformance_rs_onco import UPSTREAM

from flows.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse"
pytestmark = [
    pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found"),
    pytest.mark.slow,  # runs the whole pipeline (Prefect) twice
]
SI_REL_TOL = 1e-9
CENSORED_ABS_TOL = 0.005 / 17.1  # test_conformance_lb


def _run(tmp: Path, name: str, files: list[str], config: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    for f in files:
        (folder / f"{f}.csv").symlink_to(DATA / f"{f}.csv")
    cfg = tmp / f"{name}.toml"
    cfg.write_text("[privacy]\nidentifiers_already_pseudonymous = true\n" + config)
    db = tmp / f"{name}.duckdb"
    result = CliRunner().invoke(
        main, ["run", "--source", str(folder), "--db", str(db), "--config", str(cfg)]
    )
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sdtm")
    return {
        "recist": _run(
            tmp,
            "recist",
            ["tu_onco_recist", "tr_onco_recist", "lb", "dm"],
            '[sdtm]\nreaders = "each"\n',
        ),
        "onco": _run(
            tmp,
            "onco",
            ["tu_onco", "tr_onco", "supptr_onco", "lb", "dm"],
            '[sdtm]\nlab_result = "standard"\n',
        ),
    }


def _con(db: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db), read_only=True)


def test_every_sdtm_record_is_loaded_with_lineage(runs):
    con = _con(runs["recist"])
    counts = dict(con.sql("SELECT path, rows FROM meta.source_files ORDER BY path").fetchall())
    assert counts == {
        "dm.csv#patients": 306,
        "lb.csv#labs": 12663,
        "tr_onco_recist.csv#imaging": 90,
        "tr_onco_recist.csv#lesions": 273,  # Q7: 78 duplicated TUMSTATE rows are 39 lesions
        "tr_onco_recist.csv#patients": 24,  # 8 subjects x 3 readers
        "tr_onco_recist.csv#sessions": 24,
    }
    assert con.sql("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
    # the lesion row of T01 at 01-701-1015's screening by radiologist 1 is TR row 1
    assert con.sql(
        "SELECT source_file, source_row, longest_diameter_mm::VARCHAR, short_axis_mm::VARCHAR FROM "
        "lesion_measurements WHERE patient_key = '01-701-1015 / INDEPENDENT ASSESSOR / "
        "RADIOLOGIST 1' AND lesion_id = 'T01' AND study_date = '2014-01-02'"
    ).fetchall() == [("tr_onco_recist.csv#lesions", 1, "21.0", "20.4")]
    onco = _con(runs["onco"])
    assert onco.sql("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
    assert onco.sql("SELECT count(*) FROM lesion_measurements").fetchall() == [(8908,)]


def test_recist_handbuilt_set_through_the_product(runs):
    con = _con(runs["recist"])
    compared = con.sql(
        f"""
        SELECT rs.k, rs.d, rs.expected, o.overall_response, o.reason
        FROM (SELECT USUBJID || ' / ' || RSEVAL || coalesce(' / ' || RSEVALID, '') AS k,
                     (CASE WHEN length(RSDTC) = 7 THEN RSDTC || '-01' ELSE RSDTC END)::DATE AS d,
                     RSSTRESC AS expected
              FROM read_csv('{DATA / "rs_onco_recist.csv"}', all_varchar = true)
              WHERE RSTESTCD = 'OVRLRESP') rs
        LEFT JOIN timepoint_responses o
          ON o.patient_key = rs.k AND o.study_date = rs.d AND o.criteria = 'RECIST1.1'
        ORDER BY ALL
        """
    ).fetchall()
    mismatches = [row for row in compared if row[2] != row[3]]
    print(f"\nproduct: rs_onco_recist OVRLRESP {len(compared) - len(mismatches)}/{len(compared)}")
    assert len(compared) == 66
    assert [row[:4] for row in mismatches] == [
        ("01-701-1133 / INDEPENDENT ASSESSOR / RADIOLOGIST 2", dt.date(2012, 12, 30), "PR", "PD")
    ]
    assert "R15" in mismatches[0][4] and "reappeared after CR (2012-12-09)" in mismatches[0][4]


@pytest.fixture(scope="module")
def onco_compared(runs) -> duckdb.DuckDBPyConnection:
    """The product's responses beside rs_onco and the re-derived upstream rule (the oracle)."""
    con = duckdb.connect()
    con.sql(
        f"CREATE VIEW tu AS SELECT * FROM read_csv('{DATA / 'tu_onco.csv'}', all_varchar = true)"
    )
    con.sql(
        f"CREATE VIEW tr AS SELECT * FROM read_csv('{DATA / 'tr_onco.csv'}', all_varchar = true) "
        "WHERE TREVAL = 'INVESTIGATOR'"
    )
    for statement in ORACLE_TABLES.split(";\n"):
        if statement.strip():
            con.sql(statement)
    con.sql(f"ATTACH '{runs['onco']}' AS product (READ_ONLY)")
    # investigator reads: the product's patient is the subject
    con.sql(
        "CREATE OR REPLACE TABLE ours AS SELECT * REPLACE "
        "(patient_key || ' / INVESTIGATOR' AS patient_key) FROM product.timepoint_responses"
    )
    con.sql(
        f"CREATE VIEW rs_onco AS SELECT * FROM read_csv('{DATA / 'rs_onco.csv'}', "
        "all_varchar = true) WHERE RSEVAL = 'INVESTIGATOR'"
    )
    for statement in UPSTREAM.split(";\n"):
        if statement.strip():
            con.sql(statement)
    return con


def test_onco_set_through_the_product_has_the_documented_disagreements(onco_compared):
    con = onco_compared
    counts = dict(con.sql("SELECT verdict, count(*) FROM compared GROUP BY ALL").fetchall())
    nt_total, nt_same, new_same, missing = con.sql(
        """
        SELECT count(ntrgresp), count(*) FILTER (WHERE ntrgresp = nontarget_response),
               count(*) FILTER (WHERE coalesce(newlprog = 'UNEQUIVOCAL', FALSE) = new_lesions),
               count(*) FILTER (WHERE overall_response IS NULL)
        FROM compared
        """
    ).fetchall()[0]
    print(f"\nproduct: rs_onco investigator OVRLRESP verdicts {dict(sorted(counts.items()))}")
    print(f"product: NTRGRESP {nt_same}/{nt_total}, NEWLPROG {new_same}/633")
    assert missing == 0
    assert counts == {"agree": 594, "Q1": 28, "Q2": 8, "Q3": 1, "Q5": 2}
    assert nt_same == nt_total == 632
    assert new_same == 633


def test_lab_conversions_original_and_standard_agree(runs):
    con = duckdb.connect()
    con.sql(f"ATTACH '{runs['recist']}' AS original (READ_ONLY)")  # lab_result = original
    con.sql(f"ATTACH '{runs['onco']}' AS standard (READ_ONLY)")  # lab_result = standard
    rows = con.sql(
        """
        SELECT o.analyte, o.unit_raw, s.unit_raw AS si_unit_raw, o.unit, s.unit AS si_unit,
            o.value, s.value AS si_value, o.qualifier, s.qualifier AS si_qualifier
        FROM original.lab_results o JOIN standard.lab_results s USING (source_row)
        """
    ).df()
    assert len(rows) == 12663
    for db in ("original", "standard"):
        assert con.sql(f"SELECT count(*) FROM {db}.lab_results").fetchall() == [(12663,)]
    assert (rows["analyte"].notna()).all()
    ours = ~rows["analyte"].str.match(r"^\d")  # WBC (6690-2) is kept unconverted
    assert (rows.loc[ours, "unit"] == rows.loc[ours, "si_unit"]).all()
    units = set(zip(rows["analyte"], rows["unit_raw"], rows["si_unit_raw"], strict=True))
    assert ("bilirubin", "mg/dL", "umol/L") in units and ("albumin", "g/dL", "g/L") in units
    censored = rows["qualifier"].notna()
    assert int(censored.sum()) == 5
    exact = ours & ~censored
    rel = ((rows["value"] - rows["si_value"]).abs() / rows["value"].abs())[exact]
    print(f"\nproduct: lab rows {len(rows)}, max relative difference {rel.max():.2e}")
    assert rel.max() <= SI_REL_TOL
    assert (rows.loc[censored, "value"] - rows.loc[censored, "si_value"]).abs().max() <= (
        CENSORED_ABS_TOL
    )
    assert sorted(rows.loc[ours, "analyte"].unique()) == [
        "albumin",
        "ast",
        "bilirubin",
        "creatinine",
        "lymphocytes",
        "platelets",
    ]
