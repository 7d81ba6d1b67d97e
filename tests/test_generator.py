"""The demo-cohort generator: determinism, the input contract, the spoiled-row answer key,
and the clinical structure later stages rely on (checked on the good rows only)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contract
from config import load_config
from demo_cohort import model, spoil, text
from demo_cohort.generator import DATASETS, SPOIL_LOG, generate

BOOLEAN_COLUMNS = tuple(c for columns in contract.BOOLEAN_COLUMNS.values() for c in columns)
CONTRACT = Path(__file__).resolve().parents[1].parent / "shared" / "contract" / "inputs.md"

# Every (dataset, reason) the generator injects; a 20-patient cohort must show all of them.
SPOIL_KINDS = {
    ("patients", "bad_boolean"),
    ("patients", "duplicate_row"),
    ("sessions", "unknown_modality"),
    ("sessions", "unknown_territory"),
    ("sessions", "bad_date"),
    ("sessions", "duplicate_row"),
    ("imaging", "out_of_range"),
    ("imaging", "bad_boolean"),
    ("imaging", "bad_date"),
    ("imaging", "duplicate_row"),
    ("lesions", "out_of_range"),
    ("lesions", "missing_required"),
    ("lesions", "bad_date"),
    ("lesions", "unknown_vocabulary"),
    ("lesions", "duplicate_row"),
    ("lesions", "orphan_study"),
    ("lesions", "target_after_baseline"),
    ("labs", "unknown_unit"),
    ("labs", "bad_number"),
    ("labs", "out_of_range"),
    ("labs", "bad_date"),
    ("labs", "duplicate_row"),
}


def contract_columns() -> dict[str, list[str]]:
    """Column names per dataset, read from the input contract's tables."""
    columns: dict[str, list[str]] = {}
    dataset = None
    for line in CONTRACT.read_text().splitlines():
        heading = re.match(r"## (\w+) \(", line)
        if heading:
            dataset = heading[1]
            columns[dataset] = []
        elif dataset and line.startswith("| ") and not line.startswith(("| column", "|---")):
            if dataset in DATASETS:
                columns[dataset].append(line.split("|")[1].strip())
        elif line.startswith("Analytes and canonical units"):
            dataset = None
    return columns


def read_folder(folder: Path, fmt: str = "csv") -> dict[str, pa.Table]:
    """Every dataset as text, with lineage and the logged reason (null for a good row)."""
    log = pacsv.read_csv(
        folder / SPOIL_LOG,
        convert_options=pacsv.ConvertOptions(column_types={"source_row": pa.int64()}),
    )
    tables = {}
    for dataset in DATASETS:
        parts = []
        for path in sorted(folder.glob(f"{dataset}_part*.{fmt}")):
            if fmt == "csv":
                t = pacsv.read_csv(
                    path,
                    convert_options=pacsv.ConvertOptions(
                        column_types=dict.fromkeys(contract_columns()[dataset], pa.string()),
                        strings_can_be_null=True,
                    ),
                )
            else:
                t = pq.read_table(path)
            t = t.append_column("source_file", pa.array([path.name] * t.num_rows))
            parts.append(t.append_column("source_row", pa.array(np.arange(1, t.num_rows + 1))))
        tables[dataset] = pa.concat_tables(parts)
    con = duckdb.connect()
    con.register("log", log)
    for dataset, t in tables.items():
        con.register("t", t)
        tables[dataset] = con.sql(
            "SELECT t.*, log.reason_code FROM t LEFT JOIN log USING (source_file, source_row) "
            "ORDER BY source_file, source_row"
        ).to_arrow_table()
        con.unregister("t")
    return tables


def good_rows_db(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A DuckDB with each dataset's good rows, typed (the spoiled rows left out)."""
    con = duckdb.connect()
    for dataset, t in tables.items():
        con.register(f"raw_{dataset}", t)
    con.execute("""
        CREATE TABLE patients AS SELECT * REPLACE (death_date::DATE AS death_date,
            last_contact_date::DATE AS last_contact_date)
        FROM raw_patients WHERE reason_code IS NULL;
        CREATE TABLE sessions AS SELECT * REPLACE (session_date::DATE AS session_date)
        FROM raw_sessions WHERE reason_code IS NULL;
        CREATE TABLE imaging AS SELECT * REPLACE (study_date::DATE AS study_date,
            liver_tumor_burden_pct::DOUBLE AS liver_tumor_burden_pct)
        FROM raw_imaging WHERE reason_code IS NULL;
        CREATE TABLE lesions AS SELECT * REPLACE (study_date::DATE AS study_date,
            liver_segment::INTEGER AS liver_segment,
            longest_diameter_mm::DECIMAL(10,1) AS longest_diameter_mm,
            short_axis_mm::DECIMAL(10,1) AS short_axis_mm,
            viable_diameter_mm::DECIMAL(10,1) AS viable_diameter_mm)
        FROM raw_lesions WHERE reason_code IS NULL;
        CREATE TABLE labs AS SELECT * REPLACE (collected_at::TIMESTAMP AS collected_at)
        FROM raw_labs WHERE reason_code IS NULL;
        CREATE TABLE baseline AS SELECT patient_id, min(study_date) AS study_date
        FROM imaging GROUP BY ALL;
    """)
    return con


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    generate(folder, patients=20, seed=42)
    return folder


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, object, list]:
    """300 patients in three chunks, MRN-style ids."""
    folder = tmp_path_factory.mktemp("cohort")
    calls: list[tuple[int, int]] = []
    summary = generate(
        folder,
        patients=300,
        seed=7,
        id_style="mrn",
        chunk_patients=120,
        progress=lambda done, total: calls.append((done, total)),
    )
    return folder, summary, calls


@pytest.fixture(scope="module")
def cohort_tables(cohort) -> dict[str, pa.Table]:
    return read_folder(cohort[0])


@pytest.fixture(scope="module")
def db(cohort_tables) -> duckdb.DuckDBPyConnection:
    return good_rows_db(cohort_tables)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- determinism and output layout ---------------------------------------------------


def test_same_seed_gives_the_same_bytes(tmp_path):
    for run in ("a", "b"):
        generate(tmp_path / run, patients=40, seed=3, chunk_patients=15)
    first, second = folder_bytes(tmp_path / "a"), folder_bytes(tmp_path / "b")
    assert first.keys() == second.keys()
    assert len(first) == 5 * 3 + 1  # 3 chunks x 5 datasets + the spoil log
    assert first == second


def test_another_seed_gives_other_data(tmp_path):
    generate(tmp_path / "a", patients=20, seed=1)
    generate(tmp_path / "b", patients=20, seed=2)
    a, b = folder_bytes(tmp_path / "a"), folder_bytes(tmp_path / "b")
    assert all(a[name] != b[name] for name in a)


def test_a_second_run_replaces_the_first(tmp_path):
    generate(tmp_path, patients=30, seed=1, chunk_patients=10)
    generate(tmp_path, patients=30, seed=1, chunk_patients=30)
    assert sorted(p.name for p in tmp_path.glob("*_part*")) == [
        f"{d}_part001.csv" for d in sorted(DATASETS)
    ]


def test_files_follow_the_naming_contract(cohort):
    folder, summary, _ = cohort
    assert summary.files == [
        *(f"{d}_part{c:03d}.csv" for c in (1, 2, 3) for d in DATASETS),
        "_generator/spoiled_rows.csv",
    ]
    assert all((folder / name).is_file() for name in summary.files)


def test_progress_is_reported_after_every_chunk(cohort):
    assert cohort[2] == [(120, 300), (240, 300), (300, 300)]


def test_every_contract_column_is_present_in_contract_order(cohort_tables):
    for dataset, columns in contract_columns().items():
        lineage = ("source_file", "source_row", "reason_code")
        written = [c for c in cohort_tables[dataset].column_names if c not in lineage]
        assert written == columns, dataset


def test_summary_matches_the_files(cohort, cohort_tables):
    _, summary, _ = cohort
    assert summary.rows == {d: cohort_tables[d].num_rows for d in DATASETS}
    logged = {}
    for t in cohort_tables.values():
        for reason in t.column("reason_code").drop_null().to_pylist():
            logged[reason] = logged.get(reason, 0) + 1
    assert summary.spoiled == logged


def test_row_counts_are_plausible(cohort, db):
    rows = cohort[1].rows
    copies = db.execute(
        "SELECT count(*) FROM raw_patients WHERE reason_code = 'duplicate_row'"
    ).fetchone()[0]
    assert rows["patients"] == 300 + copies
    per_patient = {d: rows[d] / 300 for d in DATASETS}
    assert 1.5 <= per_patient["sessions"] <= 3
    assert 4 <= per_patient["imaging"] <= 12
    assert 15 <= per_patient["lesions"] <= 60
    assert 100 <= per_patient["labs"] <= 300
    spoiled_share = cohort[1].total_spoiled / cohort[1].total_rows
    assert 0.008 <= spoiled_share <= 0.015


def test_parquet_holds_the_same_rows_as_csv(tmp_path):
    generate(tmp_path / "csv", patients=20, seed=5)
    generate(tmp_path / "pq", patients=20, seed=5, fmt="parquet")
    as_csv, as_parquet = read_folder(tmp_path / "csv"), read_folder(tmp_path / "pq", "parquet")
    for dataset in DATASETS:
        drop = ["source_file"]
        assert as_parquet[dataset].drop_columns(drop).equals(as_csv[dataset].drop_columns(drop))
    log = pacsv.read_csv(tmp_path / "pq" / SPOIL_LOG)
    assert all(name.endswith(".parquet") for name in log.column("source_file").to_pylist())


def test_identifiers_follow_the_id_style(cohort_tables, tiny):
    mrns = cohort_tables["patients"].column("patient_id").unique().to_pylist()
    assert len(mrns) == 300
    assert all(re.fullmatch(r"4\d{7}", m) for m in mrns)
    study = read_folder(tiny)["patients"].column("patient_id").unique().to_pylist()
    assert sorted(study) == [f"NELM-{i:06d}" for i in range(1, 21)]


def test_session_ids_never_contain_the_patient_identifier(cohort_tables):
    t = cohort_tables["sessions"]
    for pid, sid in zip(t["patient_id"].to_pylist(), t["session_id"].to_pylist(), strict=True):
        assert sid is None or pid not in sid


# --- the spoiled rows ------------------------------------------------------------------


def test_a_tiny_cohort_shows_every_spoil_kind(tiny):
    log = pacsv.read_csv(tiny / SPOIL_LOG).to_pylist()
    assert {(r["dataset"], r["reason_code"]) for r in log} == SPOIL_KINDS
    assert {r["reason_code"] for r in log} <= set(spoil.REASONS)


def test_each_logged_row_shows_its_defect(cohort_tables):
    """Every logged row exists and carries exactly the defect its reason names."""
    booleans = {s.lower() for pair in text.BOOLEAN_SPELLINGS for s in pair}
    bad = spoil.BAD_BOOLEANS
    for dataset, t in cohort_tables.items():
        rows = t.filter(pc.is_valid(t["reason_code"])).to_pylist()
        assert rows, dataset
        for r in rows:
            reason = r["reason_code"]
            if reason == "bad_boolean":
                flags = [r[c] for c in BOOLEAN_COLUMNS if c in r]
                assert sum(v in spoil.BAD_BOOLEANS for v in flags) == 1
                assert all(v is None or v.lower() in booleans for v in flags if v not in bad)
            elif reason == "bad_date":
                date_column = {
                    "sessions": "session_date",
                    "imaging": "study_date",
                    "lesions": "study_date",
                    "labs": "collected_at",
                }[dataset]
                assert r[date_column] in spoil.BAD_DATES
            elif reason == "unknown_modality":
                assert r["modality"] in spoil.BAD_MODALITIES
            elif reason == "unknown_territory":
                assert r["treated_territory"] in spoil.BAD_TERRITORIES
            elif reason == "unknown_unit":
                assert r["unit"] in spoil.BAD_UNITS
            elif reason == "bad_number":
                assert r["value"] in spoil.BAD_NUMBERS
            elif reason == "unknown_vocabulary":
                assert (r["role"], r["organ"]).count("targt") + (r["organ"] == "spleen") == 1
            elif reason == "out_of_range" and dataset == "lesions":
                d = float(r["longest_diameter_mm"])
                assert d < 0 or d > 400
            elif reason == "out_of_range" and dataset == "imaging":
                assert r["liver_tumor_burden_pct"] == "150"
            elif reason == "out_of_range" and dataset == "labs":
                assert (r["value"], r["unit"].lower()) == ("70", "g/dl")
                assert r["test"].lower() in ("1751-7", "albumin", "alb")
            elif reason == "missing_required":
                measured_solid = r["status"] == "measured" and r["organ"] != "lymph_node"
                assert r["status"] is None or (measured_solid and r["longest_diameter_mm"] is None)
            elif reason in ("duplicate_row", "orphan_study", "target_after_baseline"):
                pass  # checked against the other rows below
            else:
                pytest.fail(f"unexpected {dataset} reason {reason}")


def test_duplicate_rows_copy_an_earlier_good_row(cohort_tables):
    con = duckdb.connect()
    for dataset, t in cohort_tables.items():
        con.register("t", t)
        data = ", ".join(contract_columns()[dataset])
        copies = con.sql(f"""
            SELECT reason_code, row_number() OVER (PARTITION BY source_file, {data}
                ORDER BY source_row) AS occurrence,
                first_value(reason_code) OVER (PARTITION BY source_file, {data}
                ORDER BY source_row) AS first_reason
            FROM t""").fetchall()
        assert all(
            (reason == "duplicate_row") == (occurrence > 1) for reason, occurrence, _ in copies
        )
        assert all(first is None for _, occ, first in copies if occ > 1)
        con.unregister("t")


def test_orphan_lesions_have_no_study_and_every_good_lesion_has_one(db):
    rows = db.execute("""
        SELECT l.reason_code, i.study_date IS NOT NULL AS has_study
        FROM raw_lesions l LEFT JOIN imaging i
          ON i.patient_id = l.patient_id AND i.study_date = try_cast(l.study_date AS DATE)
        WHERE l.reason_code IS NULL OR l.reason_code = 'orphan_study'""").fetchall()
    assert {(reason, has) for reason, has in rows} == {(None, True), ("orphan_study", False)}


def test_late_targets_are_new_ids_at_follow_up_studies(db):
    late = db.execute("""
        SELECT l.patient_id, l.lesion_id, l.role, l.study_date::DATE > b.study_date AS after_base,
            EXISTS (SELECT 1 FROM raw_lesions o WHERE o.patient_id = l.patient_id
                    AND o.lesion_id = l.lesion_id AND o.source_row <> l.source_row) AS seen
        FROM raw_lesions l JOIN baseline b USING (patient_id)
        WHERE l.reason_code = 'target_after_baseline'""").fetchall()
    assert late
    assert all(role == "target" and after and not seen for _, _, role, after, seen in late)


# --- structure of the good rows --------------------------------------------------------


def test_good_rows_satisfy_the_contract_vocabularies(db):
    ingest = load_config(None).section("ingest")
    vocab = ingest["vocab"]
    folded = {re.sub(r"[\s_\-]+", " ", k.lower()) for k in ingest["modality_aliases"]}

    def values(sql: str) -> set:
        return {v for (v,) in db.execute(sql).fetchall()}

    modalities = values("SELECT DISTINCT modality FROM sessions")
    assert {re.sub(r"[\s_\-]+", " ", m.lower()) for m in modalities} <= folded
    assert len(modalities) >= 10  # varied spellings
    assert values("SELECT DISTINCT role FROM lesions") == set(vocab["role"])
    assert values("SELECT DISTINCT organ FROM lesions") <= set(vocab["organ"])
    for role in ("target", "non_target", "new"):
        statuses = f"status_{role}"
        assert values(f"SELECT DISTINCT status FROM lesions WHERE role = '{role}'") == set(
            vocab[statuses]
        ), role
    assert values("SELECT DISTINCT modality FROM imaging") == {"CT", "MR"}
    spellings = values("""
        SELECT DISTINCT lower(v) FROM (
            SELECT unnest([functional, bilioenteric_anastomosis, prior_whipple]) AS v FROM patients
            UNION ALL SELECT unnest([extrahepatic_disease, ascites, portal_vein_occlusion])
            FROM imaging) WHERE v IS NOT NULL""")
    assert spellings == set(ingest["booleans"]["true"] + ingest["booleans"]["false"]) - {"t", "f"}
    territories = values("SELECT DISTINCT treated_territory FROM sessions")
    assert {"right_lobe", "left_lobe", "whole_liver"} < territories
    assert all(
        t in ("right_lobe", "left_lobe", "whole_liver") or re.fullmatch(r"[1-8](,[1-8])*", t)
        for t in territories
    )


def test_lab_tests_and_units_are_ones_the_normaliser_knows(db):
    labs_cfg = load_config(None).section("labs")
    tests = {t for (t,) in db.execute("SELECT DISTINCT test FROM labs").fetchall()}
    assert {re.sub(r"\s+", " ", t.lower()) for t in tests} <= set(labs_cfg["test_aliases"])
    units = {u for (u,) in db.execute("SELECT DISTINCT unit FROM labs").fetchall()}
    known = set(labs_cfg["unit_aliases"])
    assert {re.sub(r"\s", "", u.lower()).replace("µ", "u") for u in units} <= known
    si = db.execute("""
        SELECT avg((unit IN ('µmol/L', 'umol/L', 'µmol/l', 'mcmol/L', 'g/L', 'µkat/L', '/µL',
                             'cells/uL'))::INT) FROM labs""").fetchone()[0]
    assert 0.25 < si < 0.4
    censored = db.execute(
        "SELECT DISTINCT value FROM labs WHERE value LIKE '<%' OR value LIKE '>%'"
    ).fetchall()
    assert {v for (v,) in censored} == {"<0.2", ">1000"}


def test_required_values_are_filled_on_good_rows(db):
    assert db.execute("""
        SELECT count(*) FROM lesions WHERE status IS NULL OR lesion_id IS NULL
           OR (organ = 'liver' AND liver_segment NOT BETWEEN 1 AND 8)
           OR (organ <> 'liver' AND liver_segment IS NOT NULL)
           OR (role = 'target' AND status = 'measured' AND organ <> 'lymph_node'
               AND longest_diameter_mm IS NULL)
           OR (role IN ('target', 'non_target') AND organ = 'lymph_node' AND short_axis_mm IS NULL)
           OR least(longest_diameter_mm, short_axis_mm, viable_diameter_mm) < 0
           OR greatest(longest_diameter_mm, short_axis_mm, viable_diameter_mm) > 400
           OR viable_diameter_mm > longest_diameter_mm""").fetchone() == (0,)
    assert db.execute("""SELECT count(*) FROM labs WHERE value IS NULL OR unit IS NULL
                     OR test IS NULL""").fetchone() == (0,)
    assert db.execute("""SELECT count(*) FROM imaging WHERE liver_tumor_burden_pct
                     NOT BETWEEN 0 AND 100""").fetchone() == (0,)


def test_baseline_targets_follow_recist_selection_rules(db):
    per_patient = db.execute("""
        SELECT patient_id, count(*) AS n, max(per_organ) AS most_in_one_organ FROM (
            SELECT patient_id, organ, count(*) AS per_organ
            FROM lesions JOIN baseline USING (patient_id, study_date)
            WHERE role = 'target' GROUP BY ALL) GROUP BY ALL""").fetchall()
    assert len(per_patient) == 300
    assert all(1 <= n <= 5 and most <= 2 for _, n, most in per_patient)
    sizes = db.execute("""
        SELECT organ = 'lymph_node', min(coalesce(short_axis_mm, 0)), min(longest_diameter_mm),
               count(*) FILTER (status <> 'measured')
        FROM lesions JOIN baseline USING (patient_id, study_date)
        WHERE role = 'target' GROUP BY ALL ORDER BY 1""").fetchall()
    (_, _, solid_min, solid_unmeasured), (_, node_min, _, node_unmeasured) = sizes
    assert solid_min >= 10 and node_min >= 15
    assert solid_unmeasured == node_unmeasured == 0
    assert db.execute("""SELECT count(*) FROM lesions JOIN baseline USING (patient_id, study_date)
                     WHERE role = 'new'""").fetchone() == (0,)


def test_diameters_have_one_decimal(cohort_tables):
    t = cohort_tables["lesions"].filter(pc.is_null(cohort_tables["lesions"]["reason_code"]))
    for column in ("longest_diameter_mm", "short_axis_mm", "viable_diameter_mm"):
        values = t[column].drop_null().to_pylist()
        assert values and all(re.fullmatch(r"\d+\.\d", v) for v in values), column


def test_baseline_is_at_most_30_days_before_the_first_session(db):
    gaps = db.execute("""
        SELECT min(s.session_date) - b.study_date FROM sessions s JOIN baseline b USING (patient_id)
        GROUP BY s.patient_id, b.study_date""").fetchall()
    assert len(gaps) == 300
    assert all(1 <= gap <= 30 for (gap,) in gaps)


def test_nothing_happens_after_death_or_last_contact(db):
    late = db.execute("""
        WITH events AS (
            SELECT patient_id, study_date AS day FROM imaging
            UNION ALL SELECT patient_id, session_date FROM sessions
            UNION ALL SELECT patient_id, collected_at::DATE FROM labs)
        SELECT count(*) FILTER (day >= coalesce(death_date, last_contact_date + 1)),
               count(*) FILTER (death_date IS NULL AND last_contact_date IS NULL),
               count(*) FILTER (death_date IS NOT NULL AND last_contact_date IS NOT NULL)
        FROM events JOIN patients USING (patient_id)""").fetchone()
    assert late == (0, 0, 0)
    dead = db.execute("SELECT avg((death_date IS NOT NULL)::INT) FROM patients").fetchone()[0]
    assert 0.2 < dead < 0.8


def test_sessions_and_studies_are_spaced_like_clinical_practice(db):
    session_gaps = db.execute("""
        SELECT session_date - lag(session_date) OVER (PARTITION BY patient_id ORDER BY session_date)
        FROM sessions WHERE patient_id NOT IN (
            SELECT patient_id FROM raw_sessions WHERE reason_code IS NOT NULL)""").fetchall()
    gaps = [g for (g,) in session_gaps if g is not None]
    assert gaps and min(gaps) >= 30 and max(gaps) <= 183
    per_patient = db.execute("SELECT count(*) FROM sessions GROUP BY patient_id").fetchall()
    assert {n for (n,) in per_patient} == {1, 2, 3, 4}
    study_gaps = db.execute("""
        SELECT study_date - lag(study_date) OVER (PARTITION BY patient_id ORDER BY study_date)
        FROM imaging""").fetchall()
    gaps = [g for (g,) in study_gaps if g is not None]
    assert min(gaps) >= 60 and max(gaps) <= 120


def test_tace_carries_an_agent_and_tare_a_microsphere(db):
    rows = db.execute("""
        SELECT lower(modality) LIKE '%tace%' AS tace,
               modality IN ('TARE', 'Y90', 'SIRT', 'radioembolization') AS tare,
               count(agent), count(microsphere), count(activity_gbq), count(*),
               count(*) FILTER (lvef_pct::INT < 50), count(session_id)
        FROM sessions GROUP BY ALL ORDER BY 1, 2""").fetchall()
    bland, tare, tace = rows
    assert bland[2:5] == (0, 0, 0) and tare[2] == 0 and tace[3:5] == (0, 0)
    assert tare[3] == tare[5] and tare[4] > 0.9 * tare[5] and tace[2] > 0.9 * tace[5]
    assert tace[6] > 0  # some doxorubicin sessions with LVEF < 50 %
    assert 0 < sum(r[7] for r in rows) < sum(r[5] for r in rows)  # session_id sometimes given


def test_every_session_has_a_lab_draw_in_the_30_days_before(db):
    missing = db.execute("""
        SELECT count(*) FROM sessions s WHERE NOT EXISTS (
            SELECT 1 FROM labs l WHERE l.patient_id = s.patient_id
            AND l.collected_at::DATE BETWEEN s.session_date - 30 AND s.session_date)""").fetchone()
    assert missing == (0,)


def test_neutrophils_and_lymphocytes_are_drawn_together(db):
    unpaired = db.execute("""
        WITH cbc AS (SELECT patient_id, collected_at,
            count(*) FILTER (test IN ('751-8', 'neutrophils', 'Neutrophils')) AS n,
            count(*) FILTER (test IN ('731-0', 'lymphocytes', 'Lymphocytes')) AS l
            FROM raw_labs WHERE reason_code IS NULL OR reason_code = 'duplicate_row'
            GROUP BY ALL)
        SELECT count(*) FILTER (n <> l), count(*) FROM cbc WHERE n + l > 0""").fetchone()
    # Only a spoiled partner (bad unit, number or date) can leave one of them alone.
    assert unpaired[0] < 0.02 * unpaired[1]


def test_some_same_instant_results_disagree_but_no_good_row_is_repeated(db):
    same_instant = db.execute("""
        SELECT count(DISTINCT value) FROM labs GROUP BY patient_id, collected_at, test, unit
        HAVING count(*) > 1""").fetchall()
    assert same_instant and all(n == 2 for (n,) in same_instant)


def test_lesion_courses_show_the_features_responses_need(db):
    counts = dict(
        db.execute("""
        SELECT 'split', count(*) FROM (SELECT 1 FROM lesions GROUP BY patient_id, study_date,
            lesion_id HAVING count(*) > 1 AND count(DISTINCT longest_diameter_mm) = 2)
        UNION ALL SELECT 'coalesced', count(*) FROM lesions WHERE status = 'coalesced'
            AND longest_diameter_mm IS NULL
        UNION ALL SELECT 'non_enhancing target', count(*) FROM lesions
            WHERE role = 'target' AND viable_diameter_mm = 0 AND longest_diameter_mm > 0
        UNION ALL SELECT 'equivocal then present', count(*) FROM lesions e JOIN lesions p
            USING (patient_id, lesion_id) WHERE e.status = 'equivocal' AND p.status = 'present'
            AND p.study_date > e.study_date
        UNION ALL SELECT 'extrahepatic new', count(*) FROM lesions
            WHERE role = 'new' AND organ <> 'liver'
        UNION ALL SELECT 'burden >= 70', count(*) FROM imaging WHERE liver_tumor_burden_pct >= 70
        UNION ALL SELECT 'portal vein', count(*) FROM imaging
            WHERE lower(portal_vein_occlusion) IN ('true', 'yes', 'y', '1')
        UNION ALL SELECT 'nodal target', count(*) FROM lesions
            WHERE role = 'target' AND organ = 'lymph_node'
        """).fetchall()
    )
    assert all(n > 0 for n in counts.values()), counts


def test_every_baseline_lesion_is_reported_at_every_study():
    frames = model.build_chunk(np.random.default_rng(11), 0, 150, 11, "study", 1)
    con = duckdb.connect()
    for name in ("imaging", "lesions"):
        con.register(name, pa.table(frames[name].columns))
    missing = con.execute("""
        WITH base AS (SELECT patient_id, min(study_date) AS d FROM imaging GROUP BY ALL),
        baseline_lesions AS (SELECT DISTINCT patient_id, lesion_id FROM lesions
            JOIN base USING (patient_id) WHERE study_date = d)
        SELECT count(*) FROM baseline_lesions bl JOIN imaging i USING (patient_id)
        WHERE NOT EXISTS (SELECT 1 FROM lesions l WHERE l.patient_id = bl.patient_id
            AND l.lesion_id = bl.lesion_id AND l.study_date = i.study_date)""").fetchone()
    assert missing == (0,)


def test_grades_mostly_follow_ki67_with_a_few_deliberate_disagreements(db):
    rows = db.execute("""
        SELECT who_grade, CASE WHEN ki67_pct::DOUBLE < 3 THEN 'G1'
            WHEN ki67_pct::DOUBLE <= 20 THEN 'G2' ELSE 'G3' END AS derived
        FROM patients WHERE who_grade IS NOT NULL AND ki67_pct IS NOT NULL""").fetchall()
    disagree = sum(given != derived for given, derived in rows)
    assert 0 < disagree < 0.15 * len(rows)


# --- formatting helpers (properties) ---------------------------------------------------


@given(st.lists(st.floats(-9999, 9999, allow_nan=False), min_size=1), st.integers(0, 3))
def test_fixed_writes_exactly_the_rounded_number(values, decimals):
    written = text.fixed(np.array(values), decimals).to_pylist()
    for value, s in zip(values, written, strict=True):
        expected = np.rint(value * 10**decimals) / 10**decimals
        assert float(s) == pytest.approx(expected, abs=1e-9)
        assert len(s.split(".")[1]) == decimals if decimals else "." not in s


@given(st.lists(st.integers(1, 255), min_size=1))
def test_segment_lists_name_exactly_the_mask_bits(masks):
    written = text.segment_list(np.array(masks)).to_pylist()
    for mask, s in zip(masks, written, strict=True):
        assert sum(1 << (int(seg) - 1) for seg in s.split(",")) == mask


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 25), st.integers(0, 2**31))
def test_any_small_cohort_is_deterministic_and_logs_real_rows(tmp_path_factory, patients, seed):
    folders = [tmp_path_factory.mktemp("h") for _ in range(2)]
    for folder in folders:
        generate(folder, patients=patients, seed=seed)
    assert folder_bytes(folders[0]) == folder_bytes(folders[1])
    # read_folder joins the log onto the rows: a log entry without its row would vanish.
    tables = read_folder(folders[0])
    log = pacsv.read_csv(folders[0] / SPOIL_LOG)
    assert log.num_rows == sum(t.num_rows - t["reason_code"].null_count for t in tables.values())
