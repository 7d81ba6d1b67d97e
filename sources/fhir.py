"""HL7 FHIR R4 sources: Bulk Data ndjson files and Bundles, mapped onto the five contract datasets.

A FHIR export is read like any other source file: every value becomes text in
the contract's columns, with the file name and the record (the line of an
ndjson file, the 1-based entry of a Bundle) as lineage, and staging does all
typing, so a date that is not a date gets ``bad_date`` as it would in a CSV.
Only what cannot become a contract row at all is rejected here, with a
reason code: a line that is not a JSON resource (``malformed_row``), an
Observation that is neither a tumour size nor a lab result (``unmapped_code``),
a tumour-size component in a length unit that is not configured
(``unknown_unit``).

The files are flattened set-wise in DuckDB (its JSON functions over all the
lines of a file at once), never resource by resource. Every code table is
data in ``config/fhir.toml`` (``params`` = ``cfg.section("fhir")``); the LOINC
codes of lab tests are ``labs.test_aliases``, the one table L1 reads anyway.

Mapping (``ext:x`` = the extension ``fhir.extension_base + x``, any value[x]):

- **Patient** → patients: ``id`` → patient_id (the logical id Bulk Data
  references use); ``gender`` → sex (``fhir.gender``); the year of
  ``birthDate`` → birth_year; ``deceasedDateTime`` → death_date; the other
  columns are ``fhir.extensions.patients``.
- **Procedure** → sessions: ``subject`` → patient_id; ``performedDateTime``
  (else ``performedPeriod.start``, ``performedString``) → session_date;
  ``code`` → modality by ``fhir.procedure_modality`` (else ``code.text``, else
  the first display, which staging reads with its aliases); the first
  ``identifier.value`` → session_id; the rest ``fhir.extensions.sessions``.
- **ImagingStudy** → imaging: ``subject``; ``started`` → study_date; the
  first ``modality`` (DICOM) → modality (``fhir.imaging_modality``); the rest
  ``fhir.extensions.imaging``.
- **Observation** with a LOINC code of ``fhir.tumor_size_codes`` (mCODE
  TumorSize, 21889-1) → lesions: ``effectiveDateTime`` → study_date; the lesion
  is the mCODE Tumor the observation is about, ``focus[0]``: its
  ``identifier.value`` (else ``display``, else the id of its reference) →
  lesion_id; ``bodySite`` (SNOMED, as mCODE's Tumor location) → organ
  (``fhir.body_site``, else ``bodySite.text``); the components of
  ``fhir.lesion_components`` → diameters (33728-7 longest, 33729-5 short axis,
  nelmtrack codes for the viable diameters and the attenuation), lengths
  converted to mm by ``fhir.length_to_mm``; role, status and liver segment
  are ``fhir.extensions.lesions`` (mCODE has no element for them).
- **Observation** in category ``laboratory`` → labs: ``effectiveDateTime`` →
  collected_at; the LOINC code (else ``code.text``) → test, which rule L1
  maps to its analyte with ``labs.test_aliases`` (the one LOINC table; a code
  it does not know is kept as reported, as in a CSV); ``valueQuantity`` → value (its
  ``comparator`` kept: ``<0.2``) and unit (the UCUM ``code``, else ``unit``);
  a ``valueString`` (or ``ext:original-value`` beside a valueQuantity without
  a value) is the value as written, which staging reads or quarantines.

Other resource types (Encounter, Condition, …) are not read; their number is
logged per file. References are ``Patient/<id>`` (any base URL) or, in a
Bundle, the ``fullUrl`` of a Patient entry. A resource without a usable
subject gets an empty patient_id, which staging quarantines as
``missing_required``.

Validation: ``fhir.resources`` (R4B models, which read R4) checks the first
``fhir.validate_sample`` resources of each file that are at most
``fhir.validate_max_bytes`` long. It is advisory: findings are counted and
logged per file (resource type and field path, never a value), because the
quarantine must not depend on which records a sample happened to contain;
bad values are quarantined by staging whatever the sample.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sources import INPUT_COLUMNS
from sources.adapters import REJECTED_SCHEMA, Mapped
from sources.files import FileError, decode

log = logging.getLogger(__name__)

#: The resource types read, and the dataset each feeds (Observation: two, by code).
RESOURCE_DATASETS = {
    "Patient": "patients",
    "Procedure": "sessions",
    "ImagingStudy": "imaging",
    "Observation": "labs",
}
REJECTED_COLUMNS = tuple(REJECTED_SCHEMA.names)
NAME = "fhir"  # the adapter's name and config section (config/fhir.toml)
_VALUE_PATHS = (
    "['$.valueString', '$.valueCode', '$.valueBoolean', '$.valueDecimal', '$.valueInteger', "
    "'$.valueDate', '$.valueDateTime', '$.valueQuantity.value']"
)


def claims(path: Path) -> bool:
    """Bulk Data files (``*.ndjson``) and Bundles (``*.json``) are FHIR sources."""
    suffix = path.name.lower()
    return suffix.endswith(".ndjson") or suffix.endswith(".json")


def read(paths: list[Path], root: Path, params: Mapping[str, Any]) -> list[Mapped]:
    """Every claimed file, mapped: one ``Mapped`` per (file, dataset) that has records.

    ``params`` is the ``fhir`` section of the configuration (config/fhir.toml).
    """
    out: list[Mapped] = []
    for path in sorted(paths):
        name = path.relative_to(root).as_posix()
        out += _read_file(path, name, params)
    return out


def _lines(path: Path, name: str) -> tuple[pa.Table, bool]:
    """(source_row, line) of an ndjson file, or of a Bundle's entries; and whether a Bundle."""
    try:
        text = decode(path, name, "")
    except FileError as exc:
        from sources import SourceError

        raise SourceError(str(exc)) from None
    if name.lower().endswith(".ndjson"):
        lines = text.replace("\r\n", "\n").split("\n")
        rows = pa.table(
            {
                "source_row": pa.array(range(1, len(lines) + 1), pa.int64()),
                "line": pa.array(lines, pa.string()),
            }
        )
        return rows, False
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET VARIABLE doc = ?", [text])
        if not con.sql("SELECT json_valid(getvariable('doc'))").fetchall()[0][0]:
            from sources import SourceError

            raise SourceError(f"file {name} is not valid JSON; nothing was loaded from it")
        kind = con.sql("SELECT getvariable('doc')::JSON->>'resourceType'").fetchall()[0][0]
        if kind != "Bundle":
            from sources import SourceError

            raise SourceError(
                f"file {name} is not a FHIR Bundle (resourceType {kind or 'missing'}); "
                "nothing was loaded from it"
            )
        rows = con.sql(
            """
            SELECT i::BIGINT AS source_row, (es[i]->'resource')::VARCHAR AS line,
                   es[i]->>'fullUrl' AS full_url
            FROM (SELECT CAST(coalesce(getvariable('doc')::JSON->'entry', '[]') AS JSON[]) AS es),
                 LATERAL (SELECT unnest(range(1, len(es) + 1)) AS i)
            """
        ).to_arrow_table()
        return rows, True
    finally:
        con.close()


def _macros(con: duckdb.DuckDBPyConnection, fhir: Mapping[str, Any]) -> None:
    """Code tables as DuckDB variables and the JSON helpers the mapping uses."""

    def as_map(table: Mapping[str, Any]) -> str:
        keys = [str(k) for k in table]
        values = [str(v) for v in table.values()]
        return f"MAP({_sql_list(keys)}, {_sql_list(values)})"

    base = fhir["extension_base"]
    con.execute(f"SET VARIABLE gender = {as_map(fhir['gender'])}")
    con.execute(f"SET VARIABLE dicom = {as_map(fhir['imaging_modality'])}")
    con.execute(f"SET VARIABLE procedures = {as_map(fhir['procedure_modality'])}")
    con.execute(f"SET VARIABLE body_sites = {as_map(fhir['body_site'])}")
    con.execute(f"SET VARIABLE tumor_codes = {_sql_list(list(fhir['tumor_size_codes']))}")
    con.execute(f"SET VARIABLE lab_category = {_sql_str(fhir['lab_category'])}")
    con.execute(f"SET VARIABLE loinc = {_sql_str(fhir['loinc_system'])}")
    con.execute(f"SET VARIABLE ucum = {_sql_str(fhir['ucum_system'])}")
    con.execute(f"SET VARIABLE ext_base = {_sql_str(base)}")
    con.execute(
        f"""
        CREATE MACRO ext_text(j, url) AS list_filter(json_extract_string(
            list_filter(CAST(coalesce(j->'extension', '[]') AS JSON[]),
                        lambda e: e->>'url' = getvariable('ext_base') || url)[1],
            {_VALUE_PATHS}), lambda v: v IS NOT NULL)[1];
        CREATE MACRO coding_keys(cc) AS list_transform(
            CAST(coalesce(cc->'coding', '[]') AS JSON[]),
            lambda c: (c->>'system') || '|' || (c->>'code'));
        CREATE MACRO mapped_code(cc, m) AS list_filter(
            list_transform(coding_keys(cc), lambda k: m[k]), lambda v: v IS NOT NULL)[1];
        CREATE MACRO loinc_code(cc) AS list_filter(
            CAST(coalesce(cc->'coding', '[]') AS JSON[]),
            lambda c: c->>'system' = getvariable('loinc'))[1]->>'code';
        CREATE MACRO patient_ref(j) AS
            nullif(regexp_extract(j->'subject'->>'reference', '(^|/)Patient/([^/]+)$', 2), '');
        CREATE MACRO fhir_text(x) AS nullif(trim(x), '');
        """
    )


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]::VARCHAR[]"


def _dataset_sql(fhir: Mapping[str, Any]) -> dict[str, str]:
    """The SELECT that turns the parsed resources of a dataset into contract text columns."""

    def exts(dataset: str) -> dict[str, str]:
        return {
            col: f"fhir_text(ext_text(j, {_sql_str(suffix)}))"
            for col, suffix in fhir["extensions"].get(dataset, {}).items()
        }

    def component(key: str) -> str:
        return (
            "list_filter(CAST(coalesce(j->'component', '[]') AS JSON[]), "
            f"lambda c: list_contains(coding_keys(c->'code'), {_sql_str(key)}))[1]"
        )

    subject = "coalesce(patient_ref(j), bundle_patient)"
    columns: dict[str, dict[str, str]] = {
        "patients": {
            "patient_id": "fhir_text(j->>'id')",
            "sex": "coalesce(getvariable('gender')[j->>'gender'], fhir_text(j->>'gender'))",
            "birth_year": "coalesce(nullif(regexp_extract(j->>'birthDate', '^(\\d{4})', 1), ''), "
            "fhir_text(j->>'birthDate'))",
            "death_date": "fhir_text(j->>'deceasedDateTime')",
            **exts("patients"),
        },
        "sessions": {
            "patient_id": subject,
            "session_date": "fhir_text(coalesce(j->>'performedDateTime', "
            "j->'performedPeriod'->>'start', j->>'performedString'))",
            "modality": "coalesce(mapped_code(j->'code', getvariable('procedures')), "
            "fhir_text(j->'code'->>'text'), fhir_text(j->'code'->'coding'->0->>'display'))",
            "session_id": "fhir_text(j->'identifier'->0->>'value')",
            **exts("sessions"),
        },
        "imaging": {
            "patient_id": subject,
            "study_date": "fhir_text(j->>'started')",
            "modality": "coalesce(getvariable('dicom')[j->'modality'->0->>'code'], "
            "fhir_text(j->'modality'->0->>'code'))",
            **exts("imaging"),
        },
        "lesions": {
            "patient_id": subject,
            "study_date": "fhir_text(coalesce(j->>'effectiveDateTime', "
            "j->'effectivePeriod'->>'start'))",
            "lesion_id": "fhir_text(coalesce(j->'focus'->0->'identifier'->>'value', "
            "j->'focus'->0->>'display', "
            "regexp_extract(j->'focus'->0->>'reference', '([^/]+)$', 1)))",
            "organ": "coalesce(mapped_code(j->'bodySite', getvariable('body_sites')), "
            "fhir_text(j->'bodySite'->>'text'))",
            **exts("lesions"),
        },
        "labs": {
            "patient_id": subject,
            "collected_at": "fhir_text(coalesce(j->>'effectiveDateTime', "
            "j->'effectivePeriod'->>'start', j->>'effectiveInstant'))",
            "test": "coalesce(loinc_code(j->'code'), fhir_text(j->'code'->>'text'))",
            "value": "fhir_text(coalesce(coalesce(j->'valueQuantity'->>'comparator', '') "
            "|| (j->'valueQuantity'->>'value'), j->>'valueString', "
            "ext_text(j, 'original-value')))",
            "unit": "fhir_text(CASE WHEN j->'valueQuantity'->>'system' = getvariable('ucum') "
            "AND j->'valueQuantity'->>'code' IS NOT NULL THEN j->'valueQuantity'->>'code' "
            "ELSE j->'valueQuantity'->>'unit' END)",
        },
    }
    # Lesion sizes: each configured component, its length converted to mm (attenuation as is).
    lengths = {u: v for u, v in fhir["length_to_mm"].items()}
    for key, col in fhir["lesion_components"].items():
        comp = component(key)
        if col.endswith("_mm"):
            cases = " ".join(
                f"WHEN {_sql_str(unit)} THEN CASE WHEN {mul} = 1 AND {div} = 1 THEN raw "
                f"ELSE coalesce(CAST(TRY_CAST(raw AS DOUBLE) * {mul} / {div} AS VARCHAR), raw) END"
                for unit, (mul, div) in lengths.items()
            )
            columns["lesions"][col] = (
                f"(SELECT CASE WHEN raw IS NULL THEN NULL ELSE CASE unit {cases} END END "
                f"FROM (SELECT fhir_text({comp}->'valueQuantity'->>'value') AS raw, "
                f"coalesce({comp}->'valueQuantity'->>'code', {comp}->'valueQuantity'->>'unit') "
                "AS unit))"
            )
        else:
            columns["lesions"][col] = f"fhir_text({comp}->'valueQuantity'->>'value')"
    selects = {}
    for dataset, exprs in columns.items():
        ordered = ["patient_id", *INPUT_COLUMNS[dataset]]
        cols = ", ".join(f"{exprs.get(c, 'NULL::VARCHAR')} AS {c}" for c in ordered)
        selects[dataset] = f"SELECT {cols}, source_row FROM routed WHERE dataset = '{dataset}'"
    # Rows whose components carry a length unit that is not configured.
    unit_checks = []
    for key, col in fhir["lesion_components"].items():
        if col.endswith("_mm"):
            comp = component(key)
            unit_checks.append(
                f"CASE WHEN {comp}->'valueQuantity'->>'value' IS NOT NULL AND NOT list_contains("
                f"{_sql_list(list(lengths))}, coalesce({comp}->'valueQuantity'->>'code', "
                f"{comp}->'valueQuantity'->>'unit', '')) THEN '{col}' END"
            )
    selects["lesion_bad_unit"] = (
        "SELECT source_row, coalesce("
        + ", ".join(unit_checks)
        + ") AS column_name FROM routed WHERE dataset = 'lesions'"
    )
    return selects


_ROUTE_SQL = """
CREATE TEMP TABLE parsed AS
SELECT source_row, full_url,
       CASE WHEN json_valid(line) AND json_type(line::JSON) = 'OBJECT' THEN line::JSON END AS j
FROM lines
WHERE trim(line) <> '';

CREATE TEMP TABLE bundle_patients AS
SELECT full_url, j->>'id' AS patient_id FROM parsed
WHERE full_url IS NOT NULL AND j->>'resourceType' = 'Patient';

CREATE TEMP TABLE routed AS
SELECT p.source_row, p.j, bp.patient_id AS bundle_patient,
    CASE
        WHEN p.j IS NULL OR p.j->>'resourceType' IS NULL THEN 'malformed'
        WHEN p.j->>'resourceType' = 'Patient' THEN 'patients'
        WHEN p.j->>'resourceType' = 'Procedure' THEN 'sessions'
        WHEN p.j->>'resourceType' = 'ImagingStudy' THEN 'imaging'
        WHEN p.j->>'resourceType' <> 'Observation' THEN 'other'
        WHEN list_contains(getvariable('tumor_codes'), loinc_code(p.j->'code')) THEN 'lesions'
        WHEN list_contains(list_transform(CAST(coalesce(p.j->'category', '[]') AS JSON[]),
                 lambda c: list_contains(list_transform(CAST(coalesce(c->'coding', '[]')
                     AS JSON[]), lambda x: x->>'code'), getvariable('lab_category'))), TRUE)
          THEN 'labs'
        ELSE 'unmapped'
    END AS dataset,
    p.j->>'resourceType' AS resource_type
FROM parsed AS p
LEFT JOIN bundle_patients AS bp
    ON bp.full_url = p.j->'subject'->>'reference';
"""


def _read_file(path: Path, name: str, fhir: Mapping[str, Any]) -> list[Mapped]:
    lines, is_bundle = _lines(path, name)
    if "full_url" not in lines.column_names:
        lines = lines.append_column("full_url", pa.nulls(lines.num_rows, pa.string()))
    con = duckdb.connect(":memory:")
    try:
        con.register("lines", lines)
        _macros(con, fhir)
        con.execute(_ROUTE_SQL)
        selects = _dataset_sql(fhir)
        counts = dict(con.sql("SELECT dataset, count(*) FROM routed GROUP BY ALL").fetchall())
        other = con.sql(
            "SELECT resource_type, count(*) FROM routed WHERE dataset = 'other' GROUP BY ALL"
        ).fetchall()
        if other:
            log.info(
                "%s: %s resource(s) of types nelmtrack does not read (%s)",
                name,
                sum(n for _, n in other),
                ", ".join(sorted(t for t, _ in other)),
            )
        mapped_counts = {d: n for d, n in counts.items() if d in INPUT_COLUMNS}
        what = "entry" if is_bundle else "line"
        con.execute(
            f"""
            CREATE TEMP TABLE lesion_bad_unit AS
            SELECT * FROM ({selects["lesion_bad_unit"]}) WHERE column_name IS NOT NULL;
            CREATE TEMP TABLE rejected AS
            SELECT {_sql_str(_home_dataset(name, mapped_counts))} AS dataset, source_row,
                   'malformed_row' AS reason_code, NULL::VARCHAR AS column_name,
                   '{what} ' || source_row || ' is not a JSON object with a resourceType'
                   AS reason
            FROM routed WHERE dataset = 'malformed'
            UNION ALL
            SELECT 'labs', source_row, 'unmapped_code', 'test',
                   'Observation: neither a tumour size (a code of fhir.tumor_size_codes) nor '
                   || 'a lab result (category fhir.lab_category)'
            FROM routed WHERE dataset = 'unmapped'
            UNION ALL
            SELECT 'lesions', source_row, 'unknown_unit', column_name,
                   column_name || ': the component''s length unit is not one of '
                   || 'fhir.length_to_mm'
            FROM lesion_bad_unit
            """
        )
        rejected_counts = dict(
            con.sql("SELECT dataset, count(*) FROM rejected GROUP BY ALL").fetchall()
        )
        out = []
        for dataset in INPUT_COLUMNS:
            if not mapped_counts.get(dataset) and not rejected_counts.get(dataset):
                continue
            table = con.sql(
                f"SELECT * FROM ({selects[dataset]}) "
                "WHERE source_row NOT IN (SELECT source_row FROM lesion_bad_unit) "
                "ORDER BY source_row"
            ).to_arrow_table()
            rejected_table = con.sql(
                f"SELECT {', '.join(REJECTED_COLUMNS)} FROM rejected "
                f"WHERE dataset = '{dataset}' ORDER BY source_row"
            ).to_arrow_table()
            table = _as_text(table, dataset)
            out.append(
                Mapped(
                    dataset=dataset,
                    name=name,
                    table=table,
                    rows_read=table.num_rows + rejected_table.num_rows,
                    rejected=rejected_table.cast(REJECTED_SCHEMA),
                )
            )
        _validate(con, name, fhir)
        return out
    finally:
        con.close()


def _as_text(table: pa.Table, dataset: str) -> pa.Table:
    """Contract text columns (an all-NULL column comes out of DuckDB typed NULL) + source_row."""
    cols = {c: table[c].cast(pa.string()) for c in ["patient_id", *INPUT_COLUMNS[dataset]]}
    cols["source_row"] = table["source_row"].cast(pa.int64())
    return pa.table(cols)


def _home_dataset(name: str, counts: Mapping[str, int]) -> str:
    """The dataset a malformed line is counted with: by the file name's resource type, else most."""
    stem = Path(name).name.split(".")[0].split("_")[0]
    if stem in RESOURCE_DATASETS and stem != "Observation":
        return RESOURCE_DATASETS[stem]
    if counts:
        return max(sorted(counts), key=lambda d: counts[d])
    return RESOURCE_DATASETS.get(stem, "patients")


def _validate(con: duckdb.DuckDBPyConnection, name: str, fhir: Mapping[str, Any]) -> None:
    """Advisory R4 validation of a sample (see the module notes); logs findings per file."""
    sample = int(fhir["validate_sample"])
    if sample <= 0:
        return
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:  # pragma: no cover - fhir.resources is a declared dependency
        log.warning("%s: fhir.resources is not installed; no FHIR validation", name)
        return
    rows = con.execute(
        "SELECT j::VARCHAR FROM routed WHERE j IS NOT NULL AND dataset <> 'other' "
        "AND strlen(j::VARCHAR) <= ? ORDER BY source_row LIMIT ?",
        [int(fhir["validate_max_bytes"]), sample],
    ).fetchall()
    findings: Counter[str] = Counter()
    for (text,) in rows:
        resource = json.loads(text)
        kind = resource.get("resourceType", "")
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except Exception as exc:  # pydantic ValidationError, KeyError for an unknown type
            findings[f"{kind}: {_first_field(exc)}"] += 1
    if findings:
        log.warning(
            "%s: %d of %d sampled resources are not valid FHIR R4 (%s); their values are "
            "typed and quarantined by staging",
            name,
            sum(findings.values()),
            len(rows),
            "; ".join(f"{k} ×{n}" for k, n in findings.most_common(5)),
        )


def _first_field(exc: Exception) -> str:
    """The field path of a validation error, never the value."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            return ".".join(str(p) for p in first.get("loc", ())) or type(exc).__name__
        except Exception:  # noqa: BLE001
            return type(exc).__name__
    return type(exc).__name__
