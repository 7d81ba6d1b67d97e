"""L1-L3: test recognition, unit conversion, censored values and the lab quarantine."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_config
from config.params import lab_params
from demo_cohort import model
from transforms.labs import normalise_labs

DEFAULT_CONFIG = load_config()
PARAMS = lab_params(DEFAULT_CONFIG.section("labs"), DEFAULT_CONFIG)
WHEN = dt.datetime(2024, 3, 1, 8, 30)


def staged(rows: list[tuple[str, str, str]]) -> pa.Table:
    """Staged labs rows (test, value, unit), one patient, source rows 1..n."""
    n = len(rows)
    return pa.table(
        {
            "patient_key": pa.array(["k" * 64] * n, pa.string()),
            "collected_at": pa.array([WHEN] * n, pa.timestamp("us")),
            "collected_has_time": pa.array([True] * n, pa.bool_()),
            "test": pa.array([r[0] for r in rows], pa.string()),
            "value": pa.array([r[1] for r in rows], pa.string()),
            "unit": pa.array([r[2] for r in rows], pa.string()),
            "source_file": pa.array(["labs.csv"] * n, pa.string()),
            "source_row": pa.array(range(1, n + 1), pa.int64()),
        }
    )


def normalised(rows: list[tuple[str, str, str]]) -> tuple[list[dict], list[dict]]:
    results, quarantine = normalise_labs(staged(rows), PARAMS)
    return results.to_pylist(), quarantine.to_pylist()


def converted(test: str, value: str, unit: str) -> dict:
    results, quarantine = normalised([(test, value, unit)])
    assert quarantine == []
    (row,) = results
    return row


# --- L1 ---------------------------------------------------------------------------


def converted_values(rows: list[tuple[str, str, str]]) -> list[tuple[str, float, str]]:
    """(analyte, canonical value, canonical unit) of each row, none quarantined."""
    results, quarantine = normalised(rows)
    assert quarantine == []
    return [(r["analyte"], r["value"], r["unit"]) for r in results]


def test_L1_every_test_and_unit_the_demo_generator_writes_converts_to_its_canonical_value():
    """L1 against the demo cohort's lab world, which demo_cohort/model.py writes as a site
    would (its own test spellings, unit spellings and factors), independently of the
    config: every spelling is recognised, and each alternative unit's factor is the
    inverse of the configured conversion. So the generator never silently tests a copy
    of the config, and a wrong factor in either shows here, named."""
    rows, expected = [], []
    for a, analyte in enumerate(model.ANALYTES):
        canonical = float(model.VALUE_LIMITS[a].mean())
        for system, spellings in enumerate(model.UNIT_SPELLINGS[a]):
            reported = canonical * float(model.UNIT_FACTOR[a, system])
            for unit in spellings:
                for test in model.TEST_SPELLINGS[a]:
                    rows.append((test, repr(reported), unit))
                    expected.append((analyte, canonical, test, unit))
    got = converted_values(rows)
    assert [(g[0], g[1]) for g in got] == [
        (analyte, pytest.approx(canonical, rel=1e-4)) for analyte, canonical, _, _ in expected
    ]


BILIRUBIN_UMOL = ["µmol/L", "umol/L", "µmol/l", "μmol/L", "mcmol/L", "UMOL/L", " umol / L "]


def test_L1_bilirubin_umol_per_l_divided_by_17_1():
    rows = [("bilirubin", "34.2", unit) for unit in BILIRUBIN_UMOL] + [("TBIL", "1.3", "mg/dL")]
    assert converted_values(rows) == [("bilirubin", 2.0, "mg/dL")] * len(BILIRUBIN_UMOL) + [
        ("bilirubin", 1.3, "mg/dL")
    ]


def test_L1_albumin_g_per_l_divided_by_10():
    rows = [("albumin", "35", "g/L"), ("albumin", "35", "G/L"), ("albumin", "3.5", "g/dL")]
    assert converted_values(rows) == [("albumin", 3.5, "g/dL")] * 3


def test_L1_creatinine_umol_per_l_divided_by_88_4():
    rows = [("creatinine", "176.8", "µmol/L"), ("creatinine", "176.8", "umol/l")]
    rows += [("creatinine", "2", "mg/dL")]
    assert converted_values(rows) == [("creatinine", 2.0, "mg/dL")] * 3


ENZYME_UNITS = [
    ("250", "U/L", 250.0),
    ("250", "IU/L", 250.0),
    ("250", "mU/mL", 250.0),
    ("250", "u/l", 250.0),
    ("1.5", "µkat/L", 90.0),
    ("1.5", "ukat/L", 90.0),
    ("1.5", "μkat/l", 90.0),
]


def test_L1_enzymes_in_u_per_l_and_ukat_times_60():
    rows = [(test, value, unit) for test in ("ldh", "ast") for value, unit, _ in ENZYME_UNITS]
    expected = [(test, v, "U/L") for test in ("ldh", "ast") for _, _, v in ENZYME_UNITS]
    assert converted_values(rows) == expected


SAME_AS_10E9_PER_L = [
    "10^9/L", "10*9/L", "x10^9/L", "x 10^9/L", "×10^9/L", "x10E9/L", "10E9/L", "GI/L",
    "10^3/uL", "10^3/µL", "x10^3/µL", "10*3/uL", "K/uL", "K/µL", "THOU/uL", "10^3/mm3",
]  # fmt: skip
PER_MICROLITRE = ["/uL", "/µL", "/μL", "cells/uL", "cells/µL", "/mm3", "cells/mm3"]
COUNTS = ("platelets", "neutrophils", "lymphocytes")


def test_L1_counts_per_nanolitre_spellings_unchanged():
    rows = [(test, "4.5", unit) for test in COUNTS for unit in SAME_AS_10E9_PER_L]
    expected = [(test, 4.5, "10^9/L") for test in COUNTS for _ in SAME_AS_10E9_PER_L]
    assert converted_values(rows) == expected


def test_L1_counts_per_microlitre_divided_by_1000():
    rows = [(test, "4500", unit) for test in COUNTS for unit in PER_MICROLITRE]
    expected = [(test, 4.5, "10^9/L") for test in COUNTS for _ in PER_MICROLITRE]
    assert converted_values(rows) == expected


TEST_NAMES = [
    ("1975-2", "bilirubin"), ("Bilirubin", "bilirubin"), ("total bilirubin", "bilirubin"),
    ("TBIL", "bilirubin"), ("bili", "bilirubin"), ("1751-7", "albumin"), ("ALB", "albumin"),
    ("2160-0", "creatinine"), ("Creat", "creatinine"), ("14804-9", "ldh"), ("2532-0", "ldh"),
    ("Lactate  dehydrogenase", "ldh"), ("1920-8", "ast"), ("SGOT", "ast"),
    ("aspartate aminotransferase", "ast"), ("777-3", "platelets"), ("PLT", "platelets"),
    ("plat", "platelets"), ("751-8", "neutrophils"), ("ANC", "neutrophils"),
    ("absolute neutrophils", "neutrophils"), ("neut", "neutrophils"),
    ("731-0", "lymphocytes"), ("ALC", "lymphocytes"), ("absolute lymphocytes", "lymphocytes"),
    ("LYM", "lymphocytes"),
]  # fmt: skip
CANONICAL_UNIT = {
    "bilirubin": "mg/dL", "albumin": "g/dL", "creatinine": "mg/dL", "ldh": "U/L", "ast": "U/L",
    "platelets": "10^9/L", "neutrophils": "10^9/L", "lymphocytes": "10^9/L",
}  # fmt: skip


def test_L1_tests_recognised_by_loinc_and_name():
    rows = [(test, "2", CANONICAL_UNIT[analyte]) for test, analyte in TEST_NAMES]
    assert [a for a, _, _ in converted_values(rows)] == [analyte for _, analyte in TEST_NAMES]


def test_L1_other_tests_kept_as_reported_never_quarantined():
    results, quarantine = normalised(
        [(" Sodium ", "140", "mmol/L"), ("CRP", "pending", "mg/L"), ("WBC", "<1", "furlongs")]
    )
    assert quarantine == []
    assert [(r["analyte"], r["value"], r["unit"], r["qualifier"]) for r in results] == [
        ("sodium", 140.0, "mmol/L", None),
        ("crp", None, "mg/L", None),
        ("wbc", 1.0, "furlongs", "<"),
    ]


def test_L1_raw_text_and_lineage_kept():
    row = converted(" Total Bilirubin", " 34.2 ", "µmol/L")
    assert (row["test_raw"], row["value_raw"], row["unit_raw"]) == (
        " Total Bilirubin",
        " 34.2 ",
        "µmol/L",
    )
    assert (row["source_file"], row["source_row"], row["collected_at"]) == ("labs.csv", 1, WHEN)


# --- L2 ---------------------------------------------------------------------------


CENSORED = [
    ("bilirubin", "<0.2", "mg/dL", 0.2, "<"),
    ("ldh", "> 1000", "U/L", 1000.0, ">"),
    ("bilirubin", "≤5", "mg/dL", 5.0, "<="),
    ("bilirubin", "<=5", "mg/dL", 5.0, "<="),
    ("bilirubin", "≥ 3", "mg/dL", 3.0, ">="),
    ("bilirubin", ">=3", "mg/dL", 3.0, ">="),
    ("bilirubin", "1.0", "mg/dL", 1.0, None),
    ("bilirubin", ".5", "mg/dL", 0.5, None),
]


def test_L2_censored_value_keeps_number_and_sign():
    results, quarantine = normalised([(t, v, u) for t, v, u, _, _ in CENSORED])
    assert quarantine == []
    assert [(r["value"], r["qualifier"]) for r in results] == [(n, q) for *_, n, q in CENSORED]


def test_L2_censored_value_converted_like_any_other():
    row = converted("bilirubin", "<3.42", "umol/L")
    assert (row["value"], row["qualifier"]) == (0.2, "<")


# --- L3 ---------------------------------------------------------------------------


UNREADABLE = ["abc", "1,5", "<", "5 mg", "1.2.3", "nan", "inf", "--1", "< >3"]


def test_L3_unreadable_value_is_bad_number():
    results, quarantine = normalised([("bilirubin", value, "mg/dL") for value in UNREADABLE])
    assert results == []
    assert [q["reason_code"] for q in quarantine] == ["bad_number"] * len(UNREADABLE)


UNCONVERTIBLE = [
    ("bilirubin", "mmol/L"),
    ("bilirubin", "mg/L"),
    ("albumin", "mg/dL"),
    ("creatinine", "U/L"),
    ("ldh", "µmol/L"),
    ("platelets", "%"),
    ("neutrophils", "%"),
    ("ast", "kat/L"),
]


def test_L3_unconvertible_unit_is_unknown_unit():
    results, quarantine = normalised([(test, "1", unit) for test, unit in UNCONVERTIBLE])
    assert results == []
    assert [q["reason_code"] for q in quarantine] == ["unknown_unit"] * len(UNCONVERTIBLE)
    assert quarantine[0]["reason"] == "bilirubin: unit cannot be converted to mg/dL"


RANGE_CASES = [
    ("bilirubin", "60", "mg/dL", True),
    ("bilirubin", "60.1", "mg/dL", False),
    ("bilirubin", "1027", "umol/L", False),  # 60.06 mg/dL
    ("albumin", "70", "g/L", True),  # 7.0 g/dL, on the limit
    ("albumin", "71", "g/L", False),
    ("albumin", "0.4", "g/dL", False),
    ("creatinine", "0.05", "mg/dL", False),
    ("creatinine", "<0.05", "mg/dL", False),
    ("ldh", "50000", "U/L", True),
    ("ldh", "1000", "ukat/L", False),  # 60,000 U/L
    ("ast", "0.5", "U/L", False),
    ("platelets", "3001", "10^9/L", False),
    ("platelets", "500", "/uL", False),  # 0.5 x 10^9/L
    ("neutrophils", "0", "10^9/L", True),
    ("lymphocytes", "-1", "10^9/L", False),
    ("lymphocytes", "201", "10^9/L", False),
]


def test_L3_outside_physiological_range_is_out_of_range():
    results, quarantine = normalised([(t, v, u) for t, v, u, _ in RANGE_CASES])
    kept_rows = [i for i, case in enumerate(RANGE_CASES, start=1) if case[3]]
    assert [r["source_row"] for r in results] == kept_rows
    assert {q["reason_code"] for q in quarantine} == {"out_of_range"}
    assert len(quarantine) == len(RANGE_CASES) - len(kept_rows)


def test_L3_reason_names_the_column_and_the_rule_never_the_value():
    _, quarantine = normalised(
        [("albumin", "71", "g/L"), ("bilirubin", "x", "mg/dL"), ("ast", "30", "furlongs")]
    )
    assert [(q["column_name"], q["action"], q["reason"]) for q in quarantine] == [
        ("value", "row_rejected", "albumin: value is outside the physiological range 0.5-7 g/dL"),
        (
            "value",
            "row_rejected",
            "bilirubin: value is neither a number nor a censored number such as <0.2",
        ),
        ("unit", "row_rejected", "ast: unit cannot be converted to U/L"),
    ]
    text = " ".join(q["reason"] for q in quarantine)
    assert "k" * 64 not in text and "2024" not in text
    assert "71" not in text and "7.1" not in text and "furlongs" not in text


def test_L3_bad_number_wins_over_unknown_unit():
    _, quarantine = normalised([("ldh", "high", "furlongs")])
    assert [q["reason_code"] for q in quarantine] == ["bad_number"]


# --- properties ------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=0.1, max_value=30.0), min_size=1, max_size=20))
def test_L1_property_umol_and_mg_dl_agree(mg_dl_values):
    """A bilirubin value reported in µmol/L (x 17.1) converts back to the mg/dL value."""
    rows = [("bilirubin", repr(v * 17.1), "µmol/L") for v in mg_dl_values]
    results, quarantine = normalised(rows)
    assert quarantine == []
    for row, expected in zip(results, mg_dl_values, strict=True):
        assert row["value"] == pytest.approx(expected, rel=1e-9, abs=1e-9)


TESTS = st.sampled_from(["bilirubin", "ALB", "ldh", "PLT", "sodium", "1920-8"])
VALUES = st.sampled_from(["1", "<0.2", ">1000", "abc", "45", "0", "99999", "3.5"])
UNITS = st.sampled_from(["mg/dL", "g/L", "U/L", "/uL", "10^9/L", "mmol/L", "µkat/L"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(TESTS, VALUES, UNITS), min_size=1, max_size=30))
def test_L3_property_every_row_is_either_kept_or_quarantined(rows):
    results, quarantine = normalised(rows)
    kept = {r["source_row"] for r in results}
    dropped = {q["source_row"] for q in quarantine}
    assert kept.isdisjoint(dropped)
    assert kept | dropped == set(range(1, len(rows) + 1))
    assert all(r["analyte"] != "sodium" or r["source_row"] in kept for r in results)


# --- L1: the unit spellings of real deliveries (config [labs.unit_aliases]) ----------


@pytest.mark.parametrize(
    ("test", "value", "unit", "expected"),
    [
        ("platelets", "250", "G/L", ("platelets", 250.0, "10^9/L")),
        ("neutrophils", "4.2", "G/L", ("neutrophils", 4.2, "10^9/L")),
        ("lymphocytes", "1.5", "g/l", None),  # grams per litre is no count unit
        ("albumin", "35", "G/L", ("albumin", 3.5, "g/dL")),  # albumin is never 10^9/L
    ],
)
def test_unit_aliases_G_per_L_is_giga_for_counts_grams_for_albumin_L1(test, value, unit, expected):
    results, quarantine = normalised([(test, value, unit)])
    if expected is None:
        assert [q["reason_code"] for q in quarantine] == ["unknown_unit"]
    else:
        assert quarantine == []
        assert [(r["analyte"], r["value"], r["unit"]) for r in results] == [expected]


def test_unit_aliases_per_nL_and_superscript_10_cubed_per_uL_L1():
    rows = [
        ("platelets", "250", "/nL"),
        ("platelets", "250", "/nl"),
        ("platelets", "250", "10³/µL"),
        ("platelets", "250", "10³/μL"),
        ("platelets", "250", "10³/uL"),
        ("platelets", "250", "10⁹/L"),
        ("neutrophils", "4.2", "10³/µl"),
    ]
    assert converted_values(rows) == [("platelets", 250.0, "10^9/L")] * 6 + [
        ("neutrophils", 4.2, "10^9/L")
    ]


def test_unit_aliases_micromolar_and_micromol_per_L_L1():
    rows = [
        ("bilirubin", "34.2", "µM"),
        ("bilirubin", "34.2", "uM"),
        ("bilirubin", "34.2", "μM"),
        ("bilirubin", "34.2", "micromol/L"),
        ("bilirubin", "34.2", "Micromol/l"),
        ("bilirubin", "34.2", "µmol/L"),
    ]
    assert converted_values(rows) == [("bilirubin", 2.0, "mg/dL")] * 6
    creatinine = converted_values(
        [("creatinine", "88.4", "µM"), ("creatinine", "88.4", "micromol/L")]
    )
    assert creatinine == [("creatinine", 1.0, "mg/dL")] * 2
