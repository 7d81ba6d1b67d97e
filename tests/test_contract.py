"""One definition of each thing (issue 11): the contract module against everything that uses it.

``contract`` names the datasets, their columns, the public tables and the
quarantine reason codes; these tests check that the DDL, the input contract's
text, ARCHITECTURE.md, the SQL models, the spoilers of the demo cohort and a
real run's quarantine all agree with it, so a second list cannot drift apart.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest

import contract
from config import load_config
from config.params import DeriveParams
from contract import (
    CONTRACT,
    DATASETS,
    FACT_TABLES,
    INPUT_COLUMNS,
    PUBLIC_TABLES,
    REQUIRED_COLUMNS,
    REQUIRED_VALUES,
    ReasonCode,
)
from contract.reasons import markdown_table
from demo_cohort.generator import SPOIL_LOG, generate
from demo_cohort.spoil import REASONS
from transforms import derive
from warehouse import ledger
from warehouse.schema import DDL_TABLES, PUBLIC_COLUMNS, arrow_schemas

REPO = Path(__file__).resolve().parents[1]
INPUTS_MD = REPO.parent / "shared" / "contract" / "inputs.md"
CODE = re.compile(r"'([a-z][a-z_]*)'")


# --- the public tables ------------------------------------------------------------------


def test_the_ddl_creates_exactly_the_contract_public_tables_in_order() -> None:
    assert tuple(PUBLIC_COLUMNS) == PUBLIC_TABLES
    assert tuple(DDL_TABLES) == PUBLIC_TABLES


def test_table_groups_partition_the_public_tables() -> None:
    groups = [
        *FACT_TABLES.values(),
        *contract.DERIVED_TABLES,
        contract.QUARANTINE_TABLE,
        *contract.AUDIT_TABLES,
    ]
    assert sorted(groups) == sorted(PUBLIC_TABLES)
    assert len(groups) == len(set(groups))
    assert tuple(FACT_TABLES) == DATASETS
    assert (*contract.CHECKED_TABLES, "quarantine") == contract.RESULT_TABLES


def test_every_fact_table_keeps_lineage_and_every_derived_table_its_run() -> None:
    for table in FACT_TABLES.values():
        assert {"patient_key", "source_file", "source_row", "run_id"} <= set(PUBLIC_COLUMNS[table])
    for table in contract.DERIVED_TABLES:
        assert {"patient_key", "run_id"} <= set(PUBLIC_COLUMNS[table])


def test_arrow_schemas_follow_the_ddl_columns() -> None:
    schemas = arrow_schemas()
    assert {name: s.names for name, s in schemas.items()} == PUBLIC_COLUMNS


def test_every_derived_mart_has_its_public_tables_columns_and_types() -> None:
    """The marts' SQL is the one place their types are cast; the DDL the one place the
    public tables are declared: each mart has its table's columns (without run_id), in
    order and with the same Arrow types, so nothing in Python restates them. The
    response marts also carry two internal columns the loader drops."""
    con = duckdb.connect()
    for table in FACT_TABLES.values():
        con.execute(DDL_TABLES[table])
    for view, table in derive.SOURCES.items():
        source = "lesion_measurements" if view == "in_rejected_targets" else table
        con.execute(f"CREATE VIEW {view} AS SELECT * EXCLUDE (run_id) FROM {source}")
    derive.derive_tables(con, DeriveParams.from_config(load_config()))
    internal = {"has_target_disease", "progression_date_hint"}
    for table, mart in derive.OUTPUTS.items():
        got = con.sql(f"SELECT * FROM {mart} LIMIT 0").to_arrow_table().schema
        public = [f for f in arrow_schemas()[table] if f.name != "run_id"]
        assert [(f.name, f.type) for f in got if f.name not in internal] == [
            (f.name, f.type) for f in public
        ], table
        assert set(got.names) - {f.name for f in public} <= internal, table


def test_only_warehouse_schema_reads_the_ddl_files() -> None:
    """No module or test parses warehouse/ddl again (expectations/runner.py once did)."""
    readers = {
        str(path.relative_to(REPO))
        for folder in (
            "contract",
            "flows",
            "transforms",
            "warehouse",
            "expectations",
            "sources",
            "demo_cohort",
            "tools",
            "benchmarks",
            "tests",
        )
        for path in (REPO / folder).rglob("*.py")
        if re.search(r"""["'](?:warehouse/)?ddl["'/]""", path.read_text())
    }
    assert readers == {"warehouse/schema.py"}


# --- the input contract -----------------------------------------------------------------


def _inputs_md() -> dict[str, dict[str, tuple[str, str]]]:
    """``{dataset: {column: (type, required)}}`` from the tables of ../shared/contract/inputs.md."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    dataset = None
    for line in INPUTS_MD.read_text().splitlines():
        heading = re.match(r"## (\w+) \(", line)
        if heading:
            dataset = heading.group(1)
            continue
        if dataset in out and not line.startswith("|"):
            dataset = None  # the first table of a section is its columns
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if dataset in DATASETS and len(cells) == 4 and cells[0] not in ("column", "---"):
            out.setdefault(dataset, {})[cells[0]] = (cells[1], cells[2])
    return out


def _type_of(said: str) -> str:
    """A type of inputs.md as contract.inputs names it: ``int``, ``0–100``, ``number ≥ 0``
    are numbers, ``date or datetime`` is a date, vocabularies such as ``M/F/U`` are text."""
    if said == "bool":
        return contract.BOOLEAN
    if said.startswith("date"):
        return contract.DATE
    if said == "int" or said.startswith("number") or re.fullmatch(r"\d+–\d+", said):
        return contract.NUMBER
    return contract.TEXT


def test_contract_columns_are_those_of_the_input_contract_text() -> None:
    text = _inputs_md()
    assert list(text) == list(DATASETS)
    for dataset, columns in CONTRACT.items():
        assert [c.name for c in columns] == list(text[dataset]), dataset
        for column in columns:
            kind, said = text[dataset][column.name]
            assert column.type == _type_of(kind), (dataset, column.name)
            assert column.required == (said == "yes"), (dataset, column.name)
            assert (column.required_when is not None) == (said not in ("yes", "no")), (
                dataset,
                column.name,
            )


def test_numeric_columns_are_the_numbers_and_the_censored_lab_value() -> None:
    """A decimal comma is read in a number and in the one text holding a number:
    a lab value, which may be censored (``<0,2``)."""
    for dataset, columns in CONTRACT.items():
        numbers = tuple(c.name for c in columns if c.type == contract.NUMBER)
        extra = ("value",) if dataset == "labs" else ()
        assert contract.NUMERIC_COLUMNS[dataset] == (*numbers, *extra)


def test_staging_checks_the_boolean_columns_of_the_contract_as_booleans() -> None:
    from transforms.staging import CHECKS

    for dataset in DATASETS:
        judged = tuple(c.column for c in CHECKS[dataset] if c.code == ReasonCode.BAD_BOOLEAN)
        assert judged == contract.BOOLEAN_COLUMNS[dataset], dataset


def test_required_values_are_the_required_columns_plus_the_conditional_ones() -> None:
    for dataset in DATASETS:
        always = [c for c, need in REQUIRED_VALUES[dataset].items() if need is contract.ALWAYS]
        assert always == ["patient_key", *REQUIRED_COLUMNS[dataset][1:]]
        assert set(REQUIRED_VALUES[dataset]) <= {"patient_key", *INPUT_COLUMNS[dataset]}
    assert {c for c, need in REQUIRED_VALUES["lesions"].items() if need is not contract.ALWAYS} == {
        "liver_segment",
        "longest_diameter_mm",
        "short_axis_mm",
    }


def test_row_keys_are_made_of_contract_columns() -> None:
    assert tuple(contract.ROW_KEYS) == DATASETS
    for dataset, keys in contract.ROW_KEYS.items():
        for key in keys:
            assert key[0] == "patient_key", (dataset, key)
            assert set(key) <= {"patient_key", *INPUT_COLUMNS[dataset]}, (dataset, key)


# --- the reason codes -------------------------------------------------------------------


def _architecture_reason_table() -> dict[str, str]:
    """The rows of the "Quarantine reason codes" table of ARCHITECTURE.md: code → meaning."""
    lines = (REPO / "ARCHITECTURE.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "| code | meaning |")
    rows: dict[str, str] = {}
    for line in lines[start + 2 :]:
        row = re.match(r"^\s*\| `(\w+)` \| (.*) \|$", line)
        if not row:
            break
        rows[row.group(1)] = row.group(2)
    return rows


def test_architecture_lists_exactly_the_reason_codes_with_their_meanings() -> None:
    assert _architecture_reason_table() == {code.value: code.meaning for code in ReasonCode}


def test_the_generated_markdown_table_is_the_docs_table() -> None:
    table = markdown_table().splitlines()
    assert table[:2] == ["| code | meaning |", "|---|---|"]
    assert len(table) == 2 + len(ReasonCode)
    assert all(f"`{code.value}`" in row for code, row in zip(ReasonCode, table[2:], strict=True))


def _emitted_literals(text: str) -> set[str]:
    """Code literals a SQL text writes into ``reason_code`` (plain, CASE arms, comparisons)."""
    found = set(re.findall(r"'([a-z][a-z_]*)'\s+AS\s+reason_code\b", text, re.I))
    found |= set(re.findall(r"\breason_code\s*(?:=|<>|!=)\s*'([a-z][a-z_]*)'", text, re.I))
    for block in re.findall(
        r"\bCASE\b((?:(?!\bCASE\b).)*?)\bEND\s+AS\s+reason_code\b", text, re.S | re.I
    ):
        found |= set(re.findall(r"\b(?:THEN|ELSE)\s+'([a-z][a-z_]*)'", block, re.I))
    return found


def test_every_code_literal_in_sql_and_inline_sql_is_a_reason_code() -> None:
    """SQL models write their codes as literals (plain SQL); each must be a ReasonCode member."""
    sources = [
        *(REPO / "transforms" / "sql").glob("*.sql"),
        *(REPO / "transforms" / "models").rglob("*.sql"),
        *(REPO / "sources").glob("*.py"),
        *(REPO / "transforms").rglob("*.py"),
        *(REPO / "flows").glob("*.py"),
        *(REPO / "warehouse").glob("*.py"),
    ]
    found = {path.name: _emitted_literals(path.read_text()) for path in sources}
    members = {code.value for code in ReasonCode}
    unknown = {name: codes - members for name, codes in found.items() if codes - members}
    assert unknown == {}
    # the scan sees the models that emit codes, so it cannot pass by finding nothing
    assert found["labs_classified.sql"] == {"bad_number", "unknown_unit", "out_of_range"}
    assert found["quarantine_r1.sql"] == {"target_after_baseline"}


def test_staging_checks_use_reason_codes() -> None:
    from transforms.staging import CHECKS

    codes = {check.code for checks in CHECKS.values() for check in checks}
    assert all(isinstance(code, ReasonCode) for code in codes)


def test_the_spoilers_produce_reason_codes_only() -> None:
    assert all(isinstance(code, ReasonCode) for code in REASONS)
    assert len(set(REASONS)) == len(REASONS)


def test_every_dq_check_reason_code_is_a_member() -> None:
    from expectations.suites import SUITES

    codes = {c.reason_code for s in SUITES for c in s.checks if c.reason_code is not None}
    assert codes and all(ReasonCode(code) for code in codes)


@pytest.mark.slow
def test_a_generated_cohorts_quarantine_holds_reason_codes_only(tmp_path: Path) -> None:
    """Staging, the lab normaliser and R1 (responses) on a cohort with every spoiler kind."""
    from delivery_helpers import KEYS

    from config import load_config
    from flows import stages
    from warehouse import start_build

    source = tmp_path / "source"
    summary = generate(source, patients=20, seed=7)
    with (source / SPOIL_LOG).open() as fh:
        logged = {row["reason_code"] for row in csv.DictReader(fh)}
    assert logged == {code.value for code in REASONS}
    build = start_build(tmp_path / "w.duckdb", stages.new_run_id())
    try:
        ctx = stages.RunContext(
            build=build, cfg=load_config(), source_dir=source, pseudonymiser=KEYS
        )
        stages.ingest(ctx)
        stages.stage(ctx)
        stages.derive_in_build(ctx)
        by_reason = ledger.quarantine_by_reason(build.con)
    finally:
        build.abort()
    assert set(by_reason) <= {code.value for code in ReasonCode}
    assert set(summary.spoiled) <= set(by_reason)


def test_one_dq_suite_per_dataset_and_per_checked_table() -> None:
    from expectations.suites import SUITES

    assert [s.table for s in SUITES if s.side == "inputs"] == list(DATASETS)
    assert sorted(s.table for s in SUITES if s.side == "warehouse") == sorted(
        contract.CHECKED_TABLES
    )


def test_the_shards_derive_exactly_the_contract_derived_tables() -> None:
    from transforms.derive import OUTPUTS

    assert set(OUTPUTS) == set(contract.DERIVED_TABLES)
