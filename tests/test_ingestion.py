"""Ingestion: reading the source folder, normalisation and every quarantine reason."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from staging_helpers import raw

from config import load_config
from sources import Pseudonymiser, SourceError, discover, read_source_file
from transforms.staging import stage_dataset

INGEST = load_config().section("ingest")


def reasons(staged) -> dict[int, str]:
    q = staged.quarantine.to_pylist()
    return {r["source_row"]: r["reason_code"] for r in q}


STUDIES = pa.table(
    {
        "patient_key": ["p1", "p1"],
        "study_date": pa.array(["2026-01-05", "2026-03-01"]).cast(pa.date32()),
    }
)


def lesion_rows(**overrides: list) -> pa.Table:
    base = {
        "study_date": ["2026-01-05"],
        "lesion_id": ["L1"],
        "role": ["target"],
        "organ": ["liver"],
        "liver_segment": ["5"],
        "status": ["measured"],
        "longest_diameter_mm": ["30.0"],
    }
    base.update(overrides)
    n = max(len(v) for v in base.values())
    return raw(**{k: v * n if len(v) == 1 else v for k, v in base.items()})


# --- reading the folder ------------------------------------------------------------------


def test_discover_matches_dataset_names_and_suffixes(tmp_path: Path) -> None:
    for name in (
        "patients.csv",
        "labs_2026-11-01.csv",
        "LESIONS_x.parquet",
        "notes.csv",
        "labsx.csv",
    ):
        (tmp_path / name).write_text("patient_id\n")
    found = {(f.name, f.dataset, f.fmt) for f in discover(tmp_path)}
    assert found == {
        ("patients.csv", "patients", "csv"),
        ("labs_2026-11-01.csv", "labs", "csv"),
        ("LESIONS_x.parquet", "lesions", "parquet"),
    }


@pytest.mark.parametrize("setup", ["missing", "file", "empty"])
def test_unusable_folder_gives_one_clear_error(tmp_path: Path, setup: str) -> None:
    target = tmp_path / "src"
    if setup == "file":
        target.write_text("x")
    elif setup == "empty":
        target.mkdir()
        (target / "readme.txt").write_text("x")
    with pytest.raises(SourceError) as err:
        discover(target)
    assert str(target) in str(err.value)


def test_csv_is_read_as_text_with_lineage_and_keyed_ids(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(
        " Patient_ID ,Sex,birth_year,Extra,name\nMRN-1,M,1960,a,Ann\n,F,1970,b,Bo\n"
    )
    [sf] = discover(tmp_path)
    p = Pseudonymiser(b"secret")
    result = read_source_file(sf, p, {"name"})
    t = result.table
    assert "patient_id" not in t.column_names and "name" not in t.column_names
    assert result.dropped_columns == ["name"]
    assert t.column("patient_key").to_pylist() == [p.reference_key("MRN-1"), None]
    assert t.column("birth_year").to_pylist() == ["1960", "1970"]  # text, typed later
    assert t.column("extra").to_pylist() == ["a", "b"]  # extra columns are kept raw
    assert t.column("source_row").to_pylist() == [1, 2]
    assert t.column("source_file").to_pylist() == ["patients.csv"] * 2


def test_malformed_csv_line_is_reported_with_its_row_number(tmp_path: Path) -> None:
    (tmp_path / "imaging.csv").write_text(
        "patient_id,study_date,modality\nA,2026-01-01,CT\nB,2026-01-02\nC,2026-01-03,MR\n"
    )
    [sf] = discover(tmp_path)
    result = read_source_file(sf, Pseudonymiser(b"k"), set())
    assert result.malformed_rows == [2]
    assert result.table.column("source_row").to_pylist() == [1, 3]


def test_parquet_typed_columns_become_the_same_text_as_csv(tmp_path: Path) -> None:
    import datetime as dt

    pq.write_table(
        pa.table(
            {
                "patient_id": ["A"],
                "study_date": [dt.date(2026, 1, 2)],
                "modality": ["CT"],
                "liver_tumor_burden_pct": [12.3],
                "ascites": [True],
            }
        ),
        tmp_path / "imaging.parquet",
    )
    [sf] = discover(tmp_path)
    t = read_source_file(sf, Pseudonymiser(b"k"), set()).table
    assert t.column("study_date").to_pylist() == ["2026-01-02"]
    assert t.column("liver_tumor_burden_pct").to_pylist() == ["12.3"]
    assert t.column("ascites").to_pylist() == ["true"]


def test_pseudonym_is_hmac_sha256_of_the_trimmed_identifier() -> None:
    import hashlib
    import hmac

    p = Pseudonymiser(b"k" * 100)  # keys longer than a block are hashed first (RFC 2104)
    expected = hmac.new(b"k" * 100, b"12345678", hashlib.sha256).hexdigest()[:20]
    assert p.keys(pa.array([" 12345678 "])).to_pylist() == [expected]


# --- normalisation -----------------------------------------------------------------------


def test_booleans_accept_every_contract_spelling() -> None:
    spellings = ["true", "FALSE", "yes", "No", "1", "0", "y", "N", None]
    staged = stage_dataset(
        "imaging",
        raw(
            study_date=[f"2026-01-{i + 1:02d}" for i in range(len(spellings))],
            modality=["CT"] * len(spellings),
            ascites=spellings,
        ),
        INGEST,
    )
    assert staged.facts.sort_by("study_date").column("ascites").to_pylist() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        None,
    ]


def test_session_modality_aliases_and_territories_are_normalised() -> None:
    staged = stage_dataset(
        "sessions",
        raw(
            session_date=["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"],
            modality=["bland embolization", "Conventional TACE", "DEB TACE", "SIRT", "Y-90"],
            treated_territory=["right_lobe", "left_lobe", "whole_liver", "8, 5,6", "2;3"],
            session_id=["S1", None, None, None, None],
        ),
        INGEST,
    )
    rows = staged.facts.sort_by("session_date").to_pylist()
    assert [r["modality"] for r in rows] == ["TAE", "cTACE", "DEB-TACE", "TARE", "TARE"]
    assert [r["treated_segments"] for r in rows] == [
        [5, 6, 7, 8],
        [2, 3, 4],
        [1, 2, 3, 4, 5, 6, 7, 8],
        [5, 6, 8],
        [2, 3],
    ]
    assert [r["session_number"] for r in rows] == [1, 2, 3, 4, 5]
    # session_id derived from patient and date when absent (input contract)
    assert [r["session_id"] for r in rows] == [
        "S1",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]


def test_K1_grade_derived_from_ki67_when_not_given() -> None:
    staged = stage_dataset(
        "patients",
        raw(
            patient_key=["a", "b", "c", "d", "e", "f", "g"],
            ki67_pct=["2.9", "3", "20", "20.1", None, "1", "50"],
            who_grade=[None, None, None, None, None, "G3", "nec"],
        ),
        INGEST,
    )
    grades = {r["patient_key"]: r["who_grade"] for r in staged.facts.to_pylist()}
    # G1 < 3, G2 3–20, G3 > 20; a given grade is kept even when it disagrees (DQ reports it)
    assert grades == {"a": "G1", "b": "G2", "c": "G2", "d": "G3", "e": None, "f": "G3", "g": "NEC"}


def test_diameters_are_exact_decimals_at_contract_precision() -> None:
    from decimal import Decimal

    staged = stage_dataset(
        "lesions",
        lesion_rows(
            study_date=["2026-01-05"] * 3,
            lesion_id=["L1", "L2", "L3"],
            longest_diameter_mm=["30.0", "12.35", "0.1"],
        ),
        INGEST,
        studies=STUDIES,
    )
    assert staged.facts.sort_by("lesion_id").column("longest_diameter_mm").to_pylist() == [
        Decimal("30.0"),
        Decimal("12.4"),
        Decimal("0.1"),
    ]


def test_split_lesion_fragments_are_all_kept() -> None:
    staged = stage_dataset(
        "lesions",
        lesion_rows(
            study_date=["2026-01-05"] * 2,
            lesion_id=["L1", "L1"],
            longest_diameter_mm=["12.0", "8.5"],
        ),
        INGEST,
        studies=STUDIES,
    )
    assert staged.facts.num_rows == 2 and staged.quarantine.num_rows == 0


# --- every quarantine reason -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("status", None, "missing_required"),
        ("lesion_id", " ", "missing_required"),
        ("liver_segment", None, "missing_required"),
        ("longest_diameter_mm", None, "missing_required"),
        ("study_date", "2026-13-45", "bad_date"),
        ("study_date", "yesterday", "bad_date"),
        ("longest_diameter_mm", "12,5", "bad_number"),
        ("longest_diameter_mm", "nan", "bad_number"),
        ("liver_segment", "4.5", "bad_number"),
        ("longest_diameter_mm", "-4.0", "out_of_range"),
        ("longest_diameter_mm", "5000", "out_of_range"),
        ("liver_segment", "9", "out_of_range"),
        ("role", "targt", "unknown_vocabulary"),
        ("organ", "spleen", "unknown_vocabulary"),
        ("status", "present", "unknown_vocabulary"),  # not a status of a target
        ("study_date", "2026-02-01", "orphan_study"),
    ],
)
def test_each_lesion_problem_has_its_reason_code(field: str, value: str | None, code: str) -> None:
    staged = stage_dataset("lesions", lesion_rows(**{field: [value]}), INGEST, studies=STUDIES)
    assert reasons(staged) == {1: code}
    assert staged.facts.num_rows == 0
    [row] = staged.quarantine.to_pylist()
    assert row["dataset"] == "lesions" and row["reason"]


def test_measured_nodal_target_needs_short_axis() -> None:
    staged = stage_dataset(
        "lesions",
        lesion_rows(organ=["lymph_node"], liver_segment=[None], longest_diameter_mm=["20"]),
        INGEST,
        studies=STUDIES,
    )
    assert reasons(staged) == {1: "missing_required"}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("modality", "laser ablation", "unknown_modality"),
        ("modality", "TACE", "unknown_modality"),  # cTACE or DEB-TACE? never a guess
        ("treated_territory", "left half", "unknown_territory"),
        ("treated_territory", "0,9", "unknown_territory"),
        ("session_date", "2026-02-30", "bad_date"),
        ("prior_systemic_lines", "two", "bad_number"),
        ("lvef_pct", "120", "out_of_range"),
        ("microsphere", "ceramic", "unknown_vocabulary"),
        ("treated_territory", None, "missing_required"),
    ],
)
def test_each_session_problem_has_its_reason_code(field: str, value: str | None, code: str) -> None:
    base = {"session_date": ["2026-01-10"], "modality": ["TAE"], "treated_territory": ["5"]}
    base[field] = [value]
    assert reasons(stage_dataset("sessions", raw(**base), INGEST)) == {1: code}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("ascites", "maybe", "bad_boolean"),
        ("liver_tumor_burden_pct", "150", "out_of_range"),
        ("modality", "XRAY", "unknown_vocabulary"),
    ],
)
def test_each_imaging_problem_has_its_reason_code(field: str, value: str, code: str) -> None:
    base = {"study_date": ["2026-01-10"], "modality": ["CT"]}
    base[field] = [value]
    assert reasons(stage_dataset("imaging", raw(**base), INGEST)) == {1: code}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("sex", "X", "unknown_vocabulary"),
        ("birth_year", "1850", "out_of_range"),
        ("ki67_pct", "101", "out_of_range"),
        ("death_date", "01/02/2026", "bad_date"),
        ("prior_whipple", "perhaps", "bad_boolean"),
    ],
)
def test_each_patient_problem_has_its_reason_code(field: str, value: str, code: str) -> None:
    assert reasons(stage_dataset("patients", raw(**{field: [value]}), INGEST)) == {1: code}


def test_duplicate_row_keeps_the_first_copy() -> None:
    staged = stage_dataset(
        "labs",
        raw(
            collected_at=["2026-01-01", "2026-01-01", "2026-01-01"],
            test=["albumin"] * 3,
            value=["3.9", "3.9", "4.1"],
            unit=["g/dL"] * 3,
        ),
        INGEST,
    )
    # the exact copy is quarantined; a different value at the same instant is kept (L4)
    assert reasons(staged) == {2: "duplicate_row"}
    assert staged.facts.num_rows == 2


def test_duplicate_key_keeps_the_first_row_in_file_order() -> None:
    # Within one file; a row in a later file supersedes instead (test_dates_and_corrections).
    staged = stage_dataset(
        "imaging",
        raw(
            study_date=["2026-01-10", "2026-01-10"],
            modality=["MR", "CT"],
            source_file=["imaging_a.csv", "imaging_a.csv"],
            source_row=[2, 1],
        ),
        INGEST,
    )
    [q] = staged.quarantine.to_pylist()
    assert (q["source_row"], q["reason_code"]) == (2, "duplicate_key")
    assert staged.facts.column("modality").to_pylist() == ["CT"]


def test_a_row_with_two_problems_gets_the_first_reason_only() -> None:
    staged = stage_dataset(
        "lesions",
        lesion_rows(study_date=["nope"], longest_diameter_mm=["-1"]),
        INGEST,
        studies=STUDIES,
    )
    assert reasons(staged) == {1: "bad_date"}


def test_reasons_never_quote_identifiers_or_dates() -> None:
    staged = stage_dataset(
        "lesions",
        lesion_rows(
            patient_key=["SECRET-KEY"] * 2,
            study_date=["1999-99-99", "2026-01-05"],
            lesion_id=["L1", "L2"],
            longest_diameter_mm=["1", "-2"],
        ),
        INGEST,
        studies=STUDIES,
    )
    text = " ".join(staged.quarantine.column("reason").to_pylist())
    assert "SECRET" not in text and "1999" not in text
