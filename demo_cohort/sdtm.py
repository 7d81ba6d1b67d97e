"""The demo cohort as CDISC SDTM domains (``nelmtrack generate --format sdtm``).

The cohort is generated in the input contract first (spoiled rows included),
then each part is rewritten, in DuckDB SQL, as the domains sources/sdtm.py
reads, with the inverse of its maps (config/sdtm.toml), so that the SDTM run
of a cohort gives the derived tables of its CSV run:

- ``dm_partNNN.csv``: one DM record per patient row; the contract's
  nelmtrack-specific variables (primary site, Ki-67, grade, …) as extra DM
  variables named as ``[sdtm.patient_variables]`` says;
- ``pr_partNNN.csv``: one PR record per session (PRTRT = modality as written,
  PRSPID = session id, territory, agent … as ``[sdtm.session_variables]``);
- ``tu_partNNN.csv``: one TU record per lesion (first row of the lesion);
- ``tr_partNNN.csv``: per lesion row, a TUMSTATE record and one record per
  measured size (LDIAM, LPERP, VIABDIAM, VIABPERP, ATTEN), with TRGRPID (role),
  TRLOC (organ) and LIVSEG on each record; per imaging study, its study-level
  records (EXTRAHEP, ASCITES, LVTMBURD, PVOCCL) with TRMETHOD. TRREFID names the
  contract row a record comes from, so exact copies and split-lesion fragments
  stay separate rows;
- ``lb_partNNN.csv``: one LB record per lab row (LBLOINC = the test as written,
  LBTESTCD its code when config/sdtm.toml has one).

A value the contract file spoiled is written as it is, so staging quarantines
it as in the CSV run. Differences, by design: a lesion or lab row without
patient or test is rejected by the adapter (``no_subject``,
``unmapped_test_code``) where staging says ``missing_required``. The SDTM run
needs ``sdtm.reference_date = []`` (every patient has its own sessions) and
``sdtm.organ_default = ""`` (an unknown organ is quarantined, as in the CSV run).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

from config import load_config
from demo_cohort.generator import GENERATOR_DIR, SPOIL_LOG, GenerationSummary, generate

# Roles and statuses as SDTM terms (inverse of [sdtm.role] and [sdtm.status]).
_ROLE_TERMS = {"target": "TARGET", "non_target": "NON-TARGET", "new": "NEW"}
_STATUS_TERMS = {
    "measured": "MEASURED",
    "too_small": "TOO SMALL TO MEASURE",
    "absent": "ABSENT",
    "coalesced": "COALESCED",
    "not_evaluated": "NOT EVALUABLE",
    "present": "PRESENT",
    "non_enhancing": "NON-ENHANCING",
    "progression": "UNEQUIVOCAL",
    "equivocal": "EQUIVOCAL",
}
_SIZE_TESTS = {
    "longest_diameter_mm": ("LDIAM", "mm"),
    "short_axis_mm": ("LPERP", "mm"),
    "viable_diameter_mm": ("VIABDIAM", "mm"),
    "viable_perpendicular_mm": ("VIABPERP", "mm"),
    "attenuation_hu": ("ATTEN", "HU"),
}
_STUDY_TESTS = {
    "extrahepatic_disease": "EXTRAHEP",
    "ascites": "ASCITES",
    "liver_tumor_burden_pct": "LVTMBURD",
    "portal_vein_occlusion": "PVOCCL",
}


def _inverse(mapping: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, target in mapping.items():
        out.setdefault(str(target), str(code))
    return out


def _terms(con: duckdb.DuckDBPyConnection, name: str, mapping: dict[str, str]) -> None:
    con.register(
        name,
        pa.table({"k": list(mapping), "term": [str(v) for v in mapping.values()]}),
    )


def _read(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT row_number() OVER () AS r, * "
        "FROM read_csv(?, all_varchar = true, header = true, parallel = false)",
        [str(path)],
    )


def _write(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO '{path}' (HEADER, DELIMITER ',')")


def write_sdtm(contract_dir: Path, out_dir: Path) -> list[str]:
    """Rewrite every ``<dataset>_partNNN.csv`` of ``contract_dir`` as SDTM domain files."""
    params = load_config().section("sdtm")
    con = duckdb.connect()
    _terms(con, "role_terms", _ROLE_TERMS)
    _terms(con, "status_terms", _STATUS_TERMS)
    _terms(con, "organ_terms", _inverse(params["organ"]))
    _terms(con, "lb_codes", _inverse(params["lb_tests"]))
    pv, sv = params["patient_variables"], params["session_variables"]
    segment = params["liver_segment_variable"]
    written = []
    for patients in sorted(contract_dir.glob("patients_part*.csv")):
        part = patients.stem.removeprefix("patients")
        for dataset in ("patients", "sessions", "imaging", "lesions", "labs"):
            _read(con, dataset, contract_dir / f"{dataset}{part}.csv")
        names = {d: f"{d}{part}.csv" for d in ("dm", "pr", "tu", "tr", "lb")}
        _write(
            con,
            f"""SELECT 'NELMTRACK' AS STUDYID, 'DM' AS DOMAIN, patient_id AS USUBJID,
                sex AS {pv["sex"]}, birth_year AS {pv["birth_year"]},
                death_date AS {pv["death_date"]}, last_contact_date AS {pv["last_contact_date"]},
                primary_site AS {pv["primary_site"]}, ki67_pct AS {pv["ki67_pct"]},
                who_grade AS {pv["who_grade"]}, functional AS {pv["functional"]},
                bilioenteric_anastomosis AS {pv["bilioenteric_anastomosis"]},
                prior_whipple AS {pv["prior_whipple"]}
            FROM patients ORDER BY r""",
            out_dir / names["dm"],
        )
        _write(
            con,
            f"""SELECT 'NELMTRACK' AS STUDYID, 'PR' AS DOMAIN, patient_id AS USUBJID,
                row_number() OVER (PARTITION BY patient_id ORDER BY r) AS PRSEQ,
                modality AS PRTRT, session_date AS PRSTDTC, session_id AS {sv["session_id"]},
                treated_territory AS {sv["treated_territory"]}, agent AS {sv["agent"]},
                microsphere AS {sv["microsphere"]}, activity_gbq AS {sv["activity_gbq"]},
                prior_systemic_lines AS {sv["prior_systemic_lines"]},
                lvef_pct AS {sv["lvef_pct"]}
            FROM sessions ORDER BY r""",
            out_dir / names["pr"],
        )
        _write(
            con,
            """SELECT 'NELMTRACK' AS STUDYID, 'TU' AS DOMAIN, patient_id AS USUBJID,
                row_number() OVER (PARTITION BY patient_id ORDER BY r) AS TUSEQ,
                lesion_id AS TULNKID, 'TUMIDENT' AS TUTESTCD,
                coalesce(rt.term, role) AS TUSTRESC, coalesce(o.term, organ) AS TULOC,
                'CT SCAN' AS TUMETHOD
            FROM (SELECT DISTINCT ON (patient_id, lesion_id) * FROM lesions
                  WHERE lesion_id IS NOT NULL ORDER BY patient_id, lesion_id, r) l
            LEFT JOIN role_terms rt ON rt.k = l.role
            LEFT JOIN organ_terms o ON o.k = l.organ
            ORDER BY r""",
            out_dir / names["tu"],
        )
        sizes = " UNION ALL ".join(
            f"SELECT r, 1 + {i} AS k, '{code}' AS TRTESTCD, {column} AS TRSTRESC, "
            f"'{unit}' AS TRSTRESU FROM lesions WHERE {column} IS NOT NULL"
            for i, (column, (code, unit)) in enumerate(_SIZE_TESTS.items())
        )
        study = " UNION ALL ".join(
            f"SELECT r, {i} AS k, '{code}' AS TRTESTCD, {column} AS TRSTRESC FROM imaging"
            for i, (column, code) in enumerate(_STUDY_TESTS.items())
        )
        _write(
            con,
            f"""WITH lesion_records AS (
                SELECT l.r, 0 AS k, 'TUMSTATE' AS TRTESTCD,
                    coalesce(st.term, l.status) AS TRSTRESC, NULL AS TRSTRESU
                FROM lesions l LEFT JOIN status_terms st ON st.k = l.status
                UNION ALL {sizes}
            ), records AS (
                SELECT 'L' || l.r AS TRREFID, l.r, x.k, 0 AS kind, l.patient_id AS USUBJID,
                    coalesce(rt.term, l.role) AS TRGRPID, l.lesion_id AS TRLNKID,
                    x.TRTESTCD, x.TRSTRESC, x.TRSTRESU, l.study_date AS TRDTC,
                    coalesce(o.term, l.organ) AS TRLOC, l.liver_segment AS {segment},
                    NULL AS TRMETHOD, l.study_date AS sort_date
                FROM lesion_records x JOIN lesions l USING (r)
                LEFT JOIN role_terms rt ON rt.k = l.role
                LEFT JOIN organ_terms o ON o.k = l.organ
                UNION ALL
                SELECT 'S' || i.r, i.r, x.k, 1, i.patient_id, NULL, NULL, x.TRTESTCD,
                    x.TRSTRESC, NULL, i.study_date, NULL, NULL, i.modality, i.study_date
                FROM ({study}) x JOIN imaging i USING (r)
            )
            SELECT 'NELMTRACK' AS STUDYID, 'TR' AS DOMAIN, USUBJID,
                row_number() OVER (PARTITION BY USUBJID ORDER BY kind DESC, r, k) AS TRSEQ,
                TRGRPID, TRLNKID, TRTESTCD, TRSTRESC, TRSTRESU, TRMETHOD, TRDTC, TRLOC,
                {segment}, TRREFID
            FROM records ORDER BY kind DESC, r, k""",
            out_dir / names["tr"],
        )
        _write(
            con,
            """SELECT 'NELMTRACK' AS STUDYID, 'LB' AS DOMAIN, patient_id AS USUBJID,
                row_number() OVER (PARTITION BY patient_id ORDER BY r) AS LBSEQ,
                c.term AS LBTESTCD, test AS LBLOINC, value AS LBORRES, unit AS LBORRESU,
                collected_at AS LBDTC
            FROM labs LEFT JOIN lb_codes c ON c.k = labs.test
            ORDER BY r""",
            out_dir / names["lb"],
        )
        written += list(names.values())
    con.close()
    return written


def generate_sdtm(
    out_dir: Path, patients: int = 200, seed: int = 42, id_style: str = "study"
) -> GenerationSummary:
    """The demo cohort of ``generate`` (same arguments, same patients), as SDTM domain files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*_part*.csv"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="nelmtrack-sdtm-") as tmp:
        summary = generate(Path(tmp), patients=patients, seed=seed, fmt="csv", id_style=id_style)
        files = write_sdtm(Path(tmp), out_dir)
        (out_dir / GENERATOR_DIR).mkdir(exist_ok=True)
        # the answer key names the contract rows the SDTM records were written from
        shutil.copyfile(Path(tmp) / SPOIL_LOG, out_dir / SPOIL_LOG)
    return GenerationSummary(
        out_dir=out_dir,
        patients=summary.patients,
        seed=seed,
        rows=summary.rows,
        spoiled=summary.spoiled,
        files=[*files, SPOIL_LOG],
    )
