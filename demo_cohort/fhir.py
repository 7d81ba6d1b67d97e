"""The demo cohort as HL7 FHIR R4 Bulk Data ndjson: one resource per contract row.

The writer takes a dataset's rows in file order (spoiled rows included) and
builds every resource in DuckDB SQL (``json_merge_patch`` drops the empty
elements), one line each, so the ndjson line of a resource is the CSV data
row of the same record and ``_generator/spoiled_rows.csv`` holds for both
forms. ``sources/fhir.py`` reads the files back; both follow the mapping of
``config/fhir.toml``. How spoiled values travel:

- a value of an extension that is not of its type (``maybe`` for a boolean,
  ``abc`` for a number) is a ``valueString``, which is valid FHIR;
- a session date that is not a date is ``performedString`` (valid FHIR);
- a lab value that is not a number is ``ext:original-value`` beside a
  ``valueQuantity`` that keeps the unit (valid FHIR);
- a study, lesion or lab date that is not a date stays in ``started`` /
  ``effectiveDateTime`` as written: JSON carries it, FHIR R4 does not allow it
  (the advisory validation reports it), and staging quarantines it as
  ``bad_date``, as it does in the CSV form.

A lab time without a zone is written with ``Z``: FHIR requires a zone with a
time, and the demo site's time zone (``ingest.timezone``) is UTC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from contract.inputs import BOOLEAN_COLUMNS, DATE_COLUMNS, NUMERIC_COLUMNS

RESOURCE_FILES = {
    "patients": "Patient",
    "sessions": "Procedure",
    "imaging": "ImagingStudy",
    "lesions": "Observation-tumor-size",
    "labs": "Observation-lab",
}
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def file_name(dataset: str, part: int) -> str:
    """``Patient_part001.ndjson`` …: the resource type first, as Bulk Data names its files."""
    return f"{RESOURCE_FILES[dataset]}_part{part:03d}.ndjson"


def _s(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _map(pairs: dict[str, str]) -> str:
    keys = ", ".join(_s(k) for k in pairs)
    values = ", ".join(_s(v) for v in pairs.values())
    return f"MAP([{keys}]::VARCHAR[], [{values}]::VARCHAR[])"


def _first_key_by_value(table: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        out.setdefault(value, key)
    return out


def _number(col: str) -> str:
    """A JSON number of a text column when it is one, else NULL."""
    return (
        f"CASE WHEN regexp_full_match(trim({col}), '-?(0|[1-9][0-9]*)(\\.[0-9]+)?') "
        f"THEN trim({col})::JSON END"
    )


def _extensions(dataset: str, fhir: dict[str, Any], booleans: dict[str, list[str]]) -> str:
    """The JSON list of a row's extensions, empty ones left out (NULL when none)."""
    base = fhir["extension_base"]
    items = []
    for col, suffix in fhir["extensions"].get(dataset, {}).items():
        url = _s(base + suffix)
        if col in BOOLEAN_COLUMNS[dataset]:
            true = _s_list(booleans["true"])
            false = _s_list(booleans["false"])
            value = (
                f"CASE WHEN list_contains({true}, lower(trim({col}))) "
                f"THEN json_object('url', {url}, 'valueBoolean', true) "
                f"WHEN list_contains({false}, lower(trim({col}))) "
                f"THEN json_object('url', {url}, 'valueBoolean', false) "
                f"ELSE json_object('url', {url}, 'valueString', {col}) END"
            )
        elif col in NUMERIC_COLUMNS[dataset]:
            value = (
                f"CASE WHEN {_number(col)} IS NOT NULL "
                f"THEN json_object('url', {url}, 'valueDecimal', {_number(col)}) "
                f"ELSE json_object('url', {url}, 'valueString', {col}) END"
            )
        elif col in DATE_COLUMNS[dataset]:
            value = (
                f"CASE WHEN regexp_full_match({col}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
                f"THEN json_object('url', {url}, 'valueDate', {col}) "
                f"ELSE json_object('url', {url}, 'valueString', {col}) END"
            )
        else:
            value = f"json_object('url', {url}, 'valueString', {col})"
        items.append(f"CASE WHEN {col} IS NOT NULL THEN {value} END")
    if not items:
        return "NULL"
    listed = f"list_filter([{', '.join(items)}], lambda e: e IS NOT NULL)"
    return f"CASE WHEN len({listed}) > 0 THEN to_json({listed}) END"


def _s_list(values: list[str]) -> str:
    return "[" + ", ".join(_s(v) for v in values) + "]::VARCHAR[]"


def _subject() -> str:
    return "json_object('reference', 'Patient/' || patient_id)"


def _resource_sql(dataset: str, cfg: dict[str, Any]) -> str:
    """SELECT ord, line: one JSON resource per row of the registered table ``rows``."""
    fhir, ingest, labs = cfg["fhir"], cfg["ingest"], cfg["labs"]
    ext = _extensions(dataset, fhir, ingest["booleans"])
    if dataset == "patients":
        gender = _map({v: k for k, v in reversed(list(fhir["gender"].items()))})
        body = (
            "'resourceType', 'Patient', 'id', patient_id, "
            f"'gender', {gender}[sex], 'birthDate', birth_year, "
            f"'deceasedDateTime', death_date, 'extension', {ext}"
        )
    elif dataset == "sessions":
        codes = _first_key_by_value(fhir["procedure_modality"])
        canonical = _map(ingest["modality_aliases"])
        code_of = _map(codes)
        key = "trim(regexp_replace(lower(modality), '[\\s_\\-]+', ' ', 'g'))"
        coded = f"{code_of}[coalesce({canonical}[{key}], modality)]"
        body = (
            "'resourceType', 'Procedure', 'status', 'completed', "
            f"'subject', {_subject()}, "
            "'performedDateTime', CASE WHEN regexp_full_match(session_date, "
            "'\\d{4}-\\d{2}-\\d{2}') THEN session_date END, "
            "'performedString', CASE WHEN NOT regexp_full_match(session_date, "
            "'\\d{4}-\\d{2}-\\d{2}') THEN session_date END, "
            "'code', json_object('coding', CASE WHEN coded IS NOT NULL THEN "
            "[json_object('system', split_part(coded, '|', 1), 'code', split_part(coded, '|', 2))] "
            "END, 'text', modality), "
            "'identifier', CASE WHEN session_id IS NOT NULL THEN "
            "[json_object('value', session_id)] END, "
            f"'extension', {ext}"
        )
        return (
            f"SELECT ord, json_merge_patch('{{}}', json_object({body}))::VARCHAR AS line "
            f"FROM (SELECT *, {coded} AS coded FROM rows) ORDER BY ord"
        )
    elif dataset == "imaging":
        dicom = _map(_first_key_by_value(fhir["imaging_modality"]))
        body = (
            "'resourceType', 'ImagingStudy', 'status', 'available', "
            f"'subject', {_subject()}, 'started', study_date, "
            f"'modality', [json_object('system', {_s(fhir['dicom_system'])}, "
            f"'code', coalesce({dicom}[modality], modality))], "
            f"'extension', {ext}"
        )
    elif dataset == "lesions":
        sites = _first_key_by_value(fhir["body_site"])
        comps = []
        for key, col in fhir["lesion_components"].items():
            system, code = key.split("|", 1)
            unit = "mm" if col.endswith("_mm") else "[hnsf'U]"
            quantity = (
                f"json_object('value', {_number(col)}, 'unit', {_s(unit)}, "
                f"'system', {_s(fhir['ucum_system'])}, 'code', {_s(unit)})"
            )
            comps.append(
                f"CASE WHEN {col} IS NOT NULL THEN json_object('code', json_object('coding', "
                f"[json_object('system', {_s(system)}, 'code', {_s(code)})]), "
                f"'valueQuantity', CASE WHEN {_number(col)} IS NOT NULL THEN {quantity} END, "
                f"'valueString', CASE WHEN {_number(col)} IS NULL THEN {col} END) END"
            )
        listed = f"list_filter([{', '.join(comps)}], lambda c: c IS NOT NULL)"
        site = f"{_map(sites)}[organ]"
        body = (
            "'resourceType', 'Observation', 'status', 'final', "
            f"'category', [json_object('coding', [json_object('system', {_s(CATEGORY_SYSTEM)}, "
            "'code', 'imaging')])], "
            f"'code', json_object('coding', [json_object('system', {_s(fhir['loinc_system'])}, "
            f"'code', {_s(fhir['tumor_size_codes'][0])})]), "
            f"'subject', {_subject()}, 'effectiveDateTime', study_date, "
            "'focus', [json_object('identifier', json_object('value', lesion_id))], "
            f"'bodySite', json_object('coding', CASE WHEN {site} IS NOT NULL THEN "
            f"[json_object('system', split_part({site}, '|', 1), "
            f"'code', split_part({site}, '|', 2))] END, 'text', organ), "
            f"'component', CASE WHEN len({listed}) > 0 THEN to_json({listed}) END, "
            f"'extension', {ext}"
        )
    else:  # labs
        aliases = labs["test_aliases"]
        loinc_of = {}
        for alias, analyte in aliases.items():
            if alias[:1].isdigit():
                loinc_of.setdefault(analyte, alias)
        test_loinc = {
            alias: (alias if alias[:1].isdigit() else loinc_of[analyte])
            for alias, analyte in aliases.items()
            if analyte in loinc_of
        }
        key = "lower(regexp_replace(trim(test), '\\s+', ' ', 'g'))"
        loinc = f"{_map(test_loinc)}[{key}]"
        parsed = (
            "regexp_extract(trim(value), '^(<=|>=|<|>)?\\s*(-?[0-9]+(\\.[0-9]+)?)$', [ 'c', 'n' ])"
        )
        ucum = f"{_map(fhir['ucum_codes'])}[unit]"
        zoned = (
            "CASE WHEN regexp_full_match(collected_at, "
            "'\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?') "
            "THEN collected_at || 'Z' ELSE collected_at END"
        )
        body = (
            "'resourceType', 'Observation', 'status', 'final', "
            f"'category', [json_object('coding', [json_object('system', {_s(CATEGORY_SYSTEM)}, "
            f"'code', {_s(fhir['lab_category'])})])], "
            f"'code', json_object('coding', CASE WHEN {loinc} IS NOT NULL THEN "
            f"[json_object('system', {_s(fhir['loinc_system'])}, 'code', {loinc})] END, "
            "'text', test), "
            f"'subject', {_subject()}, 'effectiveDateTime', {zoned}, "
            "'valueQuantity', json_object("
            "'value', CASE WHEN p.n <> '' THEN p.n::JSON END, "
            "'comparator', nullif(p.c, ''), 'unit', unit, "
            f"'system', CASE WHEN {ucum} IS NOT NULL THEN {_s(fhir['ucum_system'])} END, "
            f"'code', {ucum}), "
            "'extension', CASE WHEN p.n = '' AND value IS NOT NULL THEN "
            f"[json_object('url', {_s(fhir['extension_base'] + 'original-value')}, "
            "'valueString', value)] END"
        )
        return (
            f"SELECT ord, json_merge_patch('{{}}', json_object({body}))::VARCHAR AS line "
            f"FROM (SELECT *, {parsed} AS p FROM rows) ORDER BY ord"
        )
    return (
        f"SELECT ord, json_merge_patch('{{}}', json_object({body}))::VARCHAR AS line "
        "FROM rows ORDER BY ord"
    )


def write_ndjson(dataset: str, parts: list[pa.Table], path: Path, cfg: dict[str, Any]) -> None:
    """Write the rows (slices in file order) as one resource per line."""
    sql = _resource_sql(dataset, cfg)
    con = duckdb.connect(":memory:")
    try:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for part in parts:
                rows = part.append_column("ord", pa.array(range(part.num_rows), pa.int64()))
                con.register("rows", rows)
                lines = con.sql(sql).to_arrow_table().column("line").to_pylist()
                con.unregister("rows")
                if lines:
                    out.write("\n".join(lines))
                    out.write("\n")
    finally:
        con.close()
