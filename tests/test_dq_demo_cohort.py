"""Input checks against the demo cohort's answer key of deliberately spoiled rows.

The generator (demo_cohort) spoils about 1 % of the rows, one defect each, and
logs the quarantine reason code it expects. Read as the sources layer reads
them, the raw rows must fail exactly that many times the input checks that
carry the same reason code, dataset by dataset.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from config import load_config
from expectations import run_quality_checks
from expectations.suites import SUITES

demo_cohort = pytest.importorskip("demo_cohort")
sources = pytest.importorskip("sources")
if not hasattr(demo_cohort, "generate"):
    pytest.skip("demo_cohort.generate not available yet", allow_module_level=True)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    demo_cohort.generate(folder, patients=300, seed=7)
    parts: dict[str, list[pa.Table]] = {}
    for source_file in sources.discover(folder):
        table = sources.read_source_file(source_file, None, set()).table
        parts.setdefault(source_file.dataset, []).append(table)
    inputs = {k: pa.concat_tables(v, promote_options="default") for k, v in parts.items()}
    key = pacsv.read_csv(folder / "_generator" / "spoiled_rows.csv").to_pylist()
    return inputs, Counter((r["dataset"], r["reason_code"]) for r in key)


def test_input_checks_find_every_spoiled_row_of_the_demo_cohort(cohort) -> None:
    inputs, expected = cohort
    outcome = run_quality_checks(inputs, {}, "run-demo", load_config().section("dq"), None)
    reason = {(s.name, c.name): c.reason_code for s in SUITES for c in s.checks}
    found: Counter[tuple[str, str]] = Counter()
    for row in outcome.results.to_pylist():
        code = reason[row["suite"], row["expectation"]]
        if code and row["unexpected_count"]:
            found[row["suite"].removeprefix("inputs."), code] += row["unexpected_count"]
    assert sum(expected.values()) > 100
    assert found == expected
    assert outcome.fatal_failures == []
