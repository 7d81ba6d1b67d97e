"""Incremental runs: only new and changed files are read, only patients whose source rows
changed are recomputed, and the result equals a full recompute, table by table.

The source of the first run has 40 patients, with the labs of patients 31-40 in a
second file and one target lesion of patient 3 first seen after baseline (an R1
quarantine row of a patient no later run touches). The second source changes a
diameter of patient 10, adds a labs file for patient 20 and drops the second labs
file.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from pipeline_helpers import (
    CONFIG,
    RESULT_TABLES,
    TEST_KEY,
    make_source,
    move_rows,
    once_per_session,
    only_file,
    query,
    read_csv,
    result_rows,
    summary_dict,
    write_csv,
)

from contract import DERIVED_TABLES
from flows.pipeline import run_pipeline
from flows.stages import R1_REASON_CODE
from sources import Pseudonymiser

pytestmark = pytest.mark.slow

KEYS = Pseudonymiser(TEST_KEY.encode())
LATE_LABS = {f"NELM-{i:06d}" for i in range(31, 41)}


def key(patient_id: str) -> str:
    return KEYS.reference_key(patient_id)


def add_late_target(lesions: Path, patient_id: str) -> None:
    """A copy of the patient's last measured target, as a new lesion at the last study (R1)."""
    rows = read_csv(lesions)
    header = rows[0]
    pid, date, lesion, role = (
        header.index(c) for c in ("patient_id", "study_date", "lesion_id", "role")
    )
    own = [r for r in rows[1:] if r[pid] == patient_id]
    last = max(r[date] for r in own)
    template = next(r for r in own if r[date] == last and r[role] == "target")
    late = list(template)
    late[lesion] = "L99"
    write_csv(lesions, [*rows, late])


def change_a_diameter(lesions: Path, patient_id: str) -> None:
    rows = read_csv(lesions)
    header = rows[0]
    pid, size = header.index("patient_id"), header.index("longest_diameter_mm")
    row = next(r for r in rows[1:] if r[pid] == patient_id and r[size])
    row[size] = f"{float(row[size]) + 7.5:.1f}"
    write_csv(lesions, rows)


def make_sources(root: Path) -> dict[str, Path]:
    v1 = make_source(root / "v1", patients=40, seed=11)
    move_rows(only_file(v1, "labs"), "labs_late.csv", LATE_LABS)
    add_late_target(only_file(v1, "lesions"), "NELM-000003")

    # v2 without pruning keeps labs_late.csv's rows: the same as this folder from scratch.
    v2_kept = root / "v2_kept"
    shutil.copytree(v1, v2_kept)
    change_a_diameter(only_file(v2_kept, "lesions"), "NELM-000010")
    other = make_source(root / "other", patients=25, seed=99)
    other_labs = read_csv(only_file(other, "labs"))
    write_csv(
        v2_kept / "labs_extra.csv",
        [other_labs[0], *(r for r in other_labs[1:] if r[0] == "NELM-000020")],
    )
    v2 = root / "v2"
    shutil.copytree(v2_kept, v2)
    (v2 / "labs_late.csv").unlink()
    return {"v1": v1, "v2_kept": v2_kept, "v2": v2}


def incremental_history(root: Path) -> dict:
    """The incremental history on one warehouse, and full runs of the same sources."""
    sources = make_sources(root)
    db = root / "incremental.duckdb"
    out: dict = {"db": str(db)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NELMTRACK_PSEUDONYM_KEY", TEST_KEY)
        started = time.perf_counter()
        out["first"] = summary_dict(run_pipeline(sources["v1"], db, CONFIG))
        out["first_s"] = time.perf_counter() - started
        shutil.copyfile(db, root / "after_first.duckdb")
        started = time.perf_counter()
        out["unchanged"] = summary_dict(run_pipeline(sources["v1"], db, CONFIG))
        out["unchanged_s"] = time.perf_counter() - started
        out["kept"] = summary_dict(run_pipeline(sources["v2"], db, CONFIG))
        shutil.copyfile(db, root / "after_kept.duckdb")
        out["pruned"] = summary_dict(run_pipeline(sources["v2"], db, CONFIG, prune=True))
        shutil.copyfile(db, root / "after_pruned.duckdb")
        for name in ("v2_kept", "v2"):
            run_pipeline(sources[name], root / f"full_{name}.duckdb", CONFIG, full_refresh=True)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = once_per_session(tmp_path_factory, "incremental", incremental_history)
    root = Path(out["db"]).parent
    for state in ("after_first", "after_kept", "after_pruned", "full_v2_kept", "full_v2"):
        out[state] = result_rows(root / f"{state}.duckdb")
    out["db"] = Path(out["db"])
    return out


def test_unchanged_input_reads_no_file_and_recomputes_nothing(runs: dict) -> None:
    summary = runs["unchanged"]
    assert summary["read_files"] == []
    assert len(summary["unchanged"]) == 6
    assert summary["recomputed"] is False
    assert query(
        runs["db"], "SELECT count(*) FROM ingested_files WHERE run_id = ?", [summary["run_id"]]
    ) == [(0,)]
    assert query(
        runs["db"], "SELECT rows_read FROM pipeline_runs WHERE run_id = ?", [summary["run_id"]]
    ) == [(0,)]
    print(f"first run {runs['first_s']:.2f} s, unchanged second run {runs['unchanged_s']:.2f} s")
    assert runs["unchanged_s"] < 0.5 * runs["first_s"]


def test_new_changed_and_missing_files_are_told_apart(runs: dict) -> None:
    report = runs["kept"]
    assert report["new"] == ["labs_extra.csv"]
    assert report["changed"] == ["lesions_part001.csv"]
    assert report["missing"] == ["labs_late.csv"]
    assert report["pruned"] == []
    # Only patients 10 (a diameter) and 20 (new labs) have other source rows than before.
    assert report["changed_patients"] == 2
    assert query(
        runs["db"],
        "SELECT path FROM ingested_files WHERE run_id = ? ORDER BY path",
        [runs["kept"]["run_id"]],
    ) == [("labs_extra.csv",), ("lesions_part001.csv",)]


def test_missing_file_rows_are_kept_without_prune(runs: dict) -> None:
    late_rows = [r for r in runs["after_first"]["lab_results"] if r[-2] == "labs_late.csv"]
    assert late_rows
    assert [r for r in runs["after_kept"]["lab_results"] if r[-2] == "labs_late.csv"] == late_rows


@pytest.mark.parametrize("table", RESULT_TABLES)
def test_incremental_run_keeping_a_missing_file_equals_full_refresh(runs: dict, table: str) -> None:
    assert runs["after_kept"][table] == runs["full_v2_kept"][table]


@pytest.mark.parametrize("table", RESULT_TABLES)
def test_incremental_run_with_prune_equals_full_refresh(runs: dict, table: str) -> None:
    assert runs["after_pruned"][table] == runs["full_v2"][table]


def test_prune_drops_the_missing_file_and_recomputes_its_patients(runs: dict) -> None:
    report = runs["pruned"]
    assert report["pruned"] == ["labs_late.csv"]
    assert report["read_files"] == []
    assert report["changed_patients"] == len(LATE_LABS)
    assert not [r for r in runs["after_pruned"]["lab_results"] if r[-2] == "labs_late.csv"]


def test_untouched_patients_keep_the_run_id_of_their_derived_rows(runs: dict) -> None:
    first, kept = runs["first"]["run_id"], runs["kept"]["run_id"]
    after_kept = runs["db"].parent / "after_kept.duckdb"
    for table in DERIVED_TABLES:
        by_patient = dict(
            query(after_kept, f"SELECT patient_key, max(run_id) FROM {table} GROUP BY 1")
        )
        touched = {k for k, run_id in by_patient.items() if run_id == kept}
        assert touched <= {key("NELM-000010"), key("NELM-000020")}, table
        assert set(by_patient.values()) <= {first, kept}, table
        if table == "best_responses":
            assert by_patient[key("NELM-000003")] == first
            assert by_patient[key("NELM-000010")] == kept


def test_R1_quarantine_of_an_untouched_patient_survives_an_incremental_run(runs: dict) -> None:
    con_rows = query(
        runs["db"],
        "SELECT count(*) FROM quarantine q JOIN raw.lesions r USING (source_file, source_row) "
        "WHERE q.reason_code = ? AND r.patient_key = ?",
        [R1_REASON_CODE, key("NELM-000003")],
    )
    assert con_rows[0][0] >= 1
    r1 = [r for r in runs["after_pruned"]["quarantine"] if r[3] == R1_REASON_CODE]
    assert r1 == [r for r in runs["full_v2"]["quarantine"] if r[3] == R1_REASON_CODE]
