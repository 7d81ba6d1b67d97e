"""The lab lookup tables (labs-and-flags L1/L3) as Arrow tables, for the data-quality suites.

One definition: the model ``transforms/models/staging/lab_lookups.sql`` over the
variables ``config.params.lab_params`` builds from ``[labs]``. The lab
normaliser runs that model where the lab rows are; the data-quality suites
(``expectations.runner``, which registers these tables with a ``ref_``
prefix) take its result from here.
"""

from __future__ import annotations

import pyarrow as pa

from config.params import TransformParams
from transforms.engine import in_memory, run_models

#: The lookup relations of the model that the suites check values against.
LOOKUPS = ("test_aliases", "unit_aliases", "unit_conversions", "analytes")


def lab_lookup_tables(params: TransformParams) -> dict[str, pa.Table]:
    """``test_aliases``, ``unit_aliases``, ``unit_conversions`` and ``analytes`` as Arrow tables.

    ``params`` is :func:`config.params.lab_params` of the run's config, so the
    checks compare with the tables the run's staging used, not the defaults.
    """
    with in_memory({}) as con:
        run_models(con, ["lab_lookups"], [params])
        return {name: con.table(name).to_arrow_table() for name in LOOKUPS}
