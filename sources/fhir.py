"""HL7 FHIR R4 sources: Bulk Data ndjson files and Bundles, mapped onto the five contract datasets.

A FHIR export is read like any other source file: every value becomes text in
the contract's columns, with the file name and the record (the line of an
ndjson file, the 1-based entry of a Bundle) as lineage, and staging does all
typing, so a date that is not a date gets ``bad_date`` as it would in a CSV.
Only what cannot become a contract row at all is rejected here, with the
reason codes the SDTM adapter uses for the same problems: a line that is not a
JSON resource (``malformed_row``), a resource without a Patient subject
(``no_subject``), an Observation that is neither a tumour size nor a lab result
(``unmapped_test_code``), a tumour-size component in a length unit that is not
configured (``unmapped_unit``).

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
Bundle, the ``fullUrl`` of a Patient entry; a Patient without ``id`` gets an
empty patient_id, which staging quarantines as ``missing_required``.

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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from config.params import TransformParams, sql_map
from sources import INPUT_COLUMNS, PATIENT_ID
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
VERSION = "1"  # bumped when the same files map differently (sources.adapters.fingerprint)
# Each line is parsed once, into this structure (json_transform): only the elements the
# mapping reads; scalars as text (a number keeps its JSON text, a boolean is true/false),
# an element of another shape than expected becomes NULL.
_V = "VARCHAR"
_CODING = [{"system": _V, "code": _V, "display": _V}]
_CONCEPT = {"text": _V, "coding": _CODING}
_QUANTITY = {"value": _V, "comparator": _V, "unit": _V, "system": _V, "code": _V}
_VALUE_KINDS = (
    "valueString",
    "valueCode",
    "valueBoolean",
    "valueDecimal",
    "valueInteger",
    "valueDate",
    "valueDateTime",
)
STRUCTURE = {
    "resourceType": _V,
    "id": _V,
    "gender": _V,
    "birthDate": _V,
    "deceasedDateTime": _V,
    "subject": {"reference": _V},
    "performedDateTime": _V,
    "performedString": _V,
    "performedPeriod": {"start": _V},
    "started": _V,
    "effectiveDateTime": _V,
    "effectiveInstant": _V,
    "effectivePeriod": {"start": _V},
    "code": _CONCEPT,
    "category": [_CONCEPT],
    "identifier": [{"value": _V}],
    "modality": _CODING,
    "focus": [{"reference": _V, "display": _V, "identifier": {"value": _V}}],
    "bodySite": _CONCEPT,
    "component": [{"code": _CONCEPT, "valueQuantity": _QUANTITY, "valueString": _V}],
    "valueQuantity": _QUANTITY,
    "valueString": _V,
    "extension": [{"url": _V, **{kind: _V for kind in _VALUE_KINDS}}],
}
#: ndjson files are read this many bytes at a time (whole lines), so memory stays bounded.
BLOCK_BYTES = 64 << 20


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


def _source_error(message: str) -> Exception:
    from sources import SourceError  # sources imports the adapters' seam, not this module

    return SourceError(message)


def _ndjson_blocks(path: Path, name: str) -> Iterator[pa.Table]:
    """(source_row, line, full_url) of whole lines, BLOCK_BYTES at a time; line numbers 1-based."""
    first = 1
    rest = b""
    try:
        with path.open("rb") as fh:
            while True:
                chunk = fh.read(BLOCK_BYTES)
                data = rest + chunk
                if not chunk:
                    rest = b""
                else:
                    cut = data.rfind(b"\n") + 1
                    data, rest = data[:cut], data[cut:]
                if first == 1 and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                if data:
                    lines = _split_lines(data, name)
                    yield pa.table(
                        {
                            "source_row": pa.array(range(first, first + len(lines)), pa.int64()),
                            "line": lines,
                            "full_url": pa.nulls(len(lines), pa.string()),
                        }
                    )
                    first += len(lines)
                if not chunk:
                    return
    except OSError as exc:
        raise _source_error(f"file {name} cannot be read: {exc.strerror}") from None


def _split_lines(data: bytes, name: str) -> pa.Array:
    """The lines of a block of whole lines, split in Arrow (UTF-8 checked, CR of CRLF dropped)."""
    try:
        text = pa.array([data], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        raise _source_error(
            f"file {name} is not valid UTF-8 (FHIR is always UTF-8); nothing was loaded from it"
        ) from None
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    if data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    return pc.utf8_rtrim(lines, "\r").cast(pa.string())


def _bundle_entries(path: Path, name: str) -> pa.Table:
    """(source_row, line, full_url) of a Bundle's entries; source_row is the 1-based entry.

    A ``.json`` file holding one resource is one record (source_row 1); one without a
    resourceType (a Bulk Data manifest) holds none and is logged as not read.
    """
    try:
        text = decode(path, name, "")
    except FileError as exc:
        raise _source_error(str(exc)) from None
    con = duckdb.connect(":memory:")
    try:
        # The file's text is data, not a parameter: bound once, read by the queries below.
        con.execute("SET VARIABLE doc = ?", [text])
        if not con.sql("SELECT json_valid(getvariable('doc'))").fetchall()[0][0]:
            raise _source_error(f"file {name} is not valid JSON; nothing was loaded from it")
        kind = con.sql("SELECT getvariable('doc')::JSON->>'resourceType'").fetchall()[0][0]
        if kind is None:
            # A Bulk Data manifest ({"transactionTime", "output": […]}) or other JSON: no record.
            log.warning("%s: not a FHIR resource or Bundle (no resourceType); not read", name)
            return pa.table(
                {
                    "source_row": pa.array([], pa.int64()),
                    "line": pa.array([], pa.string()),
                    "full_url": pa.array([], pa.string()),
                }
            )
        if kind != "Bundle":  # a single resource: one record
            return pa.table(
                {
                    "source_row": pa.array([1], pa.int64()),
                    "line": pa.array([text], pa.string()),
                    "full_url": pa.nulls(1, pa.string()),
                }
            )
        return con.sql(
            """
            SELECT i::BIGINT AS source_row, (es[i]->'resource')::VARCHAR AS line,
                   es[i]->>'fullUrl' AS full_url
            FROM (SELECT CAST(coalesce(getvariable('doc')::JSON->'entry', '[]') AS JSON[]) AS es),
                 LATERAL (SELECT unnest(range(1, len(es) + 1)) AS i)
            """
        ).to_arrow_table()
    finally:
        con.close()


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sql_params(fhir: Mapping[str, Any]) -> TransformParams:
    """The variables the mapping's SQL reads, from ``cfg.section("fhir")``.

    Parameters reach SQL one way (as in the transforms): DuckDB variables, never text
    pasted into a query. Code tables are MAPs; ``extensions`` is a struct (dataset ->
    contract column -> URL suffix), read by the column's name; the codes of the lesion
    components are a list in config order, read by position (``_dataset_sql``).
    ``structure`` is not configuration: it is the shape json_transform parses each
    resource into (STRUCTURE).
    """
    return TransformParams(
        NAME,
        {
            "gender": sql_map(fhir["gender"]),
            "dicom": sql_map(fhir["imaging_modality"]),
            "procedures": sql_map(fhir["procedure_modality"]),
            "body_sites": sql_map(fhir["body_site"]),
            "tumor_codes": [str(c) for c in fhir["tumor_size_codes"]],
            "lab_category": str(fhir["lab_category"]),
            "loinc": str(fhir["loinc_system"]),
            "ucum": str(fhir["ucum_system"]),
            "ext_base": str(fhir["extension_base"]),
            "extensions": {
                str(dataset): {str(col): str(suffix) for col, suffix in columns.items()}
                for dataset, columns in fhir["extensions"].items()
            },
            "lesion_component_codes": [str(key) for key in fhir["lesion_components"]],
            "length_to_mm": sql_map(
                fhir["length_to_mm"],
                lambda pair: {"multiply": float(pair[0]), "divide": float(pair[1])},
            ),
            "validate_max_bytes": int(fhir["validate_max_bytes"]),
            "structure": json.dumps(STRUCTURE),
        },
    )


def _macros(con: duckdb.DuckDBPyConnection, fhir: Mapping[str, Any]) -> None:
    """The mapping's variables, and the helpers the mapping uses on a parsed resource."""
    sql_params(fhir).bind(con)
    values = ", ".join(f"e.{kind}" for kind in _VALUE_KINDS)
    con.execute(
        f"""
        CREATE MACRO fhir_text(x) AS nullif(trim(x), '');
        CREATE MACRO ext_text(r, url) AS list_transform(
            list_filter(r.extension, lambda e: e.url = getvariable('ext_base') || url),
            lambda e: coalesce({values}))[1];
        CREATE MACRO coding_keys(cc) AS
            list_transform(cc.coding, lambda c: c.system || '|' || c.code);
        CREATE MACRO mapped_code(cc, m) AS list_filter(
            list_transform(coding_keys(cc), lambda k: m[k]), lambda v: v IS NOT NULL)[1];
        CREATE MACRO loinc_code(cc) AS list_transform(
            list_filter(cc.coding, lambda c: c.system = getvariable('loinc')), lambda c: c.code)[1];
        CREATE MACRO patient_ref(r) AS
            nullif(regexp_extract(r.subject.reference, '(^|/)Patient/([^/]+)$', 2), '');
        CREATE MACRO has_category(r, code) AS coalesce(list_contains(flatten(list_transform(
            r.category, lambda c: list_transform(c.coding, lambda x: x.code))), code), FALSE);
        CREATE MACRO length_unit(q) AS coalesce(q.code, q.unit, '');
        -- A length in mm: the text as written when the factor is 1/1 (or not a number).
        CREATE MACRO in_mm(raw, f) AS CASE
            WHEN f IS NULL THEN NULL
            WHEN f.multiply = 1 AND f.divide = 1 THEN raw
            ELSE coalesce(CAST(TRY_CAST(raw AS DOUBLE) * f.multiply / f.divide AS VARCHAR), raw)
        END;
        CREATE TEMP TABLE routed (
            source_row BIGINT, r {_struct_type(con)}, bundle_patient VARCHAR,
            dataset VARCHAR, resource_type VARCHAR);
        CREATE TEMP TABLE sample (source_row BIGINT, line VARCHAR);
        """
    )


def _struct_type(con: duckdb.DuckDBPyConnection) -> str:
    """The SQL type json_transform gives STRUCTURE (to declare the routed table)."""
    return con.sql("SELECT typeof(json_transform('{}', getvariable('structure')))").fetchall()[0][0]


_ROUTE_SQL = """
INSERT INTO routed
SELECT p.source_row, p.r, {bundle_patient},
    CASE
        WHEN p.r IS NULL OR p.r.resourceType IS NULL THEN 'malformed'
        WHEN p.r.resourceType = 'Patient' THEN 'patients'
        WHEN p.r.resourceType = 'Procedure' THEN 'sessions'
        WHEN p.r.resourceType = 'ImagingStudy' THEN 'imaging'
        WHEN p.r.resourceType <> 'Observation' THEN 'other'
        WHEN list_contains(getvariable('tumor_codes'), loinc_code(p.r.code)) THEN 'lesions'
        WHEN has_category(p.r, getvariable('lab_category')) THEN 'labs'
        ELSE 'unmapped'
    END,
    p.r.resourceType
FROM (SELECT source_row, full_url, try(json_transform(line, getvariable('structure'))) AS r
      FROM lines WHERE trim(line, ' \t\r') <> '') AS p
{join};
"""


def _dataset_sql(fhir: Mapping[str, Any]) -> dict[str, str]:
    """The SELECT that turns the parsed resources of a dataset into contract text columns."""

    def exts(dataset: str) -> dict[str, str]:
        """The contract columns an extension fills (its URL suffix: ``extensions``)."""
        return {
            col: f"fhir_text(ext_text(r, getvariable('extensions').{dataset}.\"{col}\"))"
            for col in fhir["extensions"].get(dataset, {})
            if col in (PATIENT_ID, *INPUT_COLUMNS[dataset])
        }

    subject = "coalesce(patient_ref(r), bundle_patient)"
    columns: dict[str, dict[str, str]] = {
        "patients": {
            "patient_id": "fhir_text(r.id)",
            "sex": "coalesce(getvariable('gender')[r.gender], fhir_text(r.gender))",
            "birth_year": "coalesce(nullif(regexp_extract(r.birthDate, '^(\\d{4})', 1), ''), "
            "fhir_text(r.birthDate))",
            "death_date": "fhir_text(r.deceasedDateTime)",
            **exts("patients"),
        },
        "sessions": {
            "patient_id": subject,
            "session_date": "fhir_text(coalesce(r.performedDateTime, r.performedPeriod.start, "
            "r.performedString))",
            "modality": "coalesce(mapped_code(r.code, getvariable('procedures')), "
            "fhir_text(r.code.text), fhir_text(r.code.coding[1].display))",
            "session_id": "fhir_text(r.identifier[1].value)",
            **exts("sessions"),
        },
        "imaging": {
            "patient_id": subject,
            "study_date": "fhir_text(r.started)",
            "modality": "coalesce(getvariable('dicom')[r.modality[1].code], "
            "fhir_text(r.modality[1].code))",
            **exts("imaging"),
        },
        "lesions": {
            "patient_id": subject,
            "study_date": "fhir_text(coalesce(r.effectiveDateTime, r.effectivePeriod.start))",
            "lesion_id": "fhir_text(coalesce(r.focus[1].identifier.value, r.focus[1].display, "
            "regexp_extract(r.focus[1].reference, '([^/]+)$', 1)))",
            "organ": "coalesce(mapped_code(r.bodySite, getvariable('body_sites')), "
            "fhir_text(r.bodySite.text))",
            **exts("lesions"),
        },
        "labs": {
            "patient_id": subject,
            "collected_at": "fhir_text(coalesce(r.effectiveDateTime, r.effectivePeriod.start, "
            "r.effectiveInstant))",
            "test": "coalesce(loinc_code(r.code), fhir_text(r.code.text))",
            "value": "fhir_text(coalesce(coalesce(r.valueQuantity.comparator, '') "
            "|| r.valueQuantity.value, r.valueString, ext_text(r, 'original-value')))",
            "unit": "fhir_text(CASE WHEN r.valueQuantity.system = getvariable('ucum') "
            "AND r.valueQuantity.code IS NOT NULL THEN r.valueQuantity.code "
            "ELSE r.valueQuantity.unit END)",
        },
    }
    # Lesion sizes: the component of each configured code (c_<column>), lengths in mm
    # (in_mm); the i-th code of fhir.lesion_components is lesion_component_codes[i].
    components = []
    unit_checks = []
    for i, col in enumerate(fhir["lesion_components"].values(), start=1):
        comp = f"c_{col}"
        components.append(
            f"list_filter(r.component, lambda c: list_contains(coding_keys(c.code), "
            f"getvariable('lesion_component_codes')[{i}]))[1] AS {comp}"
        )
        raw = f"fhir_text(coalesce({comp}.valueQuantity.value, {comp}.valueString))"
        if not col.endswith("_mm"):
            columns["lesions"][col] = raw
            continue
        unit = f"length_unit({comp}.valueQuantity)"
        columns["lesions"][col] = (
            f"CASE WHEN {comp}.valueQuantity.value IS NULL THEN {raw} "
            f"ELSE in_mm({raw}, getvariable('length_to_mm')[{unit}]) END"
        )
        unit_checks.append(
            f"CASE WHEN {comp}.valueQuantity.value IS NOT NULL AND NOT map_contains("
            f"getvariable('length_to_mm'), {unit}) THEN '{col}' END"
        )
    sources = {d: "routed" for d in columns}
    sources["lesions"] = f"(SELECT *, {', '.join(components)} FROM routed)"
    selects = {}
    for dataset, exprs in columns.items():
        ordered = [PATIENT_ID, *INPUT_COLUMNS[dataset]]
        cols = ", ".join(f"{exprs.get(c, 'NULL::VARCHAR')} AS {c}" for c in ordered)
        selects[dataset] = (
            f"SELECT {cols}, source_row FROM {sources[dataset]} WHERE dataset = '{dataset}'"
        )
    # Lesion rows whose measured components carry a length unit that is not configured.
    selects["lesion_bad_unit"] = (
        f"SELECT source_row, coalesce({', '.join(unit_checks) or 'NULL'}) AS column_name "
        f"FROM {sources['lesions']} WHERE dataset = 'lesions'"
    )
    return selects


def _read_file(path: Path, name: str, fhir: Mapping[str, Any]) -> list[Mapped]:
    is_bundle = not name.lower().endswith(".ndjson")
    con = duckdb.connect(":memory:")
    try:
        _macros(con, fhir)
        blocks = [_bundle_entries(path, name)] if is_bundle else _ndjson_blocks(path, name)
        sample = int(fhir["validate_sample"])
        for block in blocks:
            con.register("lines", block)
            if is_bundle:
                # References to a Patient entry's fullUrl (urn:uuid:…) resolve inside a Bundle.
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE bundle_patients AS "
                    "SELECT full_url, json_extract_string(line, '$.id') AS patient_id "
                    "FROM lines WHERE full_url IS NOT NULL "
                    "AND json_extract_string(line, '$.resourceType') = 'Patient'"
                )
                con.execute(
                    _ROUTE_SQL.format(
                        bundle_patient="bp.patient_id",
                        join="LEFT JOIN bundle_patients AS bp "
                        "ON bp.full_url = p.r.subject.reference",
                    )
                )
            else:
                con.execute(_ROUTE_SQL.format(bundle_patient="NULL", join=""))
            missing = sample - con.sql("SELECT count(*) FROM sample").fetchall()[0][0]
            if missing > 0:
                con.execute(
                    "INSERT INTO sample SELECT l.source_row, l.line FROM lines AS l "
                    "JOIN routed AS r USING (source_row) WHERE r.dataset <> 'malformed' "
                    "AND strlen(l.line) <= getvariable('validate_max_bytes') "
                    "ORDER BY l.source_row LIMIT ?",
                    [missing],
                )
            con.unregister("lines")
        out = _mapped(con, name, is_bundle, fhir)
        _validate(con, name)
        return out
    finally:
        con.close()


def _mapped(
    con: duckdb.DuckDBPyConnection, name: str, is_bundle: bool, fhir: Mapping[str, Any]
) -> list[Mapped]:
    """The routed resources of one file as one Mapped per dataset, rejections included."""
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
               '{what} ' || source_row || ' is not a JSON object with a resourceType' AS reason
        FROM routed WHERE dataset = 'malformed'
        UNION ALL
        SELECT 'labs', source_row, 'unmapped_test_code', 'test',
               'Observation: neither a tumour size (a code of fhir.tumor_size_codes) nor '
               || 'a lab result (category fhir.lab_category)'
        FROM routed WHERE dataset = 'unmapped'
        UNION ALL
        SELECT dataset, source_row, 'no_subject', 'patient_id',
               resource_type || ': no subject that references a Patient'
        FROM routed
        WHERE dataset IN ('sessions', 'imaging', 'lesions', 'labs')
          AND coalesce(patient_ref(r), bundle_patient) IS NULL
        UNION ALL
        SELECT 'lesions', source_row, 'unmapped_unit', column_name,
               column_name || ': the component''s length unit is not one of fhir.length_to_mm'
        FROM lesion_bad_unit
        WHERE source_row NOT IN (
            SELECT source_row FROM routed WHERE dataset = 'lesions'
              AND coalesce(patient_ref(r), bundle_patient) IS NULL)
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
            "WHERE source_row NOT IN (SELECT source_row FROM rejected) "
            "ORDER BY source_row"
        ).to_arrow_table()
        rejected = con.sql(
            f"SELECT {', '.join(REJECTED_COLUMNS)} FROM rejected "
            f"WHERE dataset = '{dataset}' ORDER BY source_row"
        ).to_arrow_table()
        table = _as_text(table, dataset)
        out.append(
            Mapped(
                dataset=dataset,
                name=name,
                table=table,
                rows_read=table.num_rows + rejected.num_rows,
                rejected=rejected.cast(REJECTED_SCHEMA),
            )
        )
    return out


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


def _validate(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Advisory R4 validation of the sample (see the module notes); logs findings per file."""
    rows = con.sql("SELECT line FROM sample ORDER BY source_row").fetchall()
    if not rows:
        return
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:  # pragma: no cover - fhir.resources is a declared dependency
        log.warning("%s: fhir.resources is not installed; no FHIR validation", name)
        return
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
