"""The lab lookup tables (labs-and-flags L1/L3) built from ``[labs]`` of config/labs.toml.

One definition for the lab normaliser (``transforms.labs``) and the
data-quality suites (``expectations.runner``, which registers them with a
``ref_`` prefix): test aliases, unit spellings, unit conversions and the
analytes' canonical units and physiological ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa


def lab_lookup_tables(params: Mapping[str, Any]) -> dict[str, pa.Table]:
    """``test_aliases``, ``unit_aliases``, ``unit_conversions`` and ``analytes`` as Arrow tables.

    ``params`` is ``load_config().section("labs")``.
    """
    analytes = params["analytes"]
    conversions = [
        (analyte, family, float(multiply), float(divide))
        for analyte, by_family in params["unit_conversions"].items()
        for family, (multiply, divide) in by_family.items()
    ]
    return {
        "test_aliases": pa.table(
            {
                "alias": list(params["test_aliases"]),
                "analyte": list(params["test_aliases"].values()),
            }
        ),
        "unit_aliases": pa.table(
            {
                "spelling": list(params["unit_aliases"]),
                "unit_family": list(params["unit_aliases"].values()),
            }
        ),
        "unit_conversions": pa.table(
            {
                "analyte": [c[0] for c in conversions],
                "unit_family": [c[1] for c in conversions],
                "multiply": [c[2] for c in conversions],
                "divide": [c[3] for c in conversions],
            }
        ),
        "analytes": pa.table(
            {
                "analyte": list(analytes),
                "canonical_unit": [a["canonical_unit"] for a in analytes.values()],
                "physiological_min": [float(a["physiological_min"]) for a in analytes.values()],
                "physiological_max": [float(a["physiological_max"]) for a in analytes.values()],
            }
        ),
    }
