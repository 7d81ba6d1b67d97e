"""CDISC SDTM domain files (CSV, SAS XPT or Parquet) mapped onto the input contract.

The mapping is data (config/sdtm.toml, section ``[sdtm]``); this module holds
the joins, in DuckDB SQL over whole domains:

- **patients** from DM (plus SUPPDM qualifiers), one per USUBJID;
- **lesions** from TR joined with TU on the link id (TRLNKID = TULNKID, same
  subject and evaluator): one row per lesion, assessment date and TRREFID (when
  a sponsor gives one per record group, exact copies and split-lesion fragments
  stay apart). TRTESTCD says which column a result fills (``[sdtm.tr_tests]``:
  LDIAM longest diameter, LPERP short axis, a viable-diameter code…, TUMSTATE
  the status); SUPPTR QNAMs can fill the viable diameters too. The role comes
  from TRGRPID, else TUSTRESC; the organ from TRLOC, else TULOC; TRSTAT = NOT
  DONE makes the lesion not evaluated. Several TR records of one lesion row
  (LDIAM, LPERP, TUMSTATE, exact duplicates) make one row whose ``source_row``
  is the smallest of their TR rows;
- **imaging** studies from the study-level TR records (``[sdtm.imaging_tests]``:
  ascites, extrahepatic disease…) when a TR file has them, else from every TR
  date of the subject; TRMETHOD (else TUMETHOD) is the modality; lineage: the
  study's first TR row;
- **labs** from LB: the LOINC code (LBLOINC, else LBTESTCD through
  ``[sdtm.lb_tests]``) and the original (LBORRES/LBORRESU) or standard
  (LBSTRESC/LBSTRESU) result, as ``lab_result`` says;
- **sessions** from PR (and from EX records whose EXTRT is a listed
  procedure); a subject with tumour assessments and no session gets one
  *reference session* (``reference_date``: ADSL TRTSDT, first EX, DM RFXSTDTC,
  or the first assessment), so that its screening scan is the course
  baseline: the pharmaverse data have no locoregional treatment.

Dates: ``--DTC`` values are ISO 8601; a date-time keeps its time (labs), a
month-only TR date (``2014-01``) takes the full date of the same subject's
same visit in that month when there is one, else the month's first day
(SOURCE.md Q8). Values that do not map (an unknown role, status or method) are
passed on as text, so staging quarantines them with the contract's reason
codes; records that cannot be mapped at all are rejected here: no subject
(``no_subject``), a TRTESTCD or LBTESTCD outside the maps (``unmapped_test_code``),
a length unit outside ``[sdtm.length_units]`` (``unmapped_unit``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from config.params import TransformParams
from contract.reasons import ReasonCode
from sources.adapters import REJECTED_SCHEMA, Mapped

NAME = "sdtm"
VERSION = "5"  # sources.adapters.fingerprint: bump when the same files map differently
DOMAINS = ("dm", "suppdm", "tu", "supptu", "tr", "supptr", "lb", "pr", "supppr", "ex", "adsl")
_FILE_RE = re.compile(
    r"^(?P<domain>" + "|".join(DOMAINS) + r")(?P<suffix>_[^.]*)?\.(?P<fmt>csv|xpt|parquet)$",
    re.IGNORECASE,
)
# Variables the SQL names, present as null when a file lacks them.
_VARIABLES = {
    "dm": ("USUBJID", "SEX", "BRTHDTC", "DTHDTC", "RFPENDTC", "RFXSTDTC", "DMSEQ"),
    "tu": ("USUBJID", "TULNKID", "TUSTRESC", "TUORRES", "TULOC", "TUMETHOD", "TUEVAL", "TUEVALID"),
    "tr": (
        "USUBJID", "TRLNKID", "TRGRPID", "TRTESTCD", "TRSTRESC", "TRSTRESN", "TRSTRESU",
        "TRORRES", "TRORRESU", "TRSTAT", "TRMETHOD", "TREVAL", "TREVALID", "VISITNUM", "TRDTC",
        "TRSEQ", "TRLOC", "TRREFID",
    ),
    "lb": (
        "USUBJID", "LBTESTCD", "LBLOINC", "LBORRES", "LBORRESU", "LBSTRESC", "LBSTRESN",
        "LBSTRESU", "LBDTC", "LBSEQ",
    ),
    "pr": ("USUBJID", "PRTRT", "PRDECOD", "PRSTDTC", "PRSEQ"),
    "ex": ("USUBJID", "EXTRT", "EXSTDTC", "EXSEQ"),
    "adsl": ("USUBJID", "TRTSDT"),
}  # fmt: skip
_SUPP = ("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QVAL")


def claims(path: Path) -> bool:
    """An SDTM domain file: ``<domain>[_<anything>].csv|xpt|parquet`` (RS is not read)."""
    return bool(_FILE_RE.match(path.name))


def _as_text(table: pa.Table) -> pa.Table:
    """Every column as text, names upper-cased, empty text as null."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        values = pc.cast(column, pa.string())
        values = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
        columns[name.strip().upper()] = values
    return pa.table(columns)


def read_domain_file(path: Path) -> pa.Table:
    """One domain file as text columns plus ``source_row`` (1-based record number).

    A file that cannot be read at all stops the run with one line naming the file
    (never a value from it).
    """
    from sources import SourceError

    try:
        return _read_domain_file(path)
    except (OSError, ValueError, duckdb.Error, pa.ArrowException) as exc:
        raise SourceError(
            f"file {path.name} cannot be read as an SDTM {path.suffix.lstrip('.').upper()} "
            f"file ({type(exc).__name__}); nothing was loaded from it"
        ) from None
    except Exception as exc:  # pyreadstat's own errors (ReadstatError, PyreadstatError)
        if type(exc).__module__.startswith("pyreadstat"):
            raise SourceError(
                f"file {path.name} cannot be read as SAS XPT ({type(exc).__name__}); "
                "nothing was loaded from it"
            ) from None
        raise


def _read_domain_file(path: Path) -> pa.Table:
    fmt = path.suffix.lower()
    if fmt == ".xpt":
        import pyreadstat

        frame, _ = pyreadstat.read_xport(str(path))
        table = pa.Table.from_pandas(frame, preserve_index=False)
    elif fmt == ".parquet":
        table = pq.read_table(path)
    else:
        con = duckdb.connect()
        try:
            table = con.sql(
                "SELECT * FROM read_csv(?, all_varchar = true, header = true)",
                params=[str(path)],
            ).to_arrow_table()
        finally:
            con.close()
    table = _as_text(table)
    return table.append_column("source_row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def _pairs(mapping: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"code": str(k), "target": str(v)} for k, v in mapping.items()]


def sql_params(params: Mapping[str, Any]) -> TransformParams:
    """The variables the mapping's SQL reads, from ``cfg.section("sdtm")``.

    Parameters reach SQL one way (as in the transforms): DuckDB variables, never text
    pasted into a query. The code tables travel as lists of structs (``_TABLES`` makes
    them relations). Settings that name SDTM variables (``liver_segment_variable``,
    ``patient_variables``, ``session_variables``, the SUPP-- QNAMs) are columns of the
    query, not values; ``reference_date`` and ``lab_result`` choose which joins and
    which columns it has.
    """
    status = [
        {"role": str(role), "code": str(code), "target": str(target)}
        for role, mapping in params["status"].items()
        for code, target in mapping.items()
    ]
    procedures = {str(k).lower(): v for k, v in params["procedure_modality"].items()}
    return TransformParams(
        NAME,
        {
            "readers": str(params["readers"]),
            "evaluators": [str(e) for e in params["evaluators"]],
            "organ_default": str(params["organ_default"]),
            "reference_modality": str(params["reference_modality"]),
            "reference_territory": str(params["reference_territory"]),
            "map_tr_test": _pairs(params["tr_tests"]),
            "map_supptr": _pairs(params["supptr"]),
            "map_imaging_test": _pairs(params["imaging_tests"]),
            "map_role": _pairs(params["role"]),
            "map_organ": _pairs(params["organ"]),
            "map_method": _pairs(params["method"]),
            "map_lb_test": _pairs(params["lb_tests"]),
            "map_procedure": _pairs(procedures),
            "map_length_unit": [
                {"code": str(k), "factor": float(v)} for k, v in params["length_units"].items()
            ],
            "map_status": status,
            "ignored_tests": [{"code": str(c)} for c in params["ignored_tr_tests"]],
        },
    )


# The relation each code table becomes (typed: a table of the config may be empty).
_TABLES = {
    "map_tr_test": "code VARCHAR, target VARCHAR",
    "map_supptr": "code VARCHAR, target VARCHAR",
    "map_imaging_test": "code VARCHAR, target VARCHAR",
    "map_role": "code VARCHAR, target VARCHAR",
    "map_organ": "code VARCHAR, target VARCHAR",
    "map_method": "code VARCHAR, target VARCHAR",
    "map_lb_test": "code VARCHAR, target VARCHAR",
    "map_procedure": "code VARCHAR, target VARCHAR",
    "map_length_unit": "code VARCHAR, factor DOUBLE",
    "map_status": "role VARCHAR, code VARCHAR, target VARCHAR",
    "ignored_tests": "code VARCHAR",
}


class _Session:
    """A private DuckDB holding the domains of one read, each file tagged ``_file``."""

    def __init__(self, paths: list[Path], root: Path) -> None:
        self.con = duckdb.connect()
        self.files: dict[str, list[str]] = {d: [] for d in DOMAINS}
        tables: dict[str, list[pa.Table]] = {d: [] for d in DOMAINS}
        for path in paths:
            match = _FILE_RE.match(path.name)
            if not match:
                continue
            domain = match["domain"].lower()
            name = path.relative_to(root).as_posix()
            table = read_domain_file(path)
            table = table.append_column("_file", pa.array([name] * table.num_rows, pa.string()))
            suffix = (match["suffix"] or "").lower()
            table = table.append_column("_suffix", pa.array([suffix] * table.num_rows))
            tables[domain].append(table)
            self.files[domain].append(name)
        for domain in DOMAINS:
            wanted = _SUPP if domain.startswith("supp") else _VARIABLES.get(domain, ("USUBJID",))
            parts = [self._complete(t, wanted) for t in tables[domain]]
            if parts:
                table = pa.concat_tables(parts, promote_options="permissive")
            else:
                table = self._complete(pa.table({}), wanted)
            self.con.register(f"_{domain}", table)
            self.con.execute(f"CREATE TEMP TABLE {domain} AS SELECT * FROM _{domain}")
            self.con.unregister(f"_{domain}")

    @staticmethod
    def _complete(table: pa.Table, wanted: tuple[str, ...]) -> pa.Table:
        for name in (*wanted, "source_row", "_file", "_suffix"):
            if name not in table.column_names:
                kind = pa.int64() if name == "source_row" else pa.string()
                table = table.append_column(name, pa.nulls(table.num_rows, kind))
        return table

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE {table}").fetchall()]

    def with_supp(self, parent: str, supp: str, seq: str | None, qnams: list[str]) -> str:
        """A view of ``parent`` with the SUPP-- QNAMs it needs as columns.

        ``seq``: the --SEQ variable IDVAR names (record-level qualifiers); None for
        subject-level ones (IDVAR empty).
        """
        have = set(self.columns(parent))
        extra = [q for q in dict.fromkeys(q.upper() for q in qnams) if q not in have]
        if not extra:
            return parent
        pivots = ", ".join(
            f"any_value(QVAL) FILTER (WHERE upper(QNAM) = '{q}') AS \"{q}\"" for q in extra
        )
        picked = ", ".join(f'q."{q}"' for q in extra)
        if seq is None:
            where, key, on = "IDVAR IS NULL", "", ""
        else:
            where = f"upper(IDVAR) = '{seq}'"
            key = ", try_cast(IDVARVAL AS DOUBLE) AS _seq"
            on = f" AND q._seq = try_cast(p.{seq} AS DOUBLE)"
        view = f"{parent}_{'q' if seq else 's'}"
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP VIEW {view} AS
            SELECT p.*, {picked} FROM {parent} p
            LEFT JOIN (SELECT USUBJID{key}, {pivots} FROM {supp} WHERE {where} GROUP BY ALL) q
              ON q.USUBJID = p.USUBJID{on}
            """
        )
        return view

    def sql(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()


def _var(view_columns: list[str], name: str, alias: str, date: bool = False) -> str:
    if name.upper() not in view_columns:
        return f"NULL::VARCHAR AS {alias}"
    expr = f'"{name.upper()}"'
    if date:
        expr = f"CASE WHEN length({expr}) >= 10 THEN {expr}[1:10] ELSE {expr} END"
    return f"{expr} AS {alias}"


def _split(table: pa.Table, dataset: str, rejected: pa.Table | None = None) -> list[Mapped]:
    """One Mapped per original file (``_file``) of a mapped table and its rejections."""
    out = []
    files = set(table.column("_file").to_pylist())
    if rejected is not None:
        files |= set(rejected.column("_file").to_pylist())
    for name in sorted(f for f in files if f is not None):
        part = table.filter(pc.equal(table.column("_file"), name)).drop_columns(["_file"])
        bad = REJECTED_SCHEMA.empty_table()
        if rejected is not None:
            mine = rejected.filter(pc.equal(rejected.column("_file"), name))
            bad = mine.select(REJECTED_SCHEMA.names).cast(REJECTED_SCHEMA)
        out.append(Mapped(dataset=dataset, name=name, table=part, rejected=bad))
    return out


def read(paths: list[Path], root: Path, params: Mapping[str, Any]) -> list[Mapped]:
    """Every contract dataset the SDTM files of the folder give (see the module docstring)."""
    s = _Session(paths, root)
    sql_params(params).bind(s.con)
    for name, columns in _TABLES.items():
        s.con.execute(
            f"CREATE TEMP TABLE {name} AS "
            f"SELECT unnest(getvariable('{name}')::STRUCT({columns})[], recursive := true)"
        )
    out: list[Mapped] = []
    out += _lesions_and_imaging(s, params)
    out += _patients(s, params)
    out += _labs(s, params)
    out += _sessions(s, params)
    s.con.close()
    return out


# The patient a tumour read belongs to (``readers``: one per subject, or one per reader).
_READER_ID = (
    "CASE WHEN getvariable('readers') = 'each' THEN t.USUBJID || ' / ' || coalesce(t.TREVAL, '') "
    "|| coalesce(' / ' || t.TREVALID, '') ELSE t.USUBJID END"
)


def _lesions_and_imaging(s: _Session, params: Mapping[str, Any]) -> list[Mapped]:
    if not s.files["tr"]:
        return []
    segment = params["liver_segment_variable"].upper()
    supptr_q = [*params["supptr"], segment]
    tr = s.with_supp("tr", "supptr", "TRSEQ", supptr_q)
    tr_cols = s.columns(tr)
    # SUPPTR qualifiers that hold a result (sdtm.supptr), one row per value: the QNAMs
    # are columns of tr_rows; the result each fills comes from map_supptr.
    qnams = ", ".join(
        f'"{q}"' for q in dict.fromkeys(q.upper() for q in params["supptr"]) if q in tr_cols
    )
    supp_values = (
        f"""UNION ALL SELECT u.source_row, m.target AS kind, u.val
        FROM (UNPIVOT (SELECT source_row, {qnams} FROM tr_rows) ON {qnams}
              INTO NAME qnam VALUE val) u
        JOIN map_supptr m ON upper(m.code) = u.qnam"""
        if qnams
        else ""
    )
    tu = s.with_supp("tu", "supptu", "TUSEQ", [segment])
    # The segment of a lesion record: on the TR record (or SUPPTR), else on TU.
    seg_sources = [f't."{segment}"'] if segment in tr_cols else []
    seg_sources += [f'u."{segment}"'] if segment in s.columns(tu) else []
    seg_expr = f"coalesce({', '.join(seg_sources)}, NULL)" if seg_sources else "NULL::VARCHAR"
    s.con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE tr_rows AS
        SELECT t.*, {_READER_ID} AS patient_id,
               upper(trim(t.TRTESTCD)) AS code,
               coalesce(t.TRSTRESU, t.TRORRESU) AS unit
        FROM {tr} t
        WHERE getvariable('readers') = 'each'
           OR coalesce(t.TREVAL, '') IN (SELECT unnest(getvariable('evaluators')));

        -- Records that cannot be mapped (first reason wins).
        CREATE OR REPLACE TEMP TABLE tr_rejected AS
        SELECT _file, source_row, code IN (SELECT code FROM map_imaging_test) AS study_level,
            CASE WHEN USUBJID IS NULL THEN 'no_subject'
                 WHEN code NOT IN (SELECT code FROM map_tr_test)
                      AND code NOT IN (SELECT code FROM map_imaging_test)
                      AND code NOT IN (SELECT code FROM ignored_tests) THEN 'unmapped_test_code'
                 WHEN code <> 'TUMSTATE' AND unit IS NOT NULL
                      AND unit NOT IN (SELECT code FROM map_length_unit) THEN 'unmapped_unit'
            END AS reason_code
        FROM tr_rows;
        DELETE FROM tr_rejected WHERE reason_code IS NULL;

        CREATE OR REPLACE TEMP TABLE tr_ok AS
        SELECT t.* FROM tr_rows t ANTI JOIN tr_rejected r USING (_file, source_row)
        WHERE t.code NOT IN (SELECT code FROM ignored_tests);

        -- Q8: a month-only date takes the full date of the same visit in that month.
        CREATE OR REPLACE TEMP TABLE tr_dated AS
        WITH full_dates AS (
            SELECT DISTINCT patient_id, VISITNUM, TRDTC[1:10] AS d FROM tr_ok
            WHERE length(TRDTC) >= 10)
        SELECT t.*,
            CASE WHEN length(t.TRDTC) >= 10 THEN t.TRDTC[1:10]
                 WHEN length(t.TRDTC) = 7 THEN coalesce(
                    (SELECT min(f.d) FROM full_dates f WHERE f.patient_id = t.patient_id
                       AND f.VISITNUM IS NOT DISTINCT FROM t.VISITNUM AND f.d[1:7] = t.TRDTC),
                    t.TRDTC || '-01')
                 ELSE t.TRDTC END AS study_date
        FROM tr_ok t;

        CREATE OR REPLACE TEMP TABLE tr_lesion_rows AS
        SELECT t.*, u.TUSTRESC, u.TUORRES, coalesce(t.TRLOC, u.TULOC) AS location, u.TUMETHOD,
            {seg_expr} AS liver_segment
        FROM tr_dated t
        LEFT JOIN {tu} u
          ON u.USUBJID = t.USUBJID AND u.TULNKID = t.TRLNKID
         -- the same reader (a TU without evaluators identifies lesions for all reads)
         AND (u.TUEVAL IS NULL OR u.TUEVAL = t.TREVAL)
         AND (u.TUEVAL IS NULL OR coalesce(u.TUEVALID, '') = coalesce(t.TREVALID, ''))
         AND (u._suffix = t._suffix OR (SELECT count(DISTINCT _suffix) FROM tu) = 1)
        WHERE t.code IN (SELECT code FROM map_tr_test);

        -- Each result's value in mm (text kept when it is not a number: staging reports it).
        CREATE OR REPLACE TEMP TABLE tr_values AS
        SELECT r.source_row, m.target AS kind,
            CASE WHEN coalesce(f.factor, 1) = 1 OR try_cast(v AS DOUBLE) IS NULL THEN v
                 ELSE (try_cast(v AS DOUBLE) * f.factor)::VARCHAR END AS val
        FROM (SELECT *, coalesce(TRSTRESN, TRSTRESC, TRORRES) AS v FROM tr_lesion_rows) r
        JOIN map_tr_test m ON m.code = r.code
        LEFT JOIN map_length_unit f ON f.code = r.unit
        WHERE m.target <> 'status'
        {supp_values};
        """
    )
    lesions = s.sql(
        """
        WITH rows AS (
            SELECT r.*, coalesce(role.target, lower(coalesce(r.TRGRPID, r.TUSTRESC))) AS role
            FROM tr_lesion_rows r
            LEFT JOIN map_role role ON role.code = upper(coalesce(r.TRGRPID, r.TUSTRESC))
        ),
        lesion AS (
            SELECT _file, patient_id, study_date, TRLNKID, TRREFID, role,
                min(source_row) AS source_row,
                bool_or(upper(TRSTAT) = 'NOT DONE') AS not_done,
                bool_or(code = 'TUMSTATE') AS has_state,
                arg_min(TRSTRESC, source_row) FILTER (WHERE code = 'TUMSTATE') AS state,
                arg_min(location, source_row) AS location,
                arg_min(liver_segment, source_row) AS liver_segment,
                list(source_row) AS rows
            FROM rows GROUP BY ALL
        ),
        sizes AS (
            SELECT l.source_row AS lesion_row, v.kind, arg_min(v.val, v.source_row) AS val
            FROM (SELECT source_row, unnest(rows) AS tr_row FROM lesion) l
            JOIN tr_values v ON v.source_row = l.tr_row
            GROUP BY ALL
        )
        SELECT l._file, l.patient_id, l.study_date, l.TRLNKID AS lesion_id, l.role,
            coalesce(o.target, nullif(getvariable('organ_default'), ''), l.location) AS organ,
            l.liver_segment,
            CASE WHEN l.not_done THEN 'not_evaluated'
                 WHEN l.has_state THEN coalesce(st.target, lower(l.state))
                 WHEN l.role = 'target' THEN 'measured' END AS status,
            max(z.val) FILTER (WHERE z.kind = 'longest_diameter_mm') AS longest_diameter_mm,
            max(z.val) FILTER (WHERE z.kind = 'short_axis_mm') AS short_axis_mm,
            max(z.val) FILTER (WHERE z.kind = 'viable_diameter_mm') AS viable_diameter_mm,
            max(z.val) FILTER (WHERE z.kind = 'viable_perpendicular_mm')
                AS viable_perpendicular_mm,
            max(z.val) FILTER (WHERE z.kind = 'attenuation_hu') AS attenuation_hu,
            l.source_row
        FROM lesion l
        LEFT JOIN map_organ o ON o.code = upper(l.location)
        LEFT JOIN map_status st ON st.role = l.role AND st.code = upper(l.state)
        LEFT JOIN sizes z ON z.lesion_row = l.source_row
        GROUP BY ALL
        ORDER BY l._file, l.source_row
        """
    )
    imaging = s.sql(
        """
        WITH all_rows AS (
            SELECT t.*, coalesce(t.TRMETHOD, u.TUMETHOD) AS method,
                t.code IN (SELECT code FROM map_imaging_test) AS study_level
            FROM tr_dated t
            LEFT JOIN (SELECT DISTINCT source_row, _file, TUMETHOD FROM tr_lesion_rows) u
              USING (_file, source_row)
        ),
        -- A file with study-level records names its studies; otherwise every date is one.
        rows AS (
            SELECT * FROM all_rows a
            WHERE study_level OR NOT EXISTS (
                SELECT 1 FROM all_rows b WHERE b._file = a._file AND b.study_level)
        ),
        study AS (
            SELECT _file, patient_id, study_date, TRREFID, min(source_row) AS source_row,
                arg_min(method, source_row) FILTER (WHERE method IS NOT NULL) AS method
            FROM rows GROUP BY ALL
        ),
        attrs AS (
            SELECT r._file, r.patient_id, r.study_date, r.TRREFID, m.target AS kind,
                arg_min(coalesce(r.TRSTRESC, r.TRORRES), r.source_row) AS val
            FROM rows r JOIN map_imaging_test m ON m.code = r.code
            GROUP BY ALL
        )
        SELECT s._file, s.patient_id, s.study_date,
            coalesce(mm.target, s.method) AS modality,
            max(a.val) FILTER (WHERE a.kind = 'extrahepatic_disease') AS extrahepatic_disease,
            max(a.val) FILTER (WHERE a.kind = 'ascites') AS ascites,
            max(a.val) FILTER (WHERE a.kind = 'liver_tumor_burden_pct') AS liver_tumor_burden_pct,
            max(a.val) FILTER (WHERE a.kind = 'portal_vein_occlusion') AS portal_vein_occlusion,
            s.source_row
        FROM study s
        LEFT JOIN map_method mm ON mm.code = upper(s.method)
        LEFT JOIN attrs a
          ON a._file = s._file AND a.patient_id IS NOT DISTINCT FROM s.patient_id
         AND a.study_date IS NOT DISTINCT FROM s.study_date
         AND a.TRREFID IS NOT DISTINCT FROM s.TRREFID
        GROUP BY ALL
        ORDER BY s._file, s.source_row
        """
    )
    rejected = s.sql(
        """
        SELECT _file, source_row, study_level, reason_code,
            CASE reason_code WHEN 'no_subject' THEN 'USUBJID' WHEN 'unmapped_test_code'
                 THEN 'TRTESTCD' ELSE 'TRSTRESU' END AS column_name,
            CASE reason_code
                WHEN 'no_subject' THEN 'the TR record has no USUBJID'
                WHEN 'unmapped_test_code' THEN 'the TRTESTCD is not in sdtm.tr_tests, '
                    || 'sdtm.imaging_tests or sdtm.ignored_tr_tests (config/sdtm.toml)'
                ELSE 'the unit of the TR result is not in sdtm.length_units (config/sdtm.toml)'
            END AS reason
        FROM tr_rejected ORDER BY ALL
        """
    )
    lesion_rejects = rejected.filter(pc.invert(rejected.column("study_level")))
    imaging_rejects = rejected.filter(rejected.column("study_level"))
    return _split(lesions, "lesions", lesion_rejects) + _split(imaging, "imaging", imaging_rejects)


def _patient_columns(s: _Session, view: str, params: Mapping[str, Any]) -> str:
    cols = s.columns(view)
    exprs = []
    for column, variable in params["patient_variables"].items():
        if column == "birth_year":
            exprs.append(
                f"CASE WHEN regexp_matches(\"{variable.upper()}\", '^[0-9]{{4}}(-|$)') "
                f'THEN "{variable.upper()}"[1:4] ELSE "{variable.upper()}" END AS birth_year'
                if variable.upper() in cols
                else "NULL::VARCHAR AS birth_year"
            )
        else:
            exprs.append(_var(cols, variable, column, date=column.endswith("_date")))
    return ", ".join(exprs)


def _dm_view(s: _Session, params: Mapping[str, Any]) -> str:
    """DM with its SUPPDM qualifiers (subject-level: IDVAR empty) as columns."""
    return s.with_supp("dm", "suppdm", None, list(params["patient_variables"].values()))


def _patients(s: _Session, params: Mapping[str, Any]) -> list[Mapped]:
    out: list[Mapped] = []
    if s.files["dm"]:
        dm = _dm_view(s, params)
        table = s.sql(
            f"SELECT _file, USUBJID AS patient_id, {_patient_columns(s, dm, params)}, source_row "
            f"FROM {dm} ORDER BY _file, source_row"
        )
        out += _split(table, "patients")
    if params["readers"] == "each" and s.files["tr"]:
        # Each reader is a patient of its own, with the subject's DM data; lineage: its
        # first TR record.
        dm = _dm_view(s, params) if s.files["dm"] else None
        cols = _patient_columns(s, dm, params) if dm else "NULL::VARCHAR AS sex"
        join = f"LEFT JOIN (SELECT DISTINCT ON (USUBJID) * FROM {dm}) d USING (USUBJID)"
        table = s.sql(
            f"""
            SELECT r._file, r.patient_id, {cols}, r.source_row
            FROM (SELECT _file, patient_id, any_value(USUBJID) AS USUBJID,
                         min(source_row) AS source_row
                  FROM tr_ok GROUP BY ALL) r
            {join if dm else ""}
            ORDER BY r._file, r.source_row
            """
        )
        out += _split(table, "patients")
    return out


def _labs(s: _Session, params: Mapping[str, Any]) -> list[Mapped]:
    if not s.files["lb"]:
        return []
    original = params["lab_result"] == "original"
    value = "LBORRES" if original else "coalesce(LBSTRESC, LBSTRESN)"
    unit = "LBORRESU" if original else "LBSTRESU"
    rows = s.sql(
        f"""
        SELECT l._file, l.USUBJID AS patient_id, l.LBDTC AS collected_at,
            coalesce(l.LBLOINC, m.target) AS test, {value} AS value, {unit} AS unit,
            l.source_row,
            CASE WHEN l.USUBJID IS NULL THEN 'no_subject'
                 WHEN coalesce(l.LBLOINC, m.target) IS NULL THEN 'unmapped_test_code' END
                AS reason_code
        FROM lb l LEFT JOIN map_lb_test m ON m.code = upper(trim(l.LBTESTCD))
        ORDER BY l._file, l.source_row
        """
    )
    bad = pc.is_valid(rows.column("reason_code"))
    rejected = rows.filter(bad)
    no_subject = pc.equal(rejected.column("reason_code"), ReasonCode.NO_SUBJECT.value)
    rejected = pa.table(
        {
            "_file": rejected.column("_file"),
            "source_row": rejected.column("source_row"),
            "reason_code": rejected.column("reason_code"),
            "column_name": pc.if_else(no_subject, "USUBJID", "LBTESTCD"),
            "reason": pc.if_else(
                no_subject,
                "the LB record has no USUBJID",
                "the LB record has no LBLOINC and its LBTESTCD is not in sdtm.lb_tests "
                "(config/sdtm.toml)",
            ),
        }
    )
    good = rows.filter(pc.invert(bad)).drop_columns(["reason_code"])
    return _split(good, "labs", rejected)


def _sessions(s: _Session, params: Mapping[str, Any]) -> list[Mapped]:
    out: list[Mapped] = []
    variables = params["session_variables"]
    if s.files["pr"]:
        pr = s.with_supp("pr", "supppr", "PRSEQ", list(variables.values()))
        cols = s.columns(pr)
        extra = ", ".join(_var(cols, v, c) for c, v in variables.items())
        table = s.sql(
            f"""
            SELECT p._file, p.USUBJID AS patient_id,
                CASE WHEN length(p.PRSTDTC) >= 10 THEN p.PRSTDTC[1:10] ELSE p.PRSTDTC END
                    AS session_date,
                coalesce(m1.target, m2.target, p.PRTRT, p.PRDECOD) AS modality,
                {extra}, p.source_row
            FROM {pr} p
            LEFT JOIN map_procedure m1 ON m1.code = lower(trim(p.PRDECOD))
            LEFT JOIN map_procedure m2 ON m2.code = lower(trim(p.PRTRT))
            ORDER BY p._file, p.source_row
            """
        )
        out += _split(table, "sessions")
    if s.files["ex"]:
        table = s.sql(
            """
            SELECT e._file, e.USUBJID AS patient_id, e.EXSTDTC[1:10] AS session_date,
                m.target AS modality, 'whole_liver' AS treated_territory, e.source_row
            FROM ex e JOIN map_procedure m ON m.code = lower(trim(e.EXTRT))
            ORDER BY e._file, e.source_row
            """
        )
        out += _split(table, "sessions")
    if s.files["tr"]:
        out += _reference_sessions(s, params, {m.name for m in out})
    return out


def _reference_sessions(
    s: _Session, params: Mapping[str, Any], session_files: set[str]
) -> list[Mapped]:
    """One reference session per tumour-assessed patient without a treatment session."""
    sources = {
        "ADSL.TRTSDT": "(SELECT USUBJID, min(TRTSDT[1:10]) AS d FROM adsl GROUP BY ALL)",
        "EX.EXSTDTC": "(SELECT USUBJID, min(EXSTDTC[1:10]) AS d FROM ex GROUP BY ALL)",
        "DM.RFXSTDTC": "(SELECT USUBJID, min(RFXSTDTC[1:10]) AS d FROM dm GROUP BY ALL)",
    }
    joins, dates = [], []
    for i, source in enumerate(params["reference_date"]):
        if source == "TR.first":
            dates.append("p.first_date")
        elif source in sources:
            joins.append(f"LEFT JOIN {sources[source]} r{i} ON r{i}.USUBJID = p.USUBJID")
            dates.append(f"r{i}.d")
    if not dates:
        return []
    treated = ""
    if session_files:
        treated = (
            "WHERE p.USUBJID NOT IN (SELECT USUBJID FROM pr WHERE USUBJID IS NOT NULL) "
            "AND p.USUBJID NOT IN (SELECT e.USUBJID FROM ex e JOIN map_procedure m "
            "ON m.code = lower(trim(e.EXTRT)) WHERE e.USUBJID IS NOT NULL)"
        )
    table = s.sql(
        f"""
        SELECT p._file, p.patient_id, coalesce({", ".join(dates)}) AS session_date,
            getvariable('reference_modality') AS modality,
            getvariable('reference_territory') AS treated_territory,
            p.source_row
        FROM (SELECT _file, patient_id, any_value(USUBJID) AS USUBJID,
                     min(study_date) AS first_date, min(source_row) AS source_row
              FROM tr_dated GROUP BY ALL) p
        {" ".join(joins)}
        {treated}
        ORDER BY p._file, p.source_row
        """
    )
    return _split(table, "sessions")
