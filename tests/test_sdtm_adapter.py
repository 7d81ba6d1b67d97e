"""The SDTM adapter (sources/sdtm.py) and the adapter seam (sources/adapters.py, ingestion).

Small hand-made domains, no Prefect: the ingestion and staging stages are
called directly on a warehouse build.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyreadstat
import pytest

from config import load_config
from flows import stages
from sources import SourceError, discover, sdtm
from sources.adapters import Mapped, original_file
from warehouse import start_build

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse"
PARAMS = load_config().section("sdtm")

DM = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-2"],
        "SEX": ["F", "M"],
        "BRTHDTC": ["1950-12-26", "1961"],
        "DTHDTC": ["", "2021-03-04"],
        "RFPENDTC": ["2020-07-02T11:45", ""],
    }
)
TU = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-1", "S-1"],
        "TUSEQ": [1.0, 2.0, 3.0],
        "TULNKID": ["T01", "T02", "NT01"],
        "TUSTRESC": ["TARGET", "TARGET", "NON-TARGET"],
        "TULOC": ["LIVER", "LYMPH NODE", ""],
        "TUMETHOD": ["CT SCAN", "CT SCAN", "CT SCAN"],
    }
)
TR = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-1", "S-1", "S-1", "S-1", "S-1", "", "S-1"],
        "TRSEQ": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "TRGRPID": ["TARGET", "TARGET", "TARGET", "NON-TARGET", "TARGET", "TARGET", "TARGET", ""],
        "TRLNKID": ["T01", "T02", "T02", "NT01", "T01", "T01", "T01", ""],
        "TRTESTCD": ["LDIAM", "LDIAM", "SAXIS", "TUMSTATE", "LDIAM", "VOLUME", "LDIAM", "SUMDIAM"],
        "TRSTRESC": ["2.5", "18", "12", "PRESENT", "21", "40", "3", "45"],
        "TRSTRESU": ["cm", "mm", "mm", "", "mm", "mL", "mm", "mm"],
        "TRDTC": [
            "2020-01",
            "2020-01-05",
            "2020-01-05",
            "2020-01-05",
            "2020-03-01",
            "2020-03-01",
            "2020-03-01",
            "2020-01-05",
        ],
        "VISITNUM": [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0],
        "TREVAL": ["INVESTIGATOR"] * 8,
    }
)
LB = pd.DataFrame(
    {
        "USUBJID": ["S-1", "S-1", ""],
        "LBSEQ": [1.0, 2.0, 3.0],
        "LBTESTCD": ["BILI", "GGT", "ALB"],
        "LBORRES": ["0.8", "30", "4.0"],
        "LBORRESU": ["mg/dL", "U/L", "g/dL"],
        "LBSTRESC": ["13.68", "30", "40"],
        "LBSTRESU": ["umol/L", "U/L", "g/L"],
        "LBDTC": ["2020-01-02T08:30", "2020-01-02", "2020-01-02"],
    }
)


def _folder(tmp_path: Path, fmt: str) -> Path:
    folder = tmp_path / fmt
    folder.mkdir()
    for name, frame in (("dm", DM), ("tu", TU), ("tr", TR), ("lb", LB)):
        if fmt == "xpt":
            pyreadstat.write_xport(frame, str(folder / f"{name}.xpt"), table_name=name.upper())
        elif fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet")
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _read(folder: Path, **params) -> dict[str, Mapped]:
    out = sdtm.read(sorted(folder.iterdir()), folder, {**PARAMS, **params})
    return {m.key: m for m in out}


def _rows(mapped: Mapped) -> list[dict]:
    return mapped.table.to_pylist()


def test_xpt_parquet_and_csv_give_the_same_records(tmp_path):
    """SAS XPT (pyreadstat), Parquet and CSV domain files map alike (text, nulls, row numbers)."""
    forms = {fmt: _read(_folder(tmp_path, fmt)) for fmt in ("csv", "xpt", "parquet")}
    keys = {fmt: sorted(k.split("#")[1] for k in out) for fmt, out in forms.items()}
    assert keys["csv"] == keys["xpt"] == keys["parquet"]
    for dataset in ("lesions", "imaging", "patients", "labs", "sessions"):
        tables = [
            next(m for m in out.values() if m.dataset == dataset).table.to_pylist()
            for out in forms.values()
        ]
        assert tables[0] == tables[1] == tables[2], dataset


def test_lesions_join_tu_and_tr_on_the_link_id(tmp_path):
    lesions = _read(
        _folder(tmp_path, "csv"), tr_tests={**PARAMS["tr_tests"], "SAXIS": "short_axis_mm"}
    )
    rows = {(r["study_date"], r["lesion_id"]): r for r in _rows(lesions["tr.csv#lesions"])}
    # Q8: the month-only date of T01 takes its visit's full date; 2.5 cm is 25 mm
    t01 = rows[("2020-01-05", "T01")]
    assert (t01["role"], t01["organ"], t01["status"], t01["longest_diameter_mm"]) == (
        "target",
        "liver",
        "measured",
        "25.0",
    )
    assert t01["source_row"] == 1
    # the sponsor's short-axis code (a --config mapping) fills the node's short axis
    t02 = rows[("2020-01-05", "T02")]
    assert (t02["organ"], t02["short_axis_mm"], t02["source_row"]) == ("lymph_node", "12", 2)
    nt01 = rows[("2020-01-05", "NT01")]
    assert (nt01["role"], nt01["organ"], nt01["status"]) == ("non_target", "other", "present")
    imaging = _rows(lesions["tr.csv#imaging"])
    assert [(r["study_date"], r["modality"], r["source_row"]) for r in imaging] == [
        ("2020-01-05", "CT", 1),
        ("2020-03-01", "CT", 5),
    ]


def test_records_that_cannot_be_mapped_are_rejected_with_a_reason(tmp_path):
    out = _read(_folder(tmp_path, "csv"))
    rejected = out["tr.csv#lesions"].rejected.to_pylist()
    assert [(r["source_row"], r["reason_code"], r["column_name"]) for r in rejected] == [
        (3, "unmapped_test_code", "TRTESTCD"),  # SAXIS is not in the default map
        (6, "unmapped_test_code", "TRTESTCD"),  # VOLUME
        (7, "no_subject", "USUBJID"),
    ]
    assert all("S-1" not in r["reason"] for r in rejected)
    # SUMDIAM is a sponsor-derived result the pipeline recomputes: not read, not rejected
    assert out["tr.csv#lesions"].records == out["tr.csv#lesions"].table.num_rows + 3
    labs = out["lb.csv#labs"]
    assert [(r["source_row"], r["reason_code"]) for r in labs.rejected.to_pylist()] == [
        (2, "unmapped_test_code"),  # GGT has no LOINC in sdtm.lb_tests
        (3, "no_subject"),
    ]
    assert _rows(labs) == [
        {
            "patient_id": "S-1",
            "collected_at": "2020-01-02T08:30",
            "test": "1975-2",
            "value": "0.8",
            "unit": "mg/dL",
            "source_row": 1,
        }
    ]
    standard = _read(tmp_path / "csv", lab_result="standard")
    assert _rows(standard["lb.csv#labs"])[0]["unit"] == "umol/L"


def test_patients_and_reference_session(tmp_path):
    out = _read(_folder(tmp_path, "csv"))
    patients = _rows(out["dm.csv#patients"])
    assert [(p["patient_id"], p["sex"], p["birth_year"], p["death_date"]) for p in patients] == [
        ("S-1", "F", "1950", None),
        ("S-2", "M", "1961", "2021-03-04"),
    ]
    assert patients[0]["last_contact_date"] == "2020-07-02"
    # no PR: one reference session on the first assessment, whole liver, configured modality
    sessions = _rows(out["tr.csv#sessions"])
    assert [
        (s["patient_id"], s["session_date"], s["modality"], s["treated_territory"])
        for s in sessions
    ] == [("S-1", "2020-01-05", "TAE", "whole_liver")]


def test_ingestion_quarantines_rejections_and_skips_unchanged_adapters(tmp_path):
    folder = _folder(tmp_path, "csv")
    assert discover(folder) == []  # no contract file, but SDTM files: not an error
    cfg = load_config()
    db = tmp_path / "w.duckdb"

    def run() -> stages.IngestReport:
        build = start_build(db, stages.new_run_id())
        ctx = stages.RunContext(build=build, cfg=cfg, source_dir=folder, pseudonymiser=None)
        report = stages.ingest(ctx)
        stages.stage(ctx)
        rows = build.con.execute(
            "SELECT source_file, source_row, reason_code, action FROM quarantine "
            "WHERE reason_code IN ('no_subject', 'unmapped_test_code') ORDER BY ALL"
        ).fetchall()
        build.publish()
        return report, rows

    first, quarantined = run()
    assert sorted(first.new) == [
        "dm.csv#patients",
        "lb.csv#labs",
        "tr.csv#imaging",
        "tr.csv#lesions",
        "tr.csv#sessions",
    ]
    assert {original_file(k) for k in first.new} == {"dm.csv", "lb.csv", "tr.csv"}
    assert quarantined == [
        ("lb.csv#labs", 2, "unmapped_test_code", "row_rejected"),
        ("lb.csv#labs", 3, "no_subject", "row_rejected"),
        ("tr.csv#lesions", 3, "unmapped_test_code", "row_rejected"),
        ("tr.csv#lesions", 6, "unmapped_test_code", "row_rejected"),
        ("tr.csv#lesions", 7, "no_subject", "row_rejected"),
    ]
    second, again = run()
    assert second.new == second.changed == [] and sorted(second.unchanged) == sorted(first.new)
    assert again == quarantined


def test_config_file_may_add_codes_to_the_sdtm_maps(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[sdtm.tr_tests]\nSAXIS = "short_axis_mm"\n')
    assert load_config(cfg_file).section("sdtm")["tr_tests"]["SAXIS"] == "short_axis_mm"
    cfg_file.write_text('[sdtm]\nreadrs = "each"\n')  # a misspelt setting is still refused
    with pytest.raises(ValueError, match="unknown setting 'sdtm.readrs'"):
        load_config(cfg_file)


@pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found")
def test_pharmaverse_recist_set_maps_without_rejection(tmp_path):
    for name in ("tu_onco_recist", "tr_onco_recist"):
        (tmp_path / f"{name}.csv").symlink_to(DATA / f"{name}.csv")
    out = _read(tmp_path, readers="each")
    lesions = out["tr_onco_recist.csv#lesions"]
    assert (lesions.table.num_rows, lesions.rejected.num_rows) == (273, 0)
    statuses = pa.table(lesions.table).column("status").value_counts().to_pylist()
    assert {s["values"]: s["counts"] for s in statuses} == {
        "measured": 234,
        "present": 27,
        "absent": 12,
    }


def test_viable_diameter_from_supptr_and_sessions_from_ex_and_adsl(tmp_path):
    folder = _folder(tmp_path, "csv")
    pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-1"],
            "RDOMAIN": ["TR", "TR"],
            "IDVAR": ["TRSEQ", "TRSEQ"],
            "IDVARVAL": ["5", "1"],
            "QNAM": ["VIABDIAM", "TUSEG"],
            "QVAL": ["14", "7"],
        }
    ).to_csv(folder / "supptr.csv", index=False)
    # S-1 had a chemoembolisation recorded in EX; S-2 only a drug, so ADSL dates its reference
    pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-2"],
            "EXSEQ": [1, 1],
            "EXTRT": ["Transarterial chemoembolization", "PLACEBO"],
            "EXSTDTC": ["2020-01-10", "2020-02-01"],
        }
    ).to_csv(folder / "ex.csv", index=False)
    pd.DataFrame({"USUBJID": ["S-1", "S-2"], "TRTSDT": ["2020-01-10", "2020-02-01"]}).to_csv(
        folder / "adsl.csv", index=False
    )
    out = _read(folder, reference_date=["ADSL.TRTSDT", "TR.first"])
    rows = {(r["study_date"], r["lesion_id"]): r for r in _rows(out["tr.csv#lesions"])}
    assert rows[("2020-03-01", "T01")]["viable_diameter_mm"] == "14"
    assert rows[("2020-01-05", "T01")]["liver_segment"] == "7"  # a SUPPTR segment
    assert _rows(out["ex.csv#sessions"]) == [
        {
            "patient_id": "S-1",
            "session_date": "2020-01-10",
            "modality": "cTACE",
            "treated_territory": "whole_liver",
            "source_row": 1,
        }
    ]
    # S-1 has its EX session; S-2 has no tumour assessment: no reference session at all
    assert "tr.csv#sessions" not in out


@pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found")
def test_pharmaverse_recist_responses_through_the_stages(tmp_path):
    """The run's stages (no Prefect) on tu/tr_onco_recist: 65 of 66 RS OVRLRESP agree.

    The slow test_conformance_sdtm_product runs the same through ``nelmtrack run``.
    """
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("tu_onco_recist", "tr_onco_recist"):
        (folder / f"{name}.csv").symlink_to(DATA / f"{name}.csv")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[sdtm]\nreaders = "each"\n')
    build = start_build(tmp_path / "w.duckdb", stages.new_run_id())
    ctx = stages.RunContext(
        build=build, cfg=load_config(cfg_file), source_dir=folder, pseudonymiser=None
    )
    stages.ingest(ctx)
    stages.stage(ctx)
    stages.derive_in_build(ctx)
    rows = build.con.execute(
        f"""
        SELECT rs.RSSTRESC, o.overall_response
        FROM read_csv('{DATA / "rs_onco_recist.csv"}', all_varchar = true) rs
        LEFT JOIN timepoint_responses o
          ON o.patient_key = rs.USUBJID || ' / ' || rs.RSEVAL || coalesce(' / ' || rs.RSEVALID, '')
         AND o.study_date = (CASE WHEN length(rs.RSDTC) = 7 THEN rs.RSDTC || '-01'
                             ELSE rs.RSDTC END)::DATE
         AND o.criteria = 'RECIST1.1'
        WHERE rs.RSTESTCD = 'OVRLRESP'
        """
    ).fetchall()
    build.abort()
    assert len(rows) == 66
    assert sorted(r for r in rows if r[0] != r[1]) == [("PR", "PD")]  # R15, see the slow test


@pytest.mark.parametrize("name", ["tr.xpt", "tr.parquet"])
def test_an_unreadable_domain_file_stops_with_one_line(tmp_path, name):
    (tmp_path / name).write_bytes(b"USUBJID,TRTESTCD\nS-1,LDIAM\n")  # CSV text, wrong format
    with pytest.raises(SourceError, match=rf"^file {name} cannot be read as") as info:
        sdtm.read([tmp_path / name], tmp_path, PARAMS)
    assert "S-1" not in str(info.value)
