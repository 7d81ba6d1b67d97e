"""L1-L3 conformance on third-party data: pharmaverse SDTM ``lb`` (see SOURCE.md there).

Each result in ``lb.csv`` is given twice: as reported (LBORRES, LBORRESU:
g/dL, mg/dL, U/L, THOU/uL) and in SI (LBSTRESN/LBSTRESC, LBSTRESU: g/L,
umol/L, U/L, GI/L). Both representations go through ``normalise_labs``; every
row must come out of both with the same canonical value, none lost or
quarantined.

Tolerance. LBSTRESN is not rounded: it is the double product of LBORRES and
the SI factor (bilirubin 0.5 mg/dL -> 8.549999999999999 umol/L, i.e. 0.5 x 17.1
in binary floating point), so after our division the two agree up to
double-precision noise and our rounding to ``value_round_decimals`` (9)
decimals: a relative tolerance of 1e-9 is ample and still 10^6 times finer
than the 2-decimal precision of the data. The 5 rows whose LBSTRESN is empty
are the censored bilirubin results ("<0.2" mg/dL); for them the SI side comes
from LBSTRESC ("<3.42" umol/L, 2 decimals), so the tolerance there is half a
unit of its last decimal, 0.005 umol/L = 0.005 / 17.1 mg/dL.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from config import load_config
from config.params import lab_params
from transforms.labs import normalise_labs

LB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse" / "lb.csv"
DEFAULT_CONFIG = load_config()
PARAMS = lab_params(DEFAULT_CONFIG.section("labs"), DEFAULT_CONFIG)
ADAPTER = {
    "ALB": "albumin",
    "BILI": "bilirubin",
    "CREAT": "creatinine",
    "AST": "ast",
    "PLAT": "platelets",
    "LYM": "lymphocytes",
    "WBC": "WBC",  # not one of our analytes: kept as reported, unconverted
}
SI_REL_TOL = 1e-9
CENSORED_ABS_TOL = 0.005 / 17.1  # half a unit of LBSTRESC's second decimal, in mg/dL

pytestmark = pytest.mark.skipif(not LB.exists(), reason="shared pharmaverse data not found")


@pytest.fixture(scope="module")
def lb() -> pd.DataFrame:
    frame = pd.read_csv(LB, keep_default_na=False, na_values=[""], dtype=str)
    assert set(frame["LBTESTCD"]) == set(ADAPTER)
    return frame


def staged(frame: pd.DataFrame, value: pd.Series, unit: pd.Series) -> pa.Table:
    """The adapter: SDTM columns -> staged labs rows (source_row = row of lb.csv)."""
    n = len(frame)
    return pa.table(
        {
            "patient_key": pa.array(frame["USUBJID"].to_numpy(), pa.string()),
            "collected_at": pa.array(
                pd.to_datetime(frame["LBDTC"], format="ISO8601").to_numpy(), pa.timestamp("us")
            ),
            "collected_has_time": pa.array((frame["LBDTC"].str.len() > 10).to_numpy()),
            "test": pa.array(frame["LBTESTCD"].map(ADAPTER).to_numpy(), pa.string()),
            "value": pa.array(value.to_numpy(), pa.string()),
            "unit": pa.array(unit.to_numpy(), pa.string()),
            "source_file": pa.array(["lb.csv"] * n, pa.string()),
            "source_row": pa.array(range(1, n + 1), pa.int64()),
        }
    )


def test_conformance_lb_reported_and_si_give_the_same_canonical_values(lb):
    empty = {c: int(lb[c].isna().sum()) for c in ("LBORRES", "LBORRESU", "LBSTRESN", "LBSTRESU")}
    si_missing = lb["LBSTRESN"].isna()
    # the only empty results: LBSTRESN of censored values, which LBSTRESC carries
    assert empty == {"LBORRES": 0, "LBORRESU": 0, "LBSTRESN": 5, "LBSTRESU": 0}
    assert lb.loc[si_missing, "LBORRES"].tolist() == ["<0.2"] * 5
    assert lb.loc[si_missing, "LBSTRESC"].tolist() == ["<3.42"] * 5
    si_value = lb["LBSTRESN"].where(~si_missing, lb["LBSTRESC"])

    reported, reported_q = normalise_labs(staged(lb, lb["LBORRES"], lb["LBORRESU"]), PARAMS)
    si, si_q = normalise_labs(staged(lb, si_value, lb["LBSTRESU"]), PARAMS)
    a = reported.to_pandas().set_index("source_row").sort_index()
    b = si.to_pandas().set_index("source_row").sort_index()

    print(
        f"\nlb.csv rows {len(lb)}; reported kept {len(a)}, quarantined {reported_q.num_rows}; "
        f"SI kept {len(b)}, quarantined {si_q.num_rows}; SI from LBSTRESC (censored) "
        f"{int(si_missing.sum())}"
    )
    print(a.groupby(["analyte", "unit_raw", "unit"]).size().to_string())
    print(b.groupby(["analyte", "unit_raw", "unit"]).size().to_string())
    assert reported_q.num_rows == 0 and si_q.num_rows == 0
    assert list(a.index) == list(b.index) == list(range(1, len(lb) + 1))
    assert (a["analyte"] == b["analyte"]).all()
    assert a["qualifier"].fillna("").eq(b["qualifier"].fillna("")).all()

    ours = a["analyte"] != "wbc"
    assert (a.loc[ours, "unit"] == b.loc[ours, "unit"]).all()
    exact = ours & ~si_missing.to_numpy()
    rel = (a.loc[exact, "value"] - b.loc[exact, "value"]).abs() / a.loc[exact, "value"].abs()
    print(f"analyte rows compared {int(exact.sum())}, max relative difference {rel.max():.2e}")
    assert rel.max() <= SI_REL_TOL
    censored = si_missing.to_numpy()
    assert (a.loc[censored, "value"] - b.loc[censored, "value"]).abs().max() <= CENSORED_ABS_TOL
    assert a.loc[censored, "qualifier"].tolist() == ["<"] * 5

    # WBC is kept unconverted: the number as given, the unit as reported
    wbc = ~ours
    assert (a.loc[wbc, "unit"] == "THOU/uL").all() and (b.loc[wbc, "unit"] == "GI/L").all()
    assert (
        a.loc[wbc, "value"] - lb.loc[wbc.to_numpy(), "LBORRES"].astype(float).to_numpy()
    ).abs().max() == 0
    print(f"WBC rows kept unconverted {int(wbc.sum())}")
