"""The outcome report (issue 10): figure data from SQL, the pages, the CLI, and Chromium.

The data tests use a small warehouse written by hand (four patients whose every
number is known); the end-to-end tests run the demo through the CLI, write a
patient page, reject a run, and open both pages in headless Chromium with
tools/check_report_offline.py (no console error, no request leaving the machine,
every figure with a size). Its screenshots are kept in pytest's tmp folder
(``report-index.png``, ``report-patient.png``) as the test's artefacts.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import REPO, cli_env, run_cli

from config import load_config
from flows.privacy import DEMO_PSEUDONYM_KEY
from report import data, write_patient_page, write_report
from report.cohort import flag_labels, thresholds_pct
from warehouse.schema import create_schema

CHROMIUM = Path("/usr/bin/chromium")
RUN = "run-test"
FIRST = date(2020, 1, 1)


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame([{"run_id": RUN, **r} for r in rows])  # noqa: F841 (read by SQL)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame")


def hand_made_warehouse() -> duckdb.DuckDBPyConnection:
    """Four patients (keys ka, kb, kc, kd), RECIST 1.1 only.

    ka: TAE, died on day 400; baseline sum 50 mm, then 30 (-40 %, PR) and 20 (-60 %, PR).
    kb: TARE, alive at day 300; baseline 40, then 50 (+25 %, PD).
    kc: TAE, died on day 200; a baseline study and no follow-up (best response null).
    kd: cTACE, alive at day 100; no baseline study (no best response row).
    """
    con = duckdb.connect()
    create_schema(con)
    src = {"source_file": "x.csv", "source_row": 1}
    patients = [
        ("ka", "TAE", 400, True, "pancreas"),
        ("kb", "TARE", 300, False, "small_intestine"),
        ("kc", "TAE", 200, True, "pancreas"),
        ("kd", "cTACE", 100, False, "lung"),
    ]
    insert(
        con,
        "patients",
        [{"patient_key": k, "primary_site": site, **src} for k, _, _, _, site in patients],
    )
    insert(
        con,
        "sessions",
        [
            {
                "patient_key": k,
                "session_id": f"{k}-1",
                "session_date": FIRST,
                "session_number": 1,
                "modality": m,
                "treated_segments": [4],
                **src,
            }
            for k, m, _, _, _ in patients
        ],
    )
    insert(
        con,
        "survival",
        [
            {
                "patient_key": k,
                "first_session_date": FIRST,
                "first_modality": m,
                "os_days": days,
                "os_event": dead,
                "primary_site": site,
                "pancreatic_primary": site == "pancreas",
                "responder_at_landmark_recist": None if days < 180 else k == "ka",
                "responder_at_landmark_mrecist": None,
            }
            for k, m, days, dead, site in patients
        ],
    )
    day = pd.Timedelta(days=1)
    base = pd.Timestamp(FIRST) - 10 * day
    tp = [
        ("ka", base, 50.0, None, None),
        ("ka", base + 100 * day, 30.0, -40.0, "PR"),
        ("ka", base + 200 * day, 20.0, -60.0, "PR"),
        ("kb", base, 40.0, None, None),
        ("kb", base + 100 * day, 50.0, 25.0, "PD"),
        ("kc", base, 60.0, None, None),
    ]
    insert(
        con,
        "timepoint_responses",
        [
            {
                "patient_key": k,
                "criteria": "RECIST1.1",
                "study_date": d.date(),
                "baseline_date": base.date(),
                "days_from_baseline": (d - base).days,
                "sum_mm": s,
                "sum_unit": "mm",
                "pct_change_from_baseline": pct,
                "overall_response": r,
                "reason": "baseline" if r is None else f"{r} (R8): rule sentence",
            }
            for k, d, s, pct, r in tp
        ],
    )
    insert(
        con,
        "best_responses",
        [
            {
                "patient_key": "ka",
                "criteria": "RECIST1.1",
                "scope": "course",
                "bor": "PR",
                "bor_confirmed": "PR",
                "pfs_days": 400,
                "pfs_event": True,
            },
            {
                "patient_key": "kb",
                "criteria": "RECIST1.1",
                "scope": "course",
                "bor": "PD",
                "bor_confirmed": "PD",
                "pfs_days": 90,
                "pfs_event": True,
            },
            {
                "patient_key": "kc",
                "criteria": "RECIST1.1",
                "scope": "course",
                "bor": None,
                "bor_confirmed": None,
                "pfs_days": 200,
                "pfs_event": True,
            },
        ],
    )
    flags = {c: False for c in data.PROGNOSTIC_FLAGS}
    insert(
        con,
        "session_flags",
        [
            {
                "patient_key": k,
                "session_id": f"{k}-1",
                "session_number": 1,
                "session_date": FIRST,
                "modality": m,
                **flags,
                "flag_extrahepatic": k in ("ka", "kc"),
                "flag_ascites": None if k == "kd" else False,
            }
            for k, m, _, _, _ in patients
        ],
    )
    insert(
        con,
        "session_labs",
        [
            {
                "patient_key": k,
                "session_id": f"{k}-1",
                "session_number": 1,
                "session_date": FIRST,
                "nlr_pre": pre,
                "nlr_1m": one,
            }
            for k, pre, one in (
                ("ka", 2.0, 3.0),
                ("kb", 4.0, 5.0),
                ("kc", 6.0, None),
                ("kd", None, None),
            )
        ],
    )
    data.number_patients(con)
    return con


@pytest.fixture
def wh() -> duckdb.DuckDBPyConnection:
    con = hand_made_warehouse()
    yield con
    con.close()


COURSE = data.Scope(None)


def test_waterfall_is_best_change_per_patient_sorted_with_reasons_for_the_rest(wh) -> None:
    wf = data.waterfall(wh, "RECIST1.1", COURSE, max_bars=100)
    assert wf.frame[["pct_change", "bor", "patients"]].values.tolist() == [
        [25.0, "PD", 1],
        [-60.0, "PR", 1],
    ]
    assert sorted(wf.left_out) == [
        ("without a best response (no baseline study)", 1),
        ("without a follow-up study", 1),
    ]
    assert "2 patients with a follow-up target sum" in wf.used


def test_waterfall_bins_consecutive_patients_above_the_bar_limit(wh) -> None:
    wf = data.waterfall(wh, "RECIST1.1", COURSE, max_bars=1)
    assert wf.frame[["pct_change", "patients"]].values.tolist() == [[-17.5, 2]]
    assert "in 1 bins of consecutive patients" in wf.used


def test_response_rates_by_modality_and_all(wh) -> None:
    rr = data.response_rates(wh, "RECIST1.1", COURSE).frame.set_index("modality")
    assert rr.loc["all", ["n", "orr_unconfirmed", "dcr_confirmed", "no_response"]].tolist() == [
        2,
        1,
        1,
        2,
    ]
    assert rr.loc["TAE", ["n", "orr_confirmed"]].tolist() == [1, 1]
    assert rr.loc["TARE", ["n", "orr_confirmed", "dcr_unconfirmed"]].tolist() == [1, 0, 0]


def test_landmark_analysis_counts_from_the_landmark_and_leaves_out_the_early(wh) -> None:
    sd = data.os_from_landmark(
        wh, "responder_at_landmark_recist", ("responder", "non-responder"), 180
    )
    got = sorted(zip(sd.groups.tolist(), sd.durations.tolist(), sd.events.tolist(), strict=True))
    assert got == [
        ("non-responder", 20.0, True),
        ("non-responder", 120.0, False),
        ("responder", 220.0, True),
    ]
    assert sd.left_out == [("dead or censored before day 180", 1)]


def test_os_by_primary_site(wh) -> None:
    sd = data.os_by(wh, "pancreatic_primary", ("pancreatic", "other"))
    assert sorted(zip(sd.groups.tolist(), sd.durations.tolist(), strict=True)) == [
        ("other", 100.0),
        ("other", 300.0),
        ("pancreatic", 200.0),
        ("pancreatic", 400.0),
    ]


def test_cox_frame_keeps_complete_cases_of_the_first_session(wh) -> None:
    cf = data.cox_frame(wh)
    assert len(cf.frame) == 3
    assert cf.frame["flag_extrahepatic"].sum() == 2
    assert cf.left_out == [("with a flag unknown at the first session", 1)]


def test_nlr_trajectories_are_medians_and_iqr_by_modality(wh) -> None:
    nl = data.nlr_trajectories(wh).frame.set_index(["modality", "timepoint"])
    assert nl.loc[("TAE", "nlr_pre"), ["n", "median", "q1", "q3"]].tolist() == [2, 4.0, 3.0, 5.0]
    assert nl.loc[("TAE", "nlr_1m"), ["n", "median"]].tolist() == [1, 3.0]
    assert ("cTACE", "nlr_pre") not in nl.index


def test_patient_numbers_are_a_permutation_in_md5_order(wh) -> None:
    rows = wh.execute(
        f"SELECT patient_key, patient_no FROM {data.PATIENT_NUMBERS} ORDER BY patient_no"
    ).fetchall()
    import hashlib

    assert [k for k, _ in rows] == sorted(
        ["ka", "kb", "kc", "kd"], key=lambda k: hashlib.md5(k.encode()).hexdigest()
    )
    assert [n for _, n in rows] == [1, 2, 3, 4]


def test_swimmer_is_in_days_from_the_first_session(wh) -> None:
    sw = data.swimmer(wh, "RECIST1.1", 30)
    assert sorted(sw.frame["os_days"].tolist()) == [100, 200, 300, 400]
    assessments = sw.extra["assessments"]
    assert sorted(assessments["day"].tolist()) == [90, 90, 190]


def test_thresholds_come_from_config(tmp_path) -> None:
    assert thresholds_pct(load_config(), "RECIST1.1") == (-30.0, 20.0)
    override = tmp_path / "c.toml"
    override.write_text(
        "[response]\nrecist_pr_max_fraction_of_baseline = 0.65\n"
        "recist_pd_min_fraction_of_nadir = 1.25\n"
    )
    assert thresholds_pct(load_config(override), "RECIST1.1") == (-35.0, 25.0)


def test_P1_P6_flag_labels_quote_the_configured_cut_offs(wh, tmp_path) -> None:
    """The label states the run's rule; the column name (flag_bilirubin_ge_2) is the contract."""
    assert flag_labels(load_config()) == {
        "flag_bilirubin_ge_2": "bilirubin ≥ 2 mg/dL",
        "flag_albumin_le_3_5": "albumin ≤ 3.5 g/dL",
        "flag_burden_ge_70": "tumour burden ≥ 70 % of liver volume",
        "flag_ascites": "ascites",
        "flag_extrahepatic": "extrahepatic disease",
        "flag_systemic_ge_3": "≥ 3 prior systemic lines",
        "flag_nlr_elevated": "NLR elevated",
    }
    override = tmp_path / "c.toml"
    override.write_text("[labs]\nflag_bilirubin_min_mg_dl = 3.0\nflag_systemic_min_lines = 4\n")
    cfg = load_config(override)
    labels = flag_labels(cfg)
    assert labels["flag_bilirubin_ge_2"] == "bilirubin ≥ 3 mg/dL"
    assert labels["flag_systemic_ge_3"] == "≥ 4 prior systemic lines"
    text = write_report(wh, cfg, tmp_path / "r", RUN).read_text()
    assert "bilirubin ≥ 3 mg/dL" in text and "bilirubin ≥ 2 mg/dL" not in text
    page = write_patient_page(wh, cfg, "ka", tmp_path / "p").read_text()
    assert "≥ 4 prior systemic lines" in page and "≥ 3 prior systemic lines" not in page


def test_report_and_patient_page_show_no_key_and_no_date(wh, tmp_path) -> None:
    cfg = load_config()
    index = write_report(wh, cfg, tmp_path / "r", RUN)
    text = index.read_text()
    assert text.count("<figure") >= 6 and "<svg" in text
    assert "http://" not in text.replace("http://www.w3.org", "")
    for key in ("ka", "kb", "kc", "kd"):
        assert f">{key}<" not in text and f"'{key}'" not in text
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text)
    assert "<script" not in text
    page = write_patient_page(wh, cfg, "ka", tmp_path / "p")
    body = page.read_text()
    assert "PR (R8): rule sentence" in body
    assert re.match(r"patient-P\d\.html", page.name)
    assert write_patient_page(wh, cfg, "no-such-key", tmp_path / "p") is None


# --- end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("report-demo")
    src, db = work / "source", work / "wh.duckdb"
    run = run_cli("demo", "--patients", "40", "--out", str(src), "--db", str(db), timeout=900)
    assert run.returncode == 0, run.stderr
    with (src / "sessions_part001.csv").open(newline="") as fh:
        identifier = next(csv.DictReader(fh))["patient_id"]
    with (src / "patients_part001.csv").open(newline="") as fh:
        identifiers = [r["patient_id"] for r in csv.DictReader(fh)]
    return {
        "work": work,
        "src": src,
        "db": db,
        "stdout": run.stdout,
        "identifier": identifier,
        "identifiers": identifiers,
    }


@pytest.mark.slow
def test_demo_writes_the_report_beside_the_warehouse(demo_run) -> None:
    index = demo_run["work"] / "wh_report" / "index.html"
    assert index.is_file()
    assert "outcome report:" in demo_run["stdout"]
    text = index.read_text()
    assert text.count('<figure class="fig"') >= 20
    keys = [
        r[0]
        for r in duckdb.connect(str(demo_run["db"]), read_only=True)
        .execute("SELECT patient_key FROM patients")
        .fetchall()
    ]
    for value in (*keys, *demo_run["identifiers"]):
        assert value not in text


@pytest.mark.slow
def test_cli_patient_page_by_identifier_with_the_key_configured(demo_run) -> None:
    env = cli_env(NELMTRACK_PSEUDONYM_KEY=DEMO_PSEUDONYM_KEY.decode())
    out = demo_run["work"] / "pages"
    got = run_cli(
        "report",
        "--db",
        str(demo_run["db"]),
        "--patient",
        demo_run["identifier"],
        "--out",
        str(out),
        env=env,
    )
    assert got.returncode == 0, got.stderr
    (page,) = out.glob("patient-P*.html")
    text = page.read_text()
    for value in demo_run["identifiers"]:
        assert value not in text and value not in got.stdout
    unknown = run_cli(
        "report",
        "--db",
        str(demo_run["db"]),
        "--patient",
        "NELM-999999",
        "--out",
        str(out),
        env=env,
    )
    assert unknown.returncode == 2
    assert "NELM-999999" not in unknown.stderr and "no patient" in unknown.stderr


@pytest.mark.slow
def test_a_rejected_run_leaves_the_previous_report(demo_run, tmp_path) -> None:
    import shutil

    db = tmp_path / "wh.duckdb"
    shutil.copyfile(demo_run["db"], db)
    first = run_cli("report", "--db", str(db))
    assert first.returncode == 0, first.stderr
    index = tmp_path / "wh_report" / "index.html"
    before = index.read_bytes()
    broken = tmp_path / "broken"
    shutil.copytree(demo_run["src"], broken)
    (broken / "imaging_bad.parquet").write_bytes(b"not a parquet file")
    env = cli_env(NELMTRACK_PSEUDONYM_KEY=DEMO_PSEUDONYM_KEY.decode())
    failed = run_cli("run", "--source", str(broken), "--db", str(db), env=env)
    assert failed.returncode == 2
    assert index.read_bytes() == before
    assert not list(tmp_path.glob("wh_report.building-*"))


@pytest.mark.slow
def test_report_and_patient_page_open_offline_in_chromium(demo_run, tmp_path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI: Debian chromium (/usr/bin/chromium) is not installed")
        pytest.skip("Debian chromium (/usr/bin/chromium) not installed")
    con = duckdb.connect(str(demo_run["db"]), read_only=True)
    cfg = load_config()
    data.number_patients(con)
    key = con.execute(
        f"SELECT patient_key FROM {data.PATIENT_NUMBERS} WHERE patient_no = 1"
    ).fetchone()[0]
    page = write_patient_page(con, cfg, key, tmp_path)
    con.close()
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "check_report_offline.py"),
            "--page",
            f"index={demo_run['work'] / 'wh_report' / 'index.html'}",
            "--page",
            f"patient={page}",
            "--figures",
            "figure.fig svg",
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("report-index.png", "report-patient.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index_text = (demo_run["work"] / "wh_report" / "index.html").read_text()
    page_text = page.read_text()
    assert key not in page_text and key not in index_text
    for identifier in demo_run["identifiers"]:  # no source identifier in either page
        assert identifier not in page_text and identifier not in index_text


def test_the_readme_km_median_query_equals_the_kaplan_meier_median() -> None:
    """report/sql/km_median_pfs_by_flags.sql (the README's example) against report.stats."""
    from report import stats

    con = duckdb.connect()
    create_schema(con)
    rng = np.random.default_rng(7)
    n = 300
    keys = [f"k{i}" for i in range(n)]
    flags = rng.integers(0, 3, n)
    days = rng.integers(10, 900, n)
    days[:20] = 100  # ties, incl. a step that may sit on 0.5
    events = rng.random(n) < 0.7
    insert(
        con,
        "session_flags",
        [
            {
                "patient_key": k,
                "session_id": "s",
                "session_number": 1,
                "session_date": FIRST,
                "modality": "TAE",
                "n_negative_flags": int(f),
            }
            for k, f in zip(keys, flags, strict=True)
        ],
    )
    insert(
        con,
        "best_responses",
        [
            {
                "patient_key": k,
                "criteria": "RECIST1.1",
                "scope": "course",
                "pfs_days": int(d),
                "pfs_event": bool(e),
            }
            for k, d, e in zip(keys, days, events, strict=True)
        ],
    )
    sql = (REPO / "report" / "sql" / "km_median_pfs_by_flags.sql").read_text()
    got = con.sql(sql).fetchall()
    assert [g for g, *_ in got] == [0, 1, 2]
    for group, patients, progressions, median in got:
        mask = flags == group
        km = stats.kaplan_meier(days[mask], events[mask])
        assert (patients, progressions) == (km.n, km.events)
        assert median == pytest.approx(km.median, abs=1e-9)


def test_an_empty_warehouse_gives_a_report_that_says_so(tmp_path) -> None:
    con = duckdb.connect()
    create_schema(con)
    text = write_report(con, load_config(), tmp_path, RUN).read_text()
    assert "<figure" not in text
    assert "0 patients with at least one session" in text
    assert "no patient to show" in text
