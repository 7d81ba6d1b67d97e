"""Issue 11's gate: the one-engine refactor changes no result, by digest.

``tests/expected/pre_refactor_digests.json`` holds the result-table digests
(tools/table_digests.py) that main made before the refactor, on generated
cohorts: generator files minus ``_generator/``, the test key, default config.
A first run of today's pipeline on the same 300-patient cohort must give every
table the same row count and md5.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from pipeline_helpers import REPO, make_source, run_cli

EXPECTED = json.loads((REPO / "tests/expected/pre_refactor_digests.json").read_text())


def _table_digests(db: Path) -> dict[str, list]:
    spec = importlib.util.spec_from_file_location("table_digests", REPO / "tools/table_digests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.table_digests(db)


@pytest.mark.slow
def test_first_run_on_300_patients_seed_42_matches_pre_refactor_digests(tmp_path: Path) -> None:
    source = make_source(tmp_path / "src", patients=300, seed=42)
    db = tmp_path / "wh.duckdb"
    process = run_cli("run", "--source", str(source), "--db", str(db), timeout=900)
    assert process.returncode == 0, process.stderr
    expected = EXPECTED["patients=300,seed=42"]
    got = _table_digests(db)
    assert set(got) == set(expected)
    different = {t: (got[t], expected[t]) for t in expected if got[t] != expected[t]}
    assert different == {}
