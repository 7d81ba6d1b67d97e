"""Scale check of compute_lab_tables on a synthetic cohort (marked slow).

Opt-in, because it needs about a minute and several GB of memory: run with
``LABS_SCALE_PATIENTS=100000 pytest -s tests/test_labs_scale.py`` (100,000
patients x 3 sessions x 160 lab rows = 16 million rows).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa
import pytest

from config import load_config
from config.params import lab_params
from transforms.labs import compute_lab_tables, flag_distribution

DEFAULT_CONFIG = load_config()
PARAMS = lab_params(DEFAULT_CONFIG.section("labs"), DEFAULT_CONFIG)
ANALYTES = {
    # analyte: (typical value, spread) in canonical units
    "bilirubin": (0.8, 0.6),
    "albumin": (3.8, 0.5),
    "creatinine": (1.0, 0.4),
    "ldh": (250.0, 120.0),
    "ast": (40.0, 30.0),
    "platelets": (220.0, 80.0),
    "neutrophils": (4.0, 1.5),
    "lymphocytes": (1.5, 0.5),
}


def synthetic_cohort(n_patients: int, n_sessions: int = 3, n_labs: int = 160, seed: int = 7):
    """Arrow tables shaped like the cleaned facts, generated without a per-patient loop."""
    rng = np.random.default_rng(seed)
    keys = pa.array([f"{i:064x}" for i in range(n_patients)])
    first = np.datetime64("2020-01-01") + rng.integers(0, 1500, n_patients).astype("timedelta64[D]")
    gaps = rng.integers(30, 150, (n_patients, n_sessions)).cumsum(axis=1) - 30
    session_dates = (first[:, None] + gaps.astype("timedelta64[D]")).ravel()
    patient_of_session = np.repeat(np.arange(n_patients), n_sessions)
    n_s = n_patients * n_sessions
    sessions = pa.table(
        {
            "patient_key": keys.take(pa.array(patient_of_session)),
            "session_id": pa.array([f"s{i}" for i in range(n_s)]),
            "session_date": pa.array(session_dates.astype("datetime64[D]")),
            "session_number": pa.array(
                np.tile(np.arange(1, n_sessions + 1), n_patients), pa.int32()
            ),
            "modality": pa.array(rng.choice(["TAE", "cTACE", "DEB-TACE", "TARE"], n_s)),
            "treated_segments": pa.array([[5, 6, 7, 8]] * n_s, pa.list_(pa.int32())),
            "agent": pa.array(rng.choice(["doxorubicin", "cisplatin", None], n_s)),
            "microsphere": pa.nulls(n_s, pa.string()),
            "activity_gbq": pa.nulls(n_s, pa.float64()),
            "prior_systemic_lines": pa.array(rng.integers(0, 5, n_s), pa.int32()),
            "lvef_pct": pa.array(rng.normal(58, 8, n_s)),
            "source_file": pa.array(["sessions.csv"] * n_s),
            "source_row": pa.array(np.arange(1, n_s + 1)),
        }
    )
    n_i = n_s
    imaging = pa.table(
        {
            "patient_key": sessions["patient_key"],
            "study_date": pa.array(
                (session_dates - rng.integers(0, 60, n_i).astype("timedelta64[D]")).astype(
                    "datetime64[D]"
                )
            ),
            "modality": pa.array(["CT"] * n_i),
            "extrahepatic_disease": pa.array(rng.random(n_i) < 0.3),
            "ascites": pa.array(rng.random(n_i) < 0.1),
            "liver_tumor_burden_pct": pa.array(rng.uniform(5, 90, n_i).round(1)),
            "portal_vein_occlusion": pa.array(rng.random(n_i) < 0.05),
            "source_file": pa.array(["imaging.csv"] * n_i),
            "source_row": pa.array(np.arange(1, n_i + 1)),
        }
    )
    patients = pa.table(
        {
            "patient_key": keys,
            "ki67_pct": pa.array(rng.uniform(0.5, 25, n_patients).round(1)),
            "bilioenteric_anastomosis": pa.array(rng.random(n_patients) < 0.05),
            "prior_whipple": pa.array(rng.random(n_patients) < 0.05),
        }
    )
    n_l = n_patients * n_labs
    patient_of_lab = np.repeat(np.arange(n_patients), n_labs)
    names = np.array(list(ANALYTES))
    analyte_idx = np.tile(np.arange(n_labs) % len(names), n_patients)
    draw = np.tile(np.arange(n_labs) // len(names), n_patients)  # 20 draws per analyte
    # all analytes of one draw on the same day; a quarter of the draws date-only (midnight)
    draw_day = (np.arange(20) * 20 - 60)[None, :] + rng.integers(0, 3, (n_patients, 20))
    offsets_days = draw_day[patient_of_lab, draw]
    draw_minute = rng.integers(7 * 60, 17 * 60, (n_patients, 20))
    draw_minute[rng.random((n_patients, 20)) < 0.25] = 0
    minutes = draw_minute[patient_of_lab, draw]
    collected = (
        first[patient_of_lab].astype("datetime64[m]")
        + offsets_days.astype("timedelta64[D]")
        + minutes.astype("timedelta64[m]")
    )
    typical = np.array([ANALYTES[a][0] for a in names])[analyte_idx]
    spread = np.array([ANALYTES[a][1] for a in names])[analyte_idx]
    values = np.abs(rng.normal(typical, spread)).round(2) + 0.01
    labs = pa.table(
        {
            "patient_key": keys.take(pa.array(patient_of_lab)),
            "collected_at": pa.array(collected.astype("datetime64[us]")),
            "analyte": pa.array(names).take(pa.array(analyte_idx)),
            "value": pa.array(values),
            "unit": pa.nulls(n_l, pa.string()),
            "qualifier": pa.nulls(n_l, pa.string()),
            "value_raw": pa.array(values.astype(str)),
            "unit_raw": pa.array(["x"] * n_l),
            "test_raw": pa.array(names).take(pa.array(analyte_idx)),
            "source_file": pa.array(["labs.csv"] * n_l),
            "source_row": pa.array(np.arange(1, n_l + 1)),
        }
    )
    return labs, sessions, imaging, patients


@pytest.mark.slow
@pytest.mark.skipif(
    "LABS_SCALE_PATIENTS" not in os.environ, reason="opt-in: set LABS_SCALE_PATIENTS"
)
def test_compute_lab_tables_scale():
    n_patients = int(os.environ["LABS_SCALE_PATIENTS"])
    labs, sessions, imaging, patients = synthetic_cohort(n_patients)
    started = time.perf_counter()
    tables = compute_lab_tables(labs, sessions, imaging, patients, PARAMS)
    elapsed = time.perf_counter() - started
    print(
        f"\ncompute_lab_tables: {n_patients} patients, {labs.num_rows} lab rows, "
        f"{sessions.num_rows} sessions: {elapsed:.1f} s; nlr rows {tables.nlr.num_rows}"
    )
    print(flag_distribution(tables.session_flags).to_pandas().to_string())
    assert tables.session_flags.num_rows == sessions.num_rows
    assert tables.session_labs.num_rows == sessions.num_rows
    assert tables.nlr.num_rows == n_patients * 20
