"""ADRS and ADTTE in CDISC ADaM structure, read from a published warehouse.

Every value is taken from the warehouse; nothing is recomputed (the one
arithmetic step, ADT = STARTDT + AVAL for censored and death records, restates
the warehouse's own day count as a date):

- **ADRS** (one record per parameter): PARAMCD ``OVR`` per assessment from
  ``timepoint_responses`` (baseline rows, which have no response, are left out),
  ``BOR`` and ``CBOR`` per criteria and scope from ``best_responses`` (``bor``,
  ``bor_confirmed``). PARCAT3 names the criteria, SCOPE the scope (``course`` or
  a session id: nelmtrack assesses a response per course and per session).
  AVAL codes AVALC as admiralonco does (config/adam.toml). ADT: the assessment
  date for OVR; for CBOR a CR/PR, the first confirmed response date
  (``first_response_date``); BOR and other CBOR records have none, since the
  warehouse does not keep the date of the best response.
- **ADTTE**: PFS, TTP and DOR per criteria and scope from ``best_responses``
  (``pfs_days``/``pfs_event``, ``ttp_days`` with ``progression_date``,
  ``dor_days`` from ``first_response_date``), OS per patient from ``survival``
  when the warehouse has that table (``os_days``/``os_event``). STARTDT is the
  scope's start: the first session of the course, or the session. CNSR is 1
  for censored records; EVNTDESC/CNSDTDSC say what the date is.

USUBJID is the warehouse's ``patient_key`` (a pseudonym): the export, like
every artifact, never holds a source identifier. Each dataset is written as
Parquet and CSV, with define-like metadata (define.json, define.csv: every
variable's label, type and origin).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from config import Config
from config.params import TransformParams, sql_map
from warehouse import open_read_only

DATASET_LABELS = {
    "ADRS": "Tumor Response Analysis Dataset",
    "ADTTE": "Time-to-Event Analysis Dataset",
}
# Variable labels (ADaM IG 1.3, ADaMIG OCCDS/BDS; pharmaverse admiralonco naming).
LABELS = {
    "STUDYID": "Study Identifier",
    "USUBJID": "Unique Subject Identifier (nelmtrack patient_key, a pseudonym)",
    "ASEQ": "Analysis Sequence Number",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "PARCAT1": "Parameter Category 1",
    "PARCAT2": "Parameter Category 2",
    "PARCAT3": "Parameter Category 3 (response criteria)",
    "SCOPE": "Response Scope (course or session id)",
    "AVAL": "Analysis Value",
    "AVALC": "Analysis Value (C)",
    "ADT": "Analysis Date",
    "ANL01FL": "Analysis Flag 01",
    "STARTDT": "Time-to-Event Origin Date for Subject",
    "CNSR": "Censor",
    "EVNTDESC": "Event or Censoring Description",
    "CNSDTDSC": "Censor Date Description",
    "SRCDOM": "Source Data (warehouse table)",
    "SRCVAR": "Source Variable (warehouse column)",
}

ADRS_SQL = """
WITH records AS (
    SELECT patient_key, criteria, 'course' AS scope, 'OVR' AS paramcd, 1 AS param_order,
        study_date AS adt, overall_response AS avalc,
        'timepoint_responses' AS srcdom, 'overall_response' AS srcvar
    FROM timepoint_responses WHERE overall_response IS NOT NULL
    UNION ALL
    SELECT patient_key, criteria, scope, 'BOR', 2, NULL::DATE, bor,
        'best_responses', 'bor'
    FROM best_responses
    UNION ALL
    SELECT patient_key, criteria, scope, 'CBOR', 3,
        CASE WHEN bor_confirmed IN ('CR', 'PR') THEN first_response_date END, bor_confirmed,
        'best_responses', 'bor_confirmed'
    FROM best_responses
)
SELECT
    getvariable('study_id') AS STUDYID,
    r.patient_key AS USUBJID,
    row_number() OVER (PARTITION BY r.patient_key
                       ORDER BY r.param_order, r.criteria, r.scope, r.adt)::INTEGER AS ASEQ,
    r.paramcd AS PARAMCD,
    getvariable('param')[r.paramcd] AS PARAM,
    'Tumor Response' AS PARCAT1,
    getvariable('assessor') AS PARCAT2,
    coalesce(getvariable('criteria_label')[r.criteria], r.criteria) AS PARCAT3,
    r.scope AS SCOPE,
    getvariable('response_aval')[r.avalc]::DOUBLE AS AVAL,
    r.avalc AS AVALC,
    r.adt AS ADT,
    'Y' AS ANL01FL,
    r.srcdom AS SRCDOM,
    r.srcvar AS SRCVAR
FROM records r
ORDER BY USUBJID, ASEQ
"""

ADTTE_SQL = """
WITH starts AS (
    SELECT patient_key, 'course' AS scope, min(session_date) AS startdt
    FROM sessions GROUP BY patient_key
    UNION ALL
    SELECT patient_key, session_id, session_date FROM sessions
),
best AS (
    SELECT b.*, s.startdt FROM best_responses b
    JOIN starts s USING (patient_key, scope)
),
records AS (
    SELECT patient_key, criteria, scope, 'PFS' AS paramcd, 1 AS param_order, startdt,
        pfs_days AS aval, CASE WHEN pfs_event THEN 0 ELSE 1 END AS cnsr,
        CASE WHEN NOT pfs_event AND pfs_days = 0 THEN 'Start of Treatment'
             WHEN NOT pfs_event THEN 'Last Tumor Assessment'
             WHEN progression_date = startdt + pfs_days THEN 'Disease Progression'
             ELSE 'Death' END AS evntdesc,
        'best_responses' AS srcdom, 'pfs_days' AS srcvar
    FROM best
    UNION ALL
    SELECT patient_key, criteria, scope, 'TTP', 2, startdt, ttp_days,
        CASE WHEN progression_date IS NULL THEN 1 ELSE 0 END,
        CASE WHEN progression_date IS NOT NULL THEN 'Disease Progression'
             WHEN ttp_days = 0 THEN 'Start of Treatment'
             ELSE 'Last Tumor Assessment' END,
        'best_responses', 'ttp_days'
    FROM best
    UNION ALL
    SELECT patient_key, criteria, scope, 'DOR', 3, first_response_date, dor_days,
        CASE WHEN pfs_event THEN 0 ELSE 1 END,
        CASE WHEN NOT pfs_event THEN 'Last Tumor Assessment'
             WHEN progression_date = first_response_date + dor_days THEN 'Disease Progression'
             ELSE 'Death' END,
        'best_responses', 'dor_days'
    FROM best WHERE dor_days IS NOT NULL AND first_response_date IS NOT NULL
    {os_records}
)
SELECT
    getvariable('study_id') AS STUDYID,
    r.patient_key AS USUBJID,
    row_number() OVER (PARTITION BY r.patient_key
                       ORDER BY r.param_order, r.criteria, r.scope)::INTEGER AS ASEQ,
    r.paramcd AS PARAMCD,
    getvariable('param')[r.paramcd] AS PARAM,
    coalesce(getvariable('criteria_label')[r.criteria], r.criteria) AS PARCAT1,
    r.scope AS SCOPE,
    r.startdt AS STARTDT,
    (r.startdt + r.aval)::DATE AS ADT,
    r.aval::DOUBLE AS AVAL,
    r.cnsr::INTEGER AS CNSR,
    r.evntdesc AS EVNTDESC,
    CASE WHEN r.cnsr = 1 THEN r.evntdesc END AS CNSDTDSC,
    r.srcdom AS SRCDOM,
    r.srcvar AS SRCVAR
FROM records r
ORDER BY USUBJID, ASEQ
"""

OS_RECORDS = """
    UNION ALL
    SELECT patient_key, NULL, 'course', 'OS', 4, first_session_date, os_days,
        CASE WHEN os_event THEN 0 ELSE 1 END,
        CASE WHEN os_event THEN 'Death' ELSE 'Last Known Alive' END,
        'survival', 'os_days'
    FROM survival
"""


@dataclass(frozen=True)
class AdamExport:
    """What an export wrote: records per dataset, and the files."""

    records: dict[str, int]
    files: list[Path]


def _type_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_date(arrow_type):
        return "date"
    return "text"


def sql_params(section: Mapping[str, Any]) -> TransformParams:
    """The export's variables from ``cfg.section("adam")``: its codes and labels.

    Parameters reach SQL one way, as DuckDB variables; the code tables are MAPs the
    queries look a code up in (PARAM, PARCAT, AVAL).
    """
    return TransformParams(
        "adam",
        {
            "study_id": str(section["study_id"]),
            "assessor": str(section["assessor"]),
            "param": sql_map(section["param"]),
            "criteria_label": sql_map(section["criteria_label"]),
            "response_aval": sql_map(section["response_aval"], float),
        },
    )


def export_adam(db: Path, out_dir: Path, cfg: Config) -> AdamExport:
    """Write ADRS and ADTTE (Parquet and CSV) and their metadata into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    con = open_read_only(db)
    try:
        sql_params(cfg.section("adam")).bind(con)
        has_survival = bool(
            con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name = 'survival'"
            ).fetchall()[0][0]
        )
        tables = {
            "ADRS": con.sql(ADRS_SQL).to_arrow_table(),
            "ADTTE": con.sql(
                ADTTE_SQL.replace("{os_records}", OS_RECORDS if has_survival else "")
            ).to_arrow_table(),
        }
    finally:
        con.close()
    files: list[Path] = []
    define: dict[str, Any] = {"standard": "CDISC ADaM (define-like metadata)", "datasets": {}}
    for name, table in tables.items():
        stem = out_dir / name.lower()
        pq.write_table(table, stem.with_suffix(".parquet"))
        pacsv.write_csv(table, stem.with_suffix(".csv"))
        files += [stem.with_suffix(".parquet"), stem.with_suffix(".csv")]
        define["datasets"][name] = {
            "label": DATASET_LABELS[name],
            "records": table.num_rows,
            "variables": [
                {
                    "name": field.name,
                    "label": LABELS.get(field.name, field.name),
                    "type": _type_name(field.type),
                    "origin": "Derived (nelmtrack warehouse; SRCDOM/SRCVAR name the column)"
                    if field.name in ("AVAL", "AVALC", "ADT", "CNSR")
                    else "Assigned",
                }
                for field in table.schema
            ],
        }
    (out_dir / "define.json").write_text(json.dumps(define, indent=2) + "\n")
    with (out_dir / "define.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "variable", "label", "type", "origin"])
        for name, meta in define["datasets"].items():
            for var in meta["variables"]:
                writer.writerow([name, var["name"], var["label"], var["type"], var["origin"]])
    files += [out_dir / "define.json", out_dir / "define.csv"]
    return AdamExport(records={n: t.num_rows for n, t in tables.items()}, files=files)
