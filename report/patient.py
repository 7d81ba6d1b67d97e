"""One patient's page for a tumour board: course, responses with their reasons, labs, flags.

The patient is named by the report number (as in the cohort report), never by a
key or a source identifier. Times are days from the first session; study dates
appear only where the response rules quote them (the nadir study in a reason).
"""

from __future__ import annotations

import duckdb

from config import Config
from report import charts, data
from report.cohort import CRITERIA, flag_labels, thresholds_pct
from report.html import esc, figure, page, table
from warehouse.schema import ELIGIBILITY_COLUMNS as ELIGIBILITY


def patient_number(con: duckdb.DuckDBPyConnection, patient_key: str) -> int | None:
    """The report number of a patient with at least one session (None: no such patient)."""
    row = con.execute(
        f"SELECT patient_no FROM {data.PATIENT_NUMBERS} WHERE patient_key = $k",
        {"k": patient_key},
    ).fetchone()
    return None if row is None else int(row[0])


def _swimmer_and_spider(con: duckdb.DuckDBPyConnection, cfg: Config, key: str, no: int) -> str:
    parts = []
    for criteria in data.criteria_present(con, tuple(CRITERIA)):
        slug = criteria.replace(".", "").lower()
        sw = data.swimmer(con, criteria, 0, patient_key=key)
        parts.append(
            figure(
                f"swimmer-{slug}",
                f"Course, {criteria}",
                charts.swimmer(
                    sw.frame,
                    sw.extra["sessions"],
                    sw.extra["assessments"],
                    salt=f"p-swimmer-{slug}",
                ),
                sw.used,
                sw.left_out_text(),
            )
        )
        sp = data.spider(con, criteria, data.Scope(None), 0, patient_key=key)
        if len(sp.frame):
            pr, pdv = thresholds_pct(cfg, criteria)
            parts.append(
                figure(
                    f"spider-{slug}",
                    f"Change of the target sum from the course baseline, {criteria}",
                    charts.spider(sp.frame, sp.extra["sessions"], pr, pdv, salt=f"p-spider-{slug}"),
                    sp.used,
                    sp.left_out_text(),
                    f"Dashed lines: configured PR ({pr:+g} %) and PD ({pdv:+g} %) thresholds.",
                )
            )
        else:
            parts.append(f'<p class="note">{esc(criteria)}: no follow-up target sum.</p>')
    return "\n".join(parts)


def _responses(con: duckdb.DuckDBPyConnection, key: str) -> str:
    rows = con.execute(
        """
        SELECT t.criteria, datediff('day', s.first_session_date, t.study_date) AS day,
               t.days_from_baseline, t.sum_mm, t.sum_unit, t.pct_change_from_baseline,
               t.target_response, t.nontarget_response, t.new_lesions, t.overall_response,
               t.reason
        FROM timepoint_responses t JOIN survival s USING (patient_key)
        WHERE t.patient_key = $k ORDER BY t.criteria, t.study_date
        """,
        {"k": key},
    ).fetchall()
    return table(
        (
            "criteria",
            "day",
            "days from baseline",
            "sum",
            "unit",
            "% from baseline",
            "target",
            "non-target",
            "new lesions",
            "overall",
            "reason",
        ),
        [(*r[:3], None if r[3] is None else float(r[3]), *r[4:]) for r in rows],
        "Response at each study (timepoint_responses, course); day 0 = first session",
    )


def _lesions(con: duckdb.DuckDBPyConnection, key: str) -> str:
    rows = con.execute(
        """
        SELECT datediff('day', s.first_session_date, l.study_date) AS day, l.lesion_id,
               l.role, l.organ, l.liver_segment, l.status, l.longest_diameter_mm,
               l.short_axis_mm, l.viable_diameter_mm, l.is_nodal
        FROM lesion_measurements l JOIN survival s USING (patient_key)
        WHERE l.patient_key = $k ORDER BY l.study_date, l.role DESC, l.lesion_id
        """,
        {"k": key},
    ).fetchall()
    out, current, chunk = [], None, []
    for r in [*rows, None]:
        if r is None or r[0] != current:
            if chunk:
                out.append(
                    table(
                        (
                            "lesion",
                            "role",
                            "organ",
                            "segment",
                            "status",
                            "longest mm",
                            "short axis mm",
                            "viable mm",
                            "nodal",
                        ),
                        chunk,
                        f"Study on day {current}",
                    )
                )
            if r is None:
                break
            current, chunk = r[0], []
        chunk.append(tuple(float(v) if hasattr(v, "as_tuple") else v for v in r[1:]))
    return "\n".join(out) or '<p class="note">No lesion measurement.</p>'


def _sessions(con: duckdb.DuckDBPyConnection, cfg: Config, key: str) -> str:
    labels = flag_labels(cfg)
    flags = ", ".join(f"f.{c}" for c in labels)
    elig = ", ".join(f"f.{c}" for c in ELIGIBILITY)
    rows = con.execute(
        f"""
        SELECT f.session_number, datediff('day', s.first_session_date, f.session_date) AS day,
               f.modality, l.nlr_pre, l.nlr_1m, l.nlr_3m, l.nlr_6m, {flags},
               f.n_negative_flags, {elig}, f.eligible, f.modality_hint, f.modality_hint_reason
        FROM session_flags f JOIN survival s USING (patient_key)
        LEFT JOIN session_labs l USING (patient_key, session_id)
        WHERE f.patient_key = $k ORDER BY f.session_date, f.session_number
        """,
        {"k": key},
    ).fetchall()
    n_flags, n_elig = len(labels), len(ELIGIBILITY)
    labs = table(
        (
            "session",
            "day",
            "modality",
            "NLR before",
            "1 month",
            "3 months",
            "6 months",
            *labels.values(),
            "negative flags",
        ),
        [r[: 7 + n_flags + 1] for r in rows],
        "NLR and negative prognostic flags going into each session "
        "(session_labs, session_flags; empty: no value in the window)",
    )
    eligibility = table(
        (
            "session",
            *(c.removeprefix("elig_") for c in ELIGIBILITY),
            "eligible",
            "modality hint",
            "why",
        ),
        [(r[0], *r[8 + n_flags : 8 + n_flags + n_elig + 3]) for r in rows],
        "Eligibility criteria and modality hint (session_flags)",
    )
    return labs + eligibility


def render_patient(
    con: duckdb.DuckDBPyConnection, cfg: Config, patient_key: str
) -> tuple[int, str] | None:
    """(report number, the patient page), or None for a patient with no session."""
    data.number_patients(con)
    try:
        no = patient_number(con, patient_key)
        if no is None:
            return None
        body = (
            f"<h1>Patient P{no}</h1>\n"
            '<p class="muted">Report number as in the cohort report. Times are days from the '
            "first session; no identifier, key or date of birth or death is shown.</p>\n"
            "<h2>Course</h2>\n"
            + _swimmer_and_spider(con, cfg, patient_key, no)
            + "<h2>Sessions: NLR, flags, eligibility</h2>\n"
            + _sessions(con, cfg, patient_key)
            + "<h2>Responses and their reasons</h2>\n"
            + _responses(con, patient_key)
            + "<h2>Lesions per study</h2>\n"
            + _lesions(con, patient_key)
        )
    finally:
        data.drop_patient_numbers(con)
    return no, page(f"nelmtrack patient P{no}", body)
