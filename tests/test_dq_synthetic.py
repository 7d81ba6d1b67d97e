"""A small, hand-made, clean synthetic run for the data-quality tests.

Three patients with raw input rows (text, as the sources layer hands them to
data quality) and the public tables a correct run would publish from them.
Other test_dq_* files import the builders from here; the tests in this file
check that the synthetic data is what the other tests assume.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from config import load_config
from transforms.survival import compute_survival

DDL_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "ddl"

# Pseudonymous keys as the sources layer makes them (HMAC-SHA-256 hex); the
# report tests look for them in every HTML file.
P1 = "5f1d0c4a9e7b3a2c8d6e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
P2 = "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff"
P3 = "0f9e8d7c6b5a49382716051a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f901234"
PATIENT_KEYS = (P1, P2, P3)


def _raw(dataset: str, columns: list[str], rows: list[tuple]) -> pa.Table:
    """Raw rows: every contract column as text, lineage as the sources layer adds it."""
    data = {c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)}
    data["source_file"] = pa.array([f"{dataset}.csv"] * len(rows), pa.string())
    data["source_row"] = pa.array(range(1, len(rows) + 1), pa.int64())
    return pa.table(data)


PATIENT_COLUMNS = [
    "patient_key",
    "sex",
    "birth_year",
    "primary_site",
    "ki67_pct",
    "who_grade",
    "functional",
    "bilioenteric_anastomosis",
    "prior_whipple",
    "death_date",
    "last_contact_date",
]
SESSION_COLUMNS = [
    "patient_key",
    "session_date",
    "modality",
    "treated_territory",
    "session_id",
    "agent",
    "microsphere",
    "activity_gbq",
    "prior_systemic_lines",
    "lvef_pct",
]
IMAGING_COLUMNS = [
    "patient_key",
    "study_date",
    "modality",
    "extrahepatic_disease",
    "ascites",
    "liver_tumor_burden_pct",
    "portal_vein_occlusion",
]
LESION_COLUMNS = [
    "patient_key",
    "study_date",
    "lesion_id",
    "role",
    "organ",
    "liver_segment",
    "status",
    "longest_diameter_mm",
    "short_axis_mm",
    "viable_diameter_mm",
    "attenuation_hu",
]
LAB_COLUMNS = ["patient_key", "collected_at", "test", "value", "unit"]

PATIENT_ROWS = [
    (P1, "M", "1950", "small_intestine", "2.5", "G1", "yes", "no", "no", "", "2024-09-01"),
    (P2, "F", "1962", "Pancreas", "10", "G2", "No", "", "", "", "2024-08-15"),
    (P3, "u", "1971", "rectum", "25", "", "0", "y", "n", "2024-10-01", "2024-09-20"),
]
SESSION_ROWS = [
    (P1, "2024-01-10", "TAE", "5,6,7,8", "S1", "", "", "", "1", ""),
    (P1, "2024-04-10", "conventional TACE", "right_lobe", "S2", "doxorubicin", "", "", "1", "60"),
    (P2, "2024-02-01", "Y90", "whole_liver", "S1", "", "glass", "2.1", "2", ""),
    (P3, "2024-03-01", "DEB TACE", "2, 3", "", "doxorubicin", "", "", "0", "55"),
]
IMAGING_ROWS = [
    (P1, "2023-12-20", "CT", "no", "no", "20", "no"),
    (P1, "2024-03-01", "CT", "no", "no", "15", "no"),
    (P1, "2024-06-01", "MR", "no", "yes", "12.5", "no"),
    (P2, "2024-01-15", "MR", "yes", "", "35", "no"),
    (P2, "2024-05-01", "MR", "yes", "", "30", "no"),
    (P3, "2024-02-20", "CT", "no", "no", "10", "no"),
    (P3, "2024-06-01", "CT", "no", "no", "9", "no"),
]
LESION_ROWS = [
    # P1: two liver targets and a nodal target, one liver non-target
    (P1, "2023-12-20", "L1", "target", "liver", "5", "measured", "30", "", "25", "60"),
    (P1, "2023-12-20", "L2", "target", "liver", "6", "measured", "20", "", "15", ""),
    (P1, "2023-12-20", "N1", "target", "lymph_node", "", "measured", "", "18", "", ""),
    (P1, "2023-12-20", "L3", "non_target", "liver", "7", "present", "", "", "", ""),
    (P1, "2024-03-01", "L1", "target", "liver", "5", "measured", "20", "", "10", ""),
    (P1, "2024-03-01", "L2", "target", "liver", "6", "too_small", "", "", "", ""),
    (P1, "2024-03-01", "N1", "target", "lymph_node", "", "measured", "", "12", "", ""),
    (P1, "2024-03-01", "L3", "non_target", "liver", "7", "present", "", "", "", ""),
    (P1, "2024-06-01", "L1", "target", "liver", "5", "measured", "22", "", "12", ""),
    (P1, "2024-06-01", "L2", "target", "liver", "6", "too_small", "", "", "", ""),
    (P1, "2024-06-01", "N1", "target", "lymph_node", "", "measured", "", "12", "", ""),
    (P1, "2024-06-01", "L3", "non_target", "liver", "7", "present", "", "", "", ""),
    # P2: one liver target split in two fragments at follow-up
    (P2, "2024-01-15", "L1", "target", "liver", "8", "measured", "40", "", "40", ""),
    (P2, "2024-05-01", "L1", "target", "liver", "8", "measured", "20", "", "5", ""),
    (P2, "2024-05-01", "L1", "target", "liver", "8", "measured", "15.5", "", "5", ""),
    # P3: one target, a new lesion at follow-up
    (P3, "2024-02-20", "L1", "Target", "Liver", "2", "Measured", "25", "", "25", ""),
    (P3, "2024-06-01", "L1", "target", "liver", "2", "measured", "24", "", "20", ""),
    (P3, "2024-06-01", "L9", "new", "liver", "3", "present", "8", "", "", ""),
]
LAB_ROWS = [
    (P1, "2024-01-05", "1975-2", "0.8", "mg/dL"),
    (P1, "2024-01-05", "albumin", "41", "g/L"),
    (P1, "2024-01-05 08:30", "751-8", "4.2", "10^9/L"),
    (P1, "2024-01-05 08:30", "lymphocytes", "1500", "/uL"),
    (P1, "2024-04-02", "total bilirubin", "17.1", "µmol/L"),
    (P1, "2024-04-02", "LDH", ">1000", "U/L"),
    (P2, "2024-01-20", "Platelets", "180", "10^3/uL"),
    (P2, "2024-01-20", "creatinine", "<0.5", "mg/dL"),
    (P2, "2024-01-20", "ferritin", "120", "ng/mL"),
    (P3, "2024-02-25T10:00:00", "AST", "35", "IU/L"),
]


def clean_inputs() -> dict[str, pa.Table]:
    """Raw input tables of the clean run (contract columns as text)."""
    return {
        "patients": _raw("patients", PATIENT_COLUMNS, PATIENT_ROWS),
        "sessions": _raw("sessions", SESSION_COLUMNS, SESSION_ROWS),
        "imaging": _raw("imaging", IMAGING_COLUMNS, IMAGING_ROWS),
        "lesions": _raw("lesions", LESION_COLUMNS, LESION_ROWS),
        "labs": _raw("labs", LAB_COLUMNS, LAB_ROWS),
    }


def raw_inputs_with(dataset: str, *rows: tuple) -> dict[str, pa.Table]:
    """The clean inputs with extra raw rows appended to one dataset."""
    columns = {
        "patients": PATIENT_COLUMNS,
        "sessions": SESSION_COLUMNS,
        "imaging": IMAGING_COLUMNS,
        "lesions": LESION_COLUMNS,
        "labs": LAB_COLUMNS,
    }[dataset]
    base = {
        "patients": PATIENT_ROWS,
        "sessions": SESSION_ROWS,
        "imaging": IMAGING_ROWS,
        "lesions": LESION_ROWS,
        "labs": LAB_ROWS,
    }[dataset]
    tables = clean_inputs()
    tables[dataset] = _raw(dataset, columns, [*base, *rows])
    return tables


# The public tables of the clean run, as SQL over the warehouse DDL. Values are
# computed by hand from the raw rows above (RECIST 1.1 sums: P1 baseline
# 30 + 20 + 18 = 68 mm, 03-01: 20 + 5 + 12 = 37 mm (-45.6 %), 06-01: 22 + 5 + 12 = 39 mm).
OUTPUT_SQL = f"""
INSERT INTO patients VALUES
 ('{P1}', 'M', 1950, 'small_intestine', 2.5, 'G1', true, false, false, NULL, DATE '2024-09-01',
    'r1', 'patients.csv', 1),
 ('{P2}', 'F', 1962, 'pancreas', 10, 'G2', false, NULL, NULL, NULL, DATE '2024-08-15', 'r1',
    'patients.csv', 2),
 ('{P3}', 'U', 1971, 'rectum', 25, 'G3', false, true, false, DATE '2024-10-01',
    DATE '2024-09-20', 'r1', 'patients.csv', 3);
INSERT INTO sessions VALUES
 ('{P1}', 'S1', DATE '2024-01-10', 1, 'TAE', [5,6,7,8], NULL, NULL, NULL, 1, NULL, 'r1',
    'sessions.csv', 1),
 ('{P1}', 'S2', DATE '2024-04-10', 2, 'cTACE', [5,6,7,8], 'doxorubicin', NULL, NULL, 1, 60, 'r1',
    'sessions.csv', 2),
 ('{P2}', 'S1', DATE '2024-02-01', 1, 'TARE', [1,2,3,4,5,6,7,8], NULL, 'glass', 2.1, 2, NULL,
    'r1', 'sessions.csv', 3),
 ('{P3}', 'P3-2024-03-01', DATE '2024-03-01', 1, 'DEB-TACE', [2,3], 'doxorubicin', NULL, NULL, 0,
    55, 'r1', 'sessions.csv', 4);
INSERT INTO imaging_studies VALUES
 ('{P1}', DATE '2023-12-20', 'CT', false, false, 20, false, 'r1', 'imaging.csv', 1),
 ('{P1}', DATE '2024-03-01', 'CT', false, false, 15, false, 'r1', 'imaging.csv', 2),
 ('{P1}', DATE '2024-06-01', 'MR', false, true, 12.5, false, 'r1', 'imaging.csv', 3),
 ('{P2}', DATE '2024-01-15', 'MR', true, NULL, 35, false, 'r1', 'imaging.csv', 4),
 ('{P2}', DATE '2024-05-01', 'MR', true, NULL, 30, false, 'r1', 'imaging.csv', 5),
 ('{P3}', DATE '2024-02-20', 'CT', false, false, 10, false, 'r1', 'imaging.csv', 6),
 ('{P3}', DATE '2024-06-01', 'CT', false, false, 9, false, 'r1', 'imaging.csv', 7);
INSERT INTO lesion_measurements
SELECT patient_key, study_date::DATE, lesion_id, role, organ, liver_segment, status,
       longest, short_axis, viable, NULL, hu, organ = 'lymph_node', 'r1', 'lesions.csv', source_row
FROM (VALUES
 ('{P1}', '2023-12-20', 'L1', 'target', 'liver', 5, 'measured', 30.0, NULL, 25.0, 60.0, 1),
 ('{P1}', '2023-12-20', 'L2', 'target', 'liver', 6, 'measured', 20.0, NULL, 15.0, NULL, 2),
 ('{P1}', '2023-12-20', 'N1', 'target', 'lymph_node', NULL, 'measured', NULL, 18.0, NULL, NULL, 3),
 ('{P1}', '2023-12-20', 'L3', 'non_target', 'liver', 7, 'present', NULL, NULL, NULL, NULL, 4),
 ('{P1}', '2024-03-01', 'L1', 'target', 'liver', 5, 'measured', 20.0, NULL, 10.0, NULL, 5),
 ('{P1}', '2024-03-01', 'L2', 'target', 'liver', 6, 'too_small', NULL, NULL, NULL, NULL, 6),
 ('{P1}', '2024-03-01', 'N1', 'target', 'lymph_node', NULL, 'measured', NULL, 12.0, NULL, NULL, 7),
 ('{P1}', '2024-03-01', 'L3', 'non_target', 'liver', 7, 'present', NULL, NULL, NULL, NULL, 8),
 ('{P1}', '2024-06-01', 'L1', 'target', 'liver', 5, 'measured', 22.0, NULL, 12.0, NULL, 9),
 ('{P1}', '2024-06-01', 'L2', 'target', 'liver', 6, 'too_small', NULL, NULL, NULL, NULL, 10),
 ('{P1}', '2024-06-01', 'N1', 'target', 'lymph_node', NULL, 'measured', NULL, 12.0, NULL, NULL, 11),
 ('{P1}', '2024-06-01', 'L3', 'non_target', 'liver', 7, 'present', NULL, NULL, NULL, NULL, 12),
 ('{P2}', '2024-01-15', 'L1', 'target', 'liver', 8, 'measured', 40.0, NULL, 40.0, NULL, 13),
 ('{P2}', '2024-05-01', 'L1', 'target', 'liver', 8, 'measured', 20.0, NULL, 5.0, NULL, 14),
 ('{P2}', '2024-05-01', 'L1', 'target', 'liver', 8, 'measured', 15.5, NULL, 5.0, NULL, 15),
 ('{P3}', '2024-02-20', 'L1', 'target', 'liver', 2, 'measured', 25.0, NULL, 25.0, NULL, 16),
 ('{P3}', '2024-06-01', 'L1', 'target', 'liver', 2, 'measured', 24.0, NULL, 20.0, NULL, 17),
 ('{P3}', '2024-06-01', 'L9', 'new', 'liver', 3, 'present', 8.0, NULL, NULL, NULL, 18)
) AS t(patient_key, study_date, lesion_id, role, organ, liver_segment, status, longest,
    short_axis, viable, hu, source_row);
INSERT INTO lab_results VALUES
 ('{P1}', TIMESTAMP '2024-01-05', false, 'bilirubin', 0.8, 'mg/dL', NULL, '0.8', 'mg/dL', '1975-2',
    'r1', 'labs.csv', 1),
 ('{P1}', TIMESTAMP '2024-01-05', false, 'albumin', 4.1, 'g/dL', NULL, '41', 'g/L', 'albumin', 'r1',
    'labs.csv', 2),
 ('{P1}', TIMESTAMP '2024-01-05 08:30', true, 'neutrophils', 4.2, '10^9/L', NULL, '4.2', '10^9/L',
    '751-8', 'r1', 'labs.csv', 3),
 ('{P1}', TIMESTAMP '2024-01-05 08:30', true, 'lymphocytes', 1.5, '10^9/L', NULL, '1500', '/uL',
    'lymphocytes', 'r1', 'labs.csv', 4),
 ('{P1}', TIMESTAMP '2024-04-02', false, 'bilirubin', 1.0, 'mg/dL', NULL, '17.1', 'µmol/L',
    'total bilirubin', 'r1', 'labs.csv', 5),
 ('{P1}', TIMESTAMP '2024-04-02', false, 'ldh', 1000, 'U/L', '>', '>1000', 'U/L', 'LDH', 'r1',
    'labs.csv', 6),
 ('{P2}', TIMESTAMP '2024-01-20', false, 'platelets', 180, '10^9/L', NULL, '180', '10^3/uL',
    'Platelets', 'r1', 'labs.csv', 7),
 ('{P2}', TIMESTAMP '2024-01-20', false, 'creatinine', 0.5, 'mg/dL', '<', '<0.5', 'mg/dL',
    'creatinine', 'r1', 'labs.csv', 8),
 ('{P2}', TIMESTAMP '2024-01-20', false, 'ferritin', 120, 'ng/mL', NULL, '120', 'ng/mL', 'ferritin',
    'r1', 'labs.csv', 9),
 ('{P3}', TIMESTAMP '2024-02-25 10:00', true, 'ast', 35, 'U/L', NULL, '35', 'IU/L', 'AST', 'r1',
    'labs.csv', 10);
INSERT INTO timepoint_responses VALUES
 ('{P1}', 'RECIST1.1', DATE '2023-12-20', DATE '2023-12-20', 0, 68.0, 68.0, 68.0,
  'mm', NULL, NULL, NULL, 0.0, 0.0, 0.0,
  NULL, NULL, NULL, NULL, 'baseline', 'r1'),
 ('{P1}', 'RECIST1.1', DATE '2024-03-01', DATE '2023-12-20', 72, 37.0, 68.0, 68.0,
  'mm', NULL, NULL, NULL, -45.6, -45.6,
    -31.0,
  'PR', 'NON-CR/NON-PD', false, 'PR', 'PR: sum 37 mm is -45.6 % from baseline 68 mm', 'r1'),
 ('{P1}', 'RECIST1.1', DATE '2024-06-01', DATE '2023-12-20', 164, 39.0, 68.0, 37.0,
  'mm', NULL, NULL, NULL, -42.6, 5.4, 2.0,
  'PR', 'NON-CR/NON-PD', false, 'PR', 'PR: sum 39 mm is -42.6 % from baseline 68 mm', 'r1'),
 ('{P2}', 'RECIST1.1', DATE '2024-01-15', DATE '2024-01-15', 0, 40.0, 40.0, 40.0,
  'mm', NULL, NULL, NULL, 0.0, 0.0, 0.0,
  NULL, NULL, NULL, NULL, 'baseline', 'r1'),
 ('{P2}', 'RECIST1.1', DATE '2024-05-01', DATE '2024-01-15', 107, 35.5, 40.0, 40.0,
  'mm', NULL, NULL, NULL, -11.3, -11.3,
    -4.5,
  'SD', NULL, false, 'SD', 'SD: sum 35.5 mm is -11.3 % from baseline 40 mm', 'r1'),
 ('{P3}', 'RECIST1.1', DATE '2024-02-20', DATE '2024-02-20', 0, 25.0, 25.0, 25.0,
  'mm', NULL, NULL, NULL, 0.0, 0.0, 0.0,
  NULL, NULL, NULL, NULL, 'baseline', 'r1'),
 ('{P3}', 'RECIST1.1', DATE '2024-06-01', DATE '2024-02-20', 102, 24.0, 25.0, 25.0,
  'mm', NULL, NULL, NULL, -4.0, -4.0,
    -1.0,
  'SD', NULL, true, 'PD', 'PD: new lesion L9', 'r1');
INSERT INTO session_responses VALUES
 ('{P1}', 'RECIST1.1', 'S1', 1, 'TAE', 'overall', DATE '2023-12-20', DATE '2023-12-20', 0, NULL,
  68.0, 68.0, 68.0,
  'mm', NULL, NULL, NULL, 0.0, 0.0, 0.0, NULL, NULL, NULL, NULL, NULL, 'baseline', 'r1'),
 ('{P1}', 'RECIST1.1', 'S1', 1, 'TAE', 'overall', DATE '2024-03-01', DATE '2023-12-20', 72, 51,
  37.0, 68.0, 68.0,
  'mm', NULL, NULL, NULL, -45.6, -45.6, -31.0, 'PR', 'NON-CR/NON-PD', false, 'PR', false,
  'PR: sum 37 mm is -45.6 % from baseline 68 mm', 'r1'),
 ('{P1}', 'RECIST1.1', 'S2', 2, 'cTACE', 'overall', DATE '2024-03-01', DATE '2024-03-01', 0, NULL,
  37.0, 37.0, 37.0,
  'mm', NULL, NULL, NULL, 0.0, 0.0, 0.0, NULL, NULL, NULL, NULL, NULL, 'baseline', 'r1'),
 ('{P1}', 'RECIST1.1', 'S2', 2, 'cTACE', 'overall', DATE '2024-06-01', DATE '2024-03-01', 92, 52,
  39.0, 37.0, 37.0,
  'mm', NULL, NULL, NULL, 5.4, 5.4, 2.0, 'SD', 'NON-CR/NON-PD', false, 'SD', false,
  'SD: sum 39 mm is +5.4 % from nadir 37 mm', 'r1'),
 ('{P2}', 'RECIST1.1', 'S1', 1, 'TARE', 'in_field', DATE '2024-05-01', DATE '2024-01-15', 107, 90,
  35.5, 40.0, 40.0,
  'mm', NULL, NULL, NULL, -11.3, -11.3, -4.5, 'SD', NULL, false, 'SD', false,
  'SD: sum 35.5 mm is -11.3 % from baseline 40 mm', 'r1');
INSERT INTO best_responses VALUES
 ('{P1}', 'RECIST1.1', 'course', 'PR', 'PR', DATE '2024-03-01', NULL, 143, false, 143, 92, 'r1'),
 ('{P1}', 'RECIST1.1', 'S1', 'PR', 'SD', NULL, NULL, 51, false, 51, NULL, 'r1'),
 ('{P2}', 'RECIST1.1', 'course', 'SD', 'SD', NULL, NULL, 90, false, 90, NULL, 'r1'),
 ('{P3}', 'RECIST1.1', 'course', 'PD', 'PD', NULL, DATE '2024-06-01', 92, true, 92, NULL, 'r1');
INSERT INTO nlr VALUES ('{P1}', TIMESTAMP '2024-01-05 08:30', 4.2, 1.5, 2.8, 'r1');
INSERT INTO session_labs VALUES
 ('{P1}', 'S1', 1, DATE '2024-01-10', 2.8, NULL, NULL, NULL, NULL, false, NULL, NULL, 'r1'),
 ('{P1}', 'S2', 2, DATE '2024-04-10', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'r1');
INSERT INTO session_flags VALUES
 ('{P1}', 'S1', 1, DATE '2024-01-10', 'TAE', 0.8, 4.1, 20, false, false, 1, 2.8,
  false, false, false, false, false, false, false, 0,
  'missing', 'missing', 'missing', 'missing', 'pass', 'pass', 'pass', 'pass', NULL, NULL,
  'TACE/TAE', 'Ki-67 < 3 % predicted greater benefit with TACE/TAE', NULL, NULL, NULL, 'r1'),
 ('{P2}', 'S1', 1, DATE '2024-02-01', 'TARE', NULL, NULL, 35, NULL, true, 2, NULL,
  NULL, NULL, false, NULL, true, false, NULL, 1,
  'pass', 'missing', 'missing', 'pass', 'missing', 'pass', 'pass', 'pass', NULL, NULL,
  'TARE', 'Ki-67 ≥ 3 % predicted better response after radioembolisation', NULL, NULL, NULL, 'r1');
"""


def clean_outputs() -> dict[str, pa.Table]:
    """The public tables of the clean run, typed exactly as warehouse/ddl declares them."""
    con = duckdb.connect(":memory:")
    for path in sorted(DDL_DIR.glob("*.sql")):
        con.execute(path.read_text())
    con.execute(OUTPUT_SQL)
    tables = [
        "patients",
        "sessions",
        "imaging_studies",
        "lesion_measurements",
        "lab_results",
        "timepoint_responses",
        "session_responses",
        "best_responses",
        "nlr",
        "session_labs",
        "session_flags",
    ]
    out = {t: con.sql(f"SELECT * FROM {t}").to_arrow_table() for t in tables}
    con.close()
    survival = compute_survival(out, load_config().section("report"))
    out["survival"] = survival.append_column("run_id", pa.array(["run-clean"] * len(survival)))
    return out


def test_clean_inputs_have_every_contract_column_as_text() -> None:
    tables = clean_inputs()
    assert tables["lesions"].num_rows == len(LESION_ROWS)
    for table in tables.values():
        for name in table.column_names:
            expected = pa.int64() if name == "source_row" else pa.string()
            assert table.schema.field(name).type == expected


def test_clean_outputs_follow_the_ddl() -> None:
    tables = clean_outputs()
    assert tables["lesion_measurements"].num_rows == len(LESION_ROWS)
    assert tables["timepoint_responses"].schema.field("sum_mm").type == pa.decimal128(10, 1)
