"""Conformance of best_responses with admiralonco, via the pharmaverse ADaM oracle.

Input: ``adrs_onco`` PARAMCD=OVR (investigator overall response per visit,
a copy of ``rs_onco_recist``), dated by ADT; scope start = ``adsl.RANDDT``;
target disease from the investigator's TARGET lesions in ``tu_onco_recist``.
Oracle: ``adrs_onco`` BOR / CBOR / CRSP and ``adtte_onco`` PFS / RSD, built by
admiralonco (pharmaverse SOURCE.md §7). Our day counts are date differences;
ADaM's AVAL adds one day (ADT - STARTDT + 1).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from config import load_config
from config.params import best_response_params
from transforms.responses.best import compute_best_responses

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse"
CRITERIA = "RECIST1.1"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found")


def _read(name: str) -> pd.DataFrame:
    # REGION1 holds the literal "NA" (North America): only an empty field is missing.
    return pd.read_csv(DATA / f"{name}.csv", keep_default_na=False, na_values=[""], dtype=str)


def _date(value: object) -> dt.date | None:
    return None if pd.isna(value) else dt.date.fromisoformat(str(value))


def _impute_last_day(dtc: str) -> dt.date:
    """ADT as admiralonco derives it: a missing day becomes the month's last day (Q8)."""
    if len(dtc) == 7:
        year, month = int(dtc[:4]), int(dtc[5:7])
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return dt.date.fromisoformat(dtc[:10])


@pytest.fixture(scope="module")
def adrs() -> pd.DataFrame:
    return _read("adrs_onco")


@pytest.fixture(scope="module")
def adsl() -> pd.DataFrame:
    return _read("adsl")


@pytest.fixture(scope="module")
def ours(adrs: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    ovr = adrs[adrs["PARAMCD"] == "OVR"]
    tu = _read("tu_onco_recist")
    with_targets = set(
        tu.loc[(tu["TUEVAL"] == "INVESTIGATOR") & (tu["TUSTRESC"] == "TARGET"), "USUBJID"]
    )
    assessments = pa.table(
        {
            "patient_key": ovr["USUBJID"].tolist(),
            "criteria": [CRITERIA] * len(ovr),
            "scope": ["course"] * len(ovr),
            "study_date": pa.array([_date(v) for v in ovr["ADT"]], pa.date32()),
            "overall_response": ovr["AVALC"].tolist(),
            "has_target_disease": [u in with_targets for u in ovr["USUBJID"]],
            "progression_date_hint": pa.nulls(len(ovr), pa.date32()),
        }
    )
    randomised = adsl[adsl["RANDDT"].notna()]
    scopes = pa.table(
        {
            "patient_key": randomised["USUBJID"].tolist(),
            "scope": ["course"] * len(randomised),
            "start_date": pa.array([_date(v) for v in randomised["RANDDT"]], pa.date32()),
            "event_window_end": pa.nulls(len(randomised), pa.date32()),
        }
    )
    patients = pa.table(
        {
            "patient_key": adsl["USUBJID"].tolist(),
            "death_date": pa.array([_date(v) for v in adsl["DTHDT"]], pa.date32()),
            "last_contact_date": pa.array([_date(v) for v in adsl["LSTALVDT"]], pa.date32()),
        }
    )
    params = best_response_params(load_config(), {"criteria": [CRITERIA]})
    result = compute_best_responses(assessments, scopes, patients, params)
    return result.to_pandas().set_index("patient_key")


def _oracle(adrs: pd.DataFrame, paramcd: str) -> pd.Series:
    rows = adrs[adrs["PARAMCD"] == paramcd]
    return rows.set_index("USUBJID")["AVALC"]


def test_conformance_ovr_dates_are_rs_onco_recist_with_last_day_imputation(
    adrs: pd.DataFrame,
) -> None:
    """Q8: the OVR dates we use are RSDTC with a missing day imputed to the month's end."""
    rs = _read("rs_onco_recist")
    rs = rs[(rs["RSEVAL"] == "INVESTIGATOR") & (rs["RSTESTCD"] == "OVRLRESP")]
    derived = sorted(
        zip(rs["USUBJID"], map(_impute_last_day, rs["RSDTC"]), rs["RSSTRESC"], strict=True)
    )
    ovr = adrs[adrs["PARAMCD"] == "OVR"]
    used = sorted(zip(ovr["USUBJID"], map(_date, ovr["ADT"]), ovr["AVALC"], strict=True))
    assert derived == used
    assert len(used) == 22
    assert ("01-701-1015", dt.date(2014, 2, 28), "NE") in used


def test_conformance_bor_and_cbor_match_admiralonco(adrs: pd.DataFrame, ours: pd.DataFrame) -> None:
    with_data = sorted(adrs.loc[adrs["PARAMCD"] == "OVR", "USUBJID"].unique())
    results = {}
    for ours_col, paramcd in (("bor", "BOR"), ("bor_confirmed", "CBOR")):
        expected = _oracle(adrs, paramcd).loc[with_data]
        got = ours.loc[with_data, ours_col]
        matches = int((expected == got).sum())
        results[paramcd] = matches
        print(f"{paramcd}: {matches}/{len(with_data)} subjects with OVR data match")
        assert got.to_dict() == expected.to_dict()
    assert results == {"BOR": 8, "CBOR": 8}


def test_conformance_subjects_without_ovr_data(
    adrs: pd.DataFrame, adsl: pd.DataFrame, ours: pd.DataFrame
) -> None:
    """Upstream MISSING: randomised subjects get NE with no response and PFS censored at 0
    (our documented equivalent: E2 'no assessment' is NE); screen failures get no row."""
    with_data = set(adrs.loc[adrs["PARAMCD"] == "OVR", "USUBJID"])
    randomised = set(adsl.loc[adsl["RANDDT"].notna(), "USUBJID"])
    bor = _oracle(adrs, "BOR")
    cbor = _oracle(adrs, "CBOR")
    without = sorted(set(adsl["USUBJID"]) - with_data)
    assert len(without) == 298
    assert set(bor.loc[without]) == {"MISSING"} and set(cbor.loc[without]) == {"MISSING"}
    no_data_rows = ours.loc[sorted(randomised - with_data)]
    assert len(no_data_rows) == 246
    assert set(no_data_rows["bor"]) == {"NE"} and set(no_data_rows["bor_confirmed"]) == {"NE"}
    assert no_data_rows["first_response_date"].isna().all()
    assert no_data_rows["progression_date"].isna().all()
    assert set(ours.index) == randomised  # the 52 screen failures have no row
    print(
        f"MISSING upstream: {len(without)} subjects; ours NE: {len(no_data_rows)}, no row: "
        f"{len(without) - len(no_data_rows)}"
    )


def test_conformance_first_response_date_matches_crsp(
    adrs: pd.DataFrame, ours: pd.DataFrame
) -> None:
    crsp = adrs[(adrs["PARAMCD"] == "CRSP") & (adrs["AVALC"] == "Y")]
    expected = {u: _date(d) for u, d in zip(crsp["USUBJID"], crsp["ADT"], strict=True)}
    got = ours["first_response_date"].dropna().to_dict()
    assert got == expected == {"01-701-1118": dt.date(2014, 4, 23)}


def test_conformance_pfs_matches_adtte(ours: pd.DataFrame) -> None:
    """PFS for all 254 randomised subjects: events (PD or death) and censoring at the last
    assessment or at randomisation. ADaM's AVAL counts both ends (ours + 1)."""
    adtte = _read("adtte_onco")
    pfs = adtte[adtte["PARAMCD"] == "PFS"].set_index("USUBJID")
    got = ours.loc[pfs.index]
    assert ((got["pfs_days"] + 1) == pfs["AVAL"].astype(int)).all()
    assert (got["pfs_event"] == (pfs["CNSR"] == "0")).all()
    print(f"PFS: {len(pfs)}/{len(pfs)} match, {int(got['pfs_event'].sum())} events")


def test_conformance_duration_of_response_for_the_confirmed_responder(
    ours: pd.DataFrame,
) -> None:
    """adtte RSD starts at the first unconfirmed response; ours at the first confirmed one,
    so they agree where the two coincide (the only confirmed responder)."""
    adtte = _read("adtte_onco")
    rsd = adtte[adtte["PARAMCD"] == "RSD"].set_index("USUBJID")
    confirmed = ours[ours["dor_days"].notna()]
    assert list(confirmed.index) == ["01-701-1118"]
    assert int(confirmed.loc["01-701-1118", "dor_days"]) + 1 == int(rsd.loc["01-701-1118", "AVAL"])
