"""L1 with UCUM unit codes (issue 12 item 5): a FHIR valueQuantity.code converts as usual.

The conversions stay the one table of config/labs.toml (a UCUM library would
not convert mass to substance without the analyte's molar mass, nor IU to U);
the UCUM codes are aliases of the units it already converts.
"""

from __future__ import annotations

import pytest

from config import load_config
from tests.test_labs_units import converted, normalised

FHIR = load_config().section("fhir")


@pytest.mark.parametrize(
    ("test", "value", "ucum", "usual"),
    [
        ("1975-2", "34.2", "umol/L", "µmol/L"),
        ("2160-0", "88.4", "umol/L", "µmol/L"),
        ("1751-7", "38", "g/L", "g/L"),
        ("1920-8", "1.5", "ukat/L", "µkat/L"),
        ("1920-8", "40", "[IU]/L", "IU/L"),
        ("14804-9", "300", "mU/mL", "mU/mL"),
        ("777-3", "150", "10*3/uL", "10^3/µL"),
        ("777-3", "150000", "/uL", "/µL"),
        ("751-8", "4200", "{cells}/uL", "cells/uL"),
        ("731-0", "1.2", "10*9/L", "10^9/L"),
    ],
)
def test_ucum_code_converts_as_the_usual_spelling(
    test: str, value: str, ucum: str, usual: str
) -> None:
    assert converted(test, value, ucum)["value"] == converted(test, value, usual)["value"]


def test_every_ucum_code_the_generator_writes_is_a_known_unit() -> None:
    labs = load_config().section("labs")
    families = {f for by_family in labs["unit_conversions"].values() for f in by_family}
    aliases = labs["unit_aliases"]
    for code in set(FHIR["ucum_codes"].values()):
        assert code in families or code in aliases or code.lower() in aliases, code


def test_an_unknown_ucum_unit_is_still_quarantined() -> None:
    _, quarantine = normalised([("1975-2", "1", "mmol/L")])
    assert [q["reason_code"] for q in quarantine] == ["unknown_unit"]
