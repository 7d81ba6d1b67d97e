"""The data behind each figure of the outcome report, as SQL over the public tables.

Every query runs where the data is, in DuckDB, and aggregates before anything
reaches Python: a waterfall arrives as at most ``report.waterfall_max_bars``
bars, rates and NLR trajectories as one row per group; only the survival
analyses receive one (duration, event, group) triple per patient, which the
Kaplan–Meier, log-rank and Cox estimators need.

Patients are named by a report-local number (``patient_no``), assigned in the
order of md5(patient_key): stable across runs, unrelated to any identifier or
outcome. Per-patient figures show the patients numbered 1 to
``report.per_patient_max_patients``. No query returns a patient_key, a source
identifier or a date: times are days (from the first session, or from the
scope's baseline study).

Each figure's data comes with the rows it used and the patients left out, by
reason, so that every figure can say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from warehouse.schema import FLAG_COLUMNS

#: Best overall responses that count as objective response, and as disease control.
#: NON-CR/NON-PD (non-target disease only) is counted with SD, as RECIST 1.1 does for DCR.
OBJECTIVE_RESPONSE = ("CR", "PR")
DISEASE_CONTROL = ("CR", "PR", "SD", "NON-CR/NON-PD")
NLR_TIMEPOINTS = ("nlr_pre", "nlr_1m", "nlr_3m", "nlr_6m")
#: The negative prognostic flags going into a session (labs-and-flags P1–P7; not the
#: post-session bilirubin), in the order of session_flags and of the Cox model.
PROGNOSTIC_FLAGS = tuple(c for c in FLAG_COLUMNS if not c.startswith("flag_post_"))
PATIENT_NUMBERS = "report_patient_numbers"


@dataclass(frozen=True)
class Scope:
    """The course of treatment, or the follow-up after the n-th session."""

    session_number: int | None = None

    @property
    def label(self) -> str:
        return "course" if self.session_number is None else f"session {self.session_number}"

    @property
    def slug(self) -> str:
        return "course" if self.session_number is None else f"s{self.session_number}"


@dataclass
class FigureData:
    """One figure's rows, what they are, and the patients that are not in it."""

    frame: pd.DataFrame
    used: str
    left_out: list[tuple[str, int]] = field(default_factory=list)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    def left_out_text(self) -> str:
        parts = [f"{n:,} {reason}" for reason, n in self.left_out if n]
        return "none" if not parts else "; ".join(parts)


def number_patients(con: duckdb.DuckDBPyConnection) -> None:
    """A temporary table of report-local patient numbers (in the connection only)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PATIENT_NUMBERS} AS "
        "SELECT patient_key, row_number() OVER (ORDER BY md5(patient_key), patient_key) "
        "AS patient_no FROM survival"
    )


def drop_patient_numbers(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {PATIENT_NUMBERS}")


def _exec(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute with the named parameters the statement uses (DuckDB refuses extra ones)."""
    used = {k: v for k, v in (params or {}).items() if re.search(rf"\${k}\b", sql)}
    return con.execute(sql, used)


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    return _exec(con, sql, params).df()


def criteria_present(con: duckdb.DuckDBPyConnection, wanted: tuple[str, ...]) -> list[str]:
    found = {r[0] for r in con.execute("SELECT DISTINCT criteria FROM best_responses").fetchall()}
    return [c for c in wanted if c in found]


def session_numbers(con: duckdb.DuckDBPyConnection, max_number: int) -> list[int]:
    rows = con.execute(
        "SELECT DISTINCT session_number FROM sessions WHERE session_number <= $m ORDER BY 1",
        {"m": max_number},
    ).fetchall()
    return [r[0] for r in rows]


# --- the population of a scope ----------------------------------------------------------


def _scope_best(scope: Scope) -> str:
    """Patients of the scope, with the scope's modality and best response (null: no row).

    Course: every patient of `survival` (one with at least one session), modality of the
    first session. Session n: every session numbered n.
    """
    if scope.session_number is None:
        return """
            SELECT s.patient_key, s.first_modality AS modality, b.bor, b.bor_confirmed,
                   b.pfs_days, b.pfs_event, b.progression_date,
                   b.patient_key IS NOT NULL AS has_best
            FROM survival s
            LEFT JOIN best_responses b
              ON b.patient_key = s.patient_key AND b.criteria = $criteria AND b.scope = 'course'
        """
    return f"""
        SELECT s.patient_key, s.modality, b.bor, b.bor_confirmed,
               b.pfs_days, b.pfs_event, b.progression_date, b.patient_key IS NOT NULL AS has_best
        FROM sessions s
        LEFT JOIN best_responses b
          ON b.patient_key = s.patient_key AND b.criteria = $criteria AND b.scope = s.session_id
        WHERE s.session_number = {int(scope.session_number)}
    """


def _scope_timepoints(scope: Scope) -> str:
    """Assessments of the scope: baseline row and follow-ups, with the change from baseline."""
    if scope.session_number is None:
        return """
            SELECT patient_key, study_date, baseline_date, days_from_baseline,
                   pct_change_from_baseline, overall_response
            FROM timepoint_responses WHERE criteria = $criteria
        """
    return f"""
        SELECT patient_key, study_date, baseline_date, days_from_baseline,
               pct_change_from_baseline, overall_response
        FROM session_responses
        WHERE criteria = $criteria AND scope = 'overall'
          AND session_number = {int(scope.session_number)}
    """


def _scope_rows(scope: Scope, criteria: str) -> str:
    if scope.session_number is None:
        return f"best_responses (scope 'course') and timepoint_responses, {criteria}"
    return (
        f"best_responses (scope = the session) and session_responses (scope 'overall') of "
        f"every session numbered {scope.session_number}, {criteria}"
    )


# --- waterfall ----------------------------------------------------------------------------


def waterfall(
    con: duckdb.DuckDBPyConnection, criteria: str, scope: Scope, max_bars: int
) -> FigureData:
    """Best (smallest) % change of the target sum from baseline per patient, sorted.

    Above ``max_bars`` patients each bar is a bin of consecutive patients in sorted
    order: height the bin's median change, colour its most frequent best response.
    """
    frame = _df(
        con,
        f"""
        WITH best AS ({_scope_best(scope)}),
        tp AS ({_scope_timepoints(scope)}),
        per AS (
            SELECT b.patient_key, any_value(b.bor) AS bor, any_value(b.has_best) AS has_best,
                   count(tp.study_date) FILTER (WHERE tp.study_date > tp.baseline_date) AS n_follow,
                   min(tp.pct_change_from_baseline)
                       FILTER (WHERE tp.study_date > tp.baseline_date) AS best_pct
            FROM best b LEFT JOIN tp USING (patient_key)
            GROUP BY b.patient_key
        ),
        ranked AS (
            SELECT best_pct, coalesce(bor, 'NE') AS bor,
                   row_number() OVER (ORDER BY best_pct DESC, patient_key) - 1 AS rk,
                   count(*) OVER () AS n
            FROM per WHERE best_pct IS NOT NULL
        ),
        binned AS (
            SELECT CASE WHEN n > $max_bars THEN floor(rk * $max_bars / n) ELSE rk END AS bar,
                   best_pct, bor
            FROM ranked
        )
        SELECT bar, median(best_pct) AS pct_change, mode(bor) AS bor, count(*) AS patients
        FROM binned GROUP BY bar
        UNION ALL
        SELECT -1, NULL, reason, n FROM (
            SELECT CASE WHEN NOT has_best THEN 'without a best response (no baseline study)'
                        WHEN n_follow = 0 THEN 'without a follow-up study'
                        ELSE 'without a measurable target sum at any follow-up (NE)' END
                       AS reason, count(*) AS n
            FROM per WHERE best_pct IS NULL GROUP BY reason
        )
        ORDER BY bar
        """,
        {"criteria": criteria, "max_bars": max_bars},
    )
    left = frame[frame["bar"] < 0]
    bars = frame[frame["bar"] >= 0].reset_index(drop=True)
    n = int(bars["patients"].sum())
    binned = len(bars) < n
    used = f"{_scope_rows(scope, criteria)}: {n:,} patients with a follow-up target sum" + (
        f", in {len(bars):,} bins of consecutive patients" if binned else ""
    )
    return FigureData(bars, used, [(r.bor, int(r.patients)) for r in left.itertuples()])


# --- spider -------------------------------------------------------------------------------


def spider(
    con: duckdb.DuckDBPyConnection,
    criteria: str,
    scope: Scope,
    max_patients: int,
    patient_key: str | None = None,
) -> FigureData:
    """% change from baseline over days from baseline, for the first report numbers.

    ``extra['sessions']``: the patient's sessions in days from the same baseline. With
    ``patient_key``, that patient only (the patient page).
    """
    params = {"criteria": criteria, "max_patients": max_patients}
    if patient_key is not None:
        params = {"criteria": criteria, "max_patients": 0, "key": patient_key}
    chosen = (
        "p.patient_no <= $max_patients"
        if patient_key is None
        else "(p.patient_no <= $max_patients OR tp.patient_key = $key)"
    )
    frame = _df(
        con,
        f"""
        WITH tp AS ({_scope_timepoints(scope)})
        SELECT p.patient_no, tp.days_from_baseline AS day, tp.pct_change_from_baseline AS pct,
               tp.overall_response
        FROM tp JOIN {PATIENT_NUMBERS} p USING (patient_key)
        WHERE {chosen} AND tp.pct_change_from_baseline IS NOT NULL
        ORDER BY p.patient_no, day
        """,
        params,
    )
    session_filter = (
        "" if scope.session_number is None else f"AND s.session_number = {scope.session_number}"
    )
    sessions = _df(
        con,
        f"""
        WITH tp AS ({_scope_timepoints(scope)}),
        base AS (SELECT DISTINCT patient_key, baseline_date FROM tp WHERE baseline_date IS NOT NULL)
        SELECT p.patient_no, datediff('day', tp.baseline_date, s.session_date) AS day, s.modality
        FROM sessions s JOIN base tp USING (patient_key)
        JOIN {PATIENT_NUMBERS} p USING (patient_key)
        WHERE {chosen} AND s.session_date >= tp.baseline_date
              {session_filter}
        ORDER BY 1, 2
        """,
        params,
    )
    if patient_key is not None:
        return FigureData(
            frame, f"{_scope_rows(scope, criteria)}: this patient", [], {"sessions": sessions}
        )
    counts = _exec(
        con,
        f"""
        WITH tp AS ({_scope_timepoints(scope)}), best AS ({_scope_best(scope)})
        SELECT count(DISTINCT b.patient_key),
               count(DISTINCT b.patient_key) FILTER (WHERE p.patient_no <= $max_patients),
               count(DISTINCT tp.patient_key) FILTER (
                   WHERE p.patient_no <= $max_patients AND tp.pct_change_from_baseline IS NOT NULL)
        FROM best b JOIN {PATIENT_NUMBERS} p USING (patient_key)
        LEFT JOIN tp ON tp.patient_key = b.patient_key
        """,
        params,
    ).fetchone()
    total, subset, shown = counts
    used = (
        f"{_scope_rows(scope, criteria)}: patients numbered 1–{max_patients} "
        f"(report.per_patient_max_patients; a fixed pseudo-random subset) — {subset:,} of "
        f"{total:,} patients of this scope are in the subset, {shown:,} have a follow-up "
        "target sum"
    )
    left = [
        ("not in the per-patient subset", total - subset),
        ("in the subset without a measurable follow-up target sum", subset - shown),
    ]
    return FigureData(frame, used, left, {"sessions": sessions})


# --- swimmer ------------------------------------------------------------------------------


def swimmer(
    con: duckdb.DuckDBPyConnection,
    criteria: str,
    max_patients: int,
    patient_key: str | None = None,
) -> FigureData:
    """Each subset patient's course in days from the first session.

    frame: patient_no, os_days, os_event, progression_day; extra: sessions (day, modality)
    and assessments (day, overall_response) under ``criteria``. With ``patient_key``,
    that patient only (the patient page).
    """
    where = "p.patient_no <= $max_patients" if patient_key is None else "s.patient_key = $key"
    params: dict = {"criteria": criteria}
    if patient_key is None:
        params["max_patients"] = max_patients
    else:
        params["key"] = patient_key
    chosen = f"""
        SELECT p.patient_no, s.patient_key, s.first_session_date, s.os_days, s.os_event
        FROM survival s JOIN {PATIENT_NUMBERS} p USING (patient_key) WHERE {where}
    """
    frame = _df(
        con,
        f"""
        WITH chosen AS ({chosen})
        SELECT c.patient_no, c.os_days, c.os_event,
               datediff('day', c.first_session_date, b.progression_date) AS progression_day
        FROM chosen c LEFT JOIN best_responses b
          ON b.patient_key = c.patient_key AND b.criteria = $criteria AND b.scope = 'course'
        ORDER BY c.patient_no
        """,
        params,
    )
    sessions = _df(
        con,
        f"""
        WITH chosen AS ({chosen})
        SELECT c.patient_no, datediff('day', c.first_session_date, x.session_date) AS day,
               x.modality
        FROM chosen c JOIN sessions x USING (patient_key) ORDER BY 1, 2
        """,
        params,
    )
    assessments = _df(
        con,
        f"""
        WITH chosen AS ({chosen})
        SELECT c.patient_no, datediff('day', c.first_session_date, t.study_date) AS day,
               t.overall_response
        FROM chosen c JOIN timepoint_responses t USING (patient_key)
        WHERE t.criteria = $criteria AND t.study_date > t.baseline_date
        ORDER BY 1, 2
        """,
        params,
    )
    total = con.execute("SELECT count(*) FROM survival").fetchone()[0]
    used = (
        f"survival, sessions, timepoint_responses and best_responses (scope 'course'), "
        f"{criteria}: "
        + (
            f"patients numbered 1–{max_patients} (report.per_patient_max_patients; a fixed "
            f"pseudo-random subset), {len(frame):,} of {total:,}"
            if patient_key is None
            else "one patient"
        )
    )
    left = [("not in the per-patient subset", total - len(frame))] if patient_key is None else []
    return FigureData(frame, used, left, {"sessions": sessions, "assessments": assessments})


# --- response rates -------------------------------------------------------------------------


def response_rates(con: duckdb.DuckDBPyConnection, criteria: str, scope: Scope) -> FigureData:
    """Responders and disease control by modality (and all), unconfirmed and confirmed."""
    orr = ", ".join(f"'{r}'" for r in OBJECTIVE_RESPONSE)
    dcr = ", ".join(f"'{r}'" for r in DISEASE_CONTROL)
    frame = _df(
        con,
        f"""
        WITH best AS ({_scope_best(scope)})
        SELECT coalesce(modality, 'all') AS modality,
               count(*) FILTER (WHERE bor IS NOT NULL) AS n,
               count(*) FILTER (WHERE bor IN ({orr})) AS orr_unconfirmed,
               count(*) FILTER (WHERE bor IN ({dcr})) AS dcr_unconfirmed,
               count(*) FILTER (WHERE bor_confirmed IN ({orr})) AS orr_confirmed,
               count(*) FILTER (WHERE bor_confirmed IN ({dcr})) AS dcr_confirmed,
               count(*) FILTER (WHERE bor IS NULL) AS no_response
        FROM best GROUP BY GROUPING SETS ((modality), ())
        ORDER BY modality = 'all', modality
        """,
        {"criteria": criteria},
    )
    total = frame[frame["modality"] == "all"]
    missing = int(total["no_response"].iloc[0]) if len(total) else 0
    used = (
        f"{_scope_rows(scope, criteria)}: the best overall response (bor) and the confirmed "
        "one (bor_confirmed) of every patient of the scope with one; NE counts as neither"
    )
    return FigureData(frame, used, [("without a best response (no follow-up study)", missing)])


# --- survival -----------------------------------------------------------------------------


@dataclass
class SurvivalData:
    """Per-patient durations, events and group labels for a KM comparison."""

    durations: np.ndarray
    events: np.ndarray
    groups: np.ndarray
    used: str
    left_out: list[tuple[str, int]]

    def left_out_text(self) -> str:
        parts = [f"{n:,} {reason}" for reason, n in self.left_out if n]
        return "none" if not parts else "; ".join(parts)


def _survival_data(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict, used: str, reasons: dict[str, str]
) -> SurvivalData:
    """``sql`` gives duration, event, grp and a ``missing`` reason key (null: usable)."""
    rows = _exec(
        con, f"SELECT duration, event, grp, missing FROM ({sql}) WHERE missing IS NULL", params
    ).fetchnumpy()
    left = _exec(
        con,
        f"SELECT missing, count(*) FROM ({sql}) WHERE missing IS NOT NULL GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    return SurvivalData(
        durations=np.asarray(rows["duration"], dtype=float),
        events=np.asarray(rows["event"], dtype=bool),
        groups=np.asarray(rows["grp"], dtype=object),
        used=used,
        left_out=[(reasons.get(k, k), int(n)) for k, n in left],
    )


def pfs_by_modality(con: duckdb.DuckDBPyConnection, criteria: str, scope: Scope) -> SurvivalData:
    sql = f"""
        SELECT pfs_days AS duration, pfs_event AS event, modality AS grp,
               CASE WHEN NOT has_best THEN 'no_best' WHEN pfs_days IS NULL THEN 'no_pfs' END
                   AS missing
        FROM ({_scope_best(scope)})
    """
    return _survival_data(
        con,
        sql,
        {"criteria": criteria},
        f"{_scope_rows(scope, criteria)}: pfs_days and pfs_event by modality",
        {
            "no_best": "without a best response (no baseline study)",
            "no_pfs": "without a PFS time",
        },
    )


def os_by(con: duckdb.DuckDBPyConnection, column: str, labels: tuple[str, str]) -> SurvivalData:
    """OS from the first session, by first modality or by a boolean column of survival."""
    if column == "first_modality":
        grp, missing = "first_modality", "CASE WHEN os_days IS NULL THEN 'no_os' END"
    else:
        grp = f"CASE WHEN {column} THEN '{labels[0]}' ELSE '{labels[1]}' END"
        missing = (
            f"CASE WHEN os_days IS NULL THEN 'no_os' WHEN {column} IS NULL THEN 'no_group' END"
        )
    sql = f"""
        SELECT os_days AS duration, os_event AS event, {grp} AS grp, {missing} AS missing
        FROM survival
    """
    return _survival_data(
        con,
        sql,
        {},
        f"survival: os_days, os_event by {column}",
        {"no_os": "without an OS time", "no_group": f"with {column} unknown"},
    )


def os_from_landmark(
    con: duckdb.DuckDBPyConnection, column: str, labels: tuple[str, str], landmark_days: int
) -> SurvivalData:
    """OS counted from the landmark, for patients alive and followed at the landmark.

    A status known only at the landmark (a response by then, an NLR at 6 months) must
    not be compared from the first session: the patients who died before it could
    not have it (guarantee-time bias). survival leaves such columns null before it.
    """
    sql = f"""
        SELECT os_days - $landmark AS duration, os_event AS event,
               CASE WHEN {column} THEN '{labels[0]}' ELSE '{labels[1]}' END AS grp,
               CASE WHEN os_days IS NULL THEN 'no_os'
                    WHEN os_days < $landmark THEN 'before_landmark'
                    WHEN {column} IS NULL THEN 'no_group' END AS missing
        FROM survival
    """
    return _survival_data(
        con,
        sql,
        {"landmark": landmark_days},
        f"survival: os_days − {landmark_days} (report.landmark_days), os_event by {column}",
        {
            "no_os": "without an OS time",
            "before_landmark": f"dead or censored before day {landmark_days}",
            "no_group": f"with {column} unknown",
        },
    )


def cox_frame(con: duckdb.DuckDBPyConnection) -> FigureData:
    """OS and the negative prognostic flags going into each patient's first session.

    Complete cases: a patient with any flag unknown (no value in its window) is left out.
    """
    flags = ", ".join(f"f.{c}" for c in PROGNOSTIC_FLAGS)
    any_null = " OR ".join(f"{c} IS NULL" for c in PROGNOSTIC_FLAGS)
    sql = f"""
        WITH first AS (
            SELECT * FROM session_flags
            QUALIFY row_number() OVER (
                PARTITION BY patient_key ORDER BY session_date, session_number) = 1
        )
        SELECT s.os_days, s.os_event, {flags},
               CASE WHEN s.os_days IS NULL THEN 'without an OS time'
                    WHEN f.patient_key IS NULL THEN 'without flags for the first session'
                    WHEN {any_null} THEN 'with a flag unknown at the first session'
               END AS missing
        FROM survival s LEFT JOIN first f USING (patient_key)
    """
    frame = _df(con, f"SELECT * EXCLUDE (missing) FROM ({sql}) WHERE missing IS NULL")
    for c in PROGNOSTIC_FLAGS:
        frame[c] = frame[c].astype(int)
    frame["os_event"] = frame["os_event"].astype(int)
    left = con.execute(
        f"SELECT missing, count(*) FROM ({sql}) WHERE missing IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return FigureData(
        frame,
        f"survival (os_days, os_event) and session_flags of the first session: {len(frame):,} "
        "patients with every flag known (complete cases)",
        [(k, int(n)) for k, n in left],
    )


# --- NLR ----------------------------------------------------------------------------------


def nlr_trajectories(con: duckdb.DuckDBPyConnection) -> FigureData:
    """Median and IQR of NLR before and 1, 3, 6 months after each session, by modality."""
    cols = ", ".join(NLR_TIMEPOINTS)
    frame = _df(
        con,
        f"""
        WITH long AS (
            UNPIVOT (SELECT s.modality, {", ".join(f"l.{c}" for c in NLR_TIMEPOINTS)}
                     FROM session_labs l JOIN sessions s USING (patient_key, session_id))
            ON {cols} INTO NAME timepoint VALUE nlr
        )
        SELECT modality, timepoint, count(*) AS n,
               quantile_cont(nlr, 0.25) AS q1, median(nlr) AS median,
               quantile_cont(nlr, 0.75) AS q3
        FROM long WHERE nlr IS NOT NULL GROUP BY ALL ORDER BY ALL
        """,
    )
    totals = con.execute(
        f"SELECT count(*), {', '.join(f'count({c})' for c in NLR_TIMEPOINTS)} FROM session_labs"
    ).fetchone()
    sessions = totals[0]
    left = [
        (f"sessions without {c} (no NLR in its window)", sessions - n)
        for c, n in zip(NLR_TIMEPOINTS, totals[1:], strict=True)
    ]
    return FigureData(
        frame,
        f"session_labs of all {sessions:,} sessions, with the session's modality (sessions); "
        "unnest: each session contributes to each time point where it has a value",
        left,
    )


# --- overview -----------------------------------------------------------------------------


def overview(con: duckdb.DuckDBPyConnection, max_session_number: int) -> dict[str, object]:
    """Patient counts, sessions by modality and number, and flag prevalence by session."""
    patients, treated = con.execute(
        "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM survival)"
    ).fetchone()
    sessions = _df(
        con,
        """
        SELECT modality, count(*) AS sessions, count(DISTINCT patient_key) AS patients,
               count(*) FILTER (WHERE session_number = 1) AS first_sessions
        FROM sessions GROUP BY GROUPING SETS ((modality), ()) ORDER BY modality IS NULL, modality
        """,
    )
    sessions["modality"] = sessions["modality"].fillna("all")
    flag_cols = ", ".join(PROGNOSTIC_FLAGS)
    prevalence = _df(
        con,
        f"""
        WITH long AS (
            UNPIVOT (SELECT least(session_number, $m + 1) AS session_number, {flag_cols}
                     FROM session_flags)
            ON {flag_cols} INTO NAME flag VALUE present
        )
        SELECT session_number, flag, count(*) FILTER (WHERE present) AS n_true,
               count(present) AS n_known
        FROM long GROUP BY ALL ORDER BY ALL
        """,
        {"m": max_session_number},
    )
    session_total = con.execute("SELECT count(*) FROM session_flags").fetchone()[0]
    follow = con.execute("SELECT os_days, os_event FROM survival WHERE os_days IS NOT NULL")
    follow_up = follow.fetchnumpy()
    return {
        "patients": int(patients),
        "treated": int(treated),
        "sessions": sessions,
        "prevalence": prevalence,
        "flag_sessions": int(session_total),
        "os_days": np.asarray(follow_up["os_days"], dtype=float),
        "os_event": np.asarray(follow_up["os_event"], dtype=bool),
    }
