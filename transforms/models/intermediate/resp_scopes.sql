-- depends_on:
-- reads: in_imaging_studies, in_sessions
-- The scopes a response is computed in: the course (B2: baseline before the
-- first session, follow-ups open-ended) and, for every session, the scopes
-- `overall`, `in_field` and `out_field` (B3, F1, F2: baseline before that
-- session, follow-ups until the next session, exclusive). `out_field` is never
-- published; it decides out_of_field_progression. The baseline is the last
-- study on or before the session date within the look-back (closed interval,
-- B6); none gives a null baseline_date.
-- Patients are numbered (pid, in patient_key order) so that the joins and
-- groupings below compare integers, not 20-character strings. Only patients
-- with a session have scopes, so only they get a pid.
CREATE OR REPLACE TEMP TABLE resp_patients AS
SELECT patient_key, row_number() OVER (ORDER BY patient_key) AS pid
FROM (SELECT DISTINCT patient_key FROM in_sessions WHERE patient_key IS NOT NULL);

CREATE OR REPLACE TEMP TABLE resp_studies AS
SELECT DISTINCT p.pid, i.study_date
FROM in_imaging_studies AS i
JOIN resp_patients AS p ON p.patient_key = i.patient_key;

-- One row per session, in patient and session order (session_key), with its
-- baseline (B3) and the date of the next session (end of its follow-ups).
CREATE OR REPLACE TEMP TABLE resp_sessions AS
WITH ordered AS (
    SELECT
        p.pid, s.session_id, s.session_number, s.modality, s.session_date, s.treated_segments,
        lead(s.session_date) OVER w AS next_session_date,
        row_number() OVER w AS session_order,
        row_number() OVER (ORDER BY p.pid, s.session_date, s.session_number, s.session_id)
            AS session_key
    FROM in_sessions AS s
    JOIN resp_patients AS p ON p.patient_key = s.patient_key
    WINDOW w AS (PARTITION BY p.pid ORDER BY s.session_date, s.session_number, s.session_id)
)
SELECT
    o.*,
    CASE WHEN o.session_date - st.study_date <= getvariable('baseline_lookback_days')
         THEN st.study_date END AS baseline_date
FROM ordered AS o
ASOF LEFT JOIN resp_studies AS st
    ON o.pid = st.pid AND o.session_date >= st.study_date;

CREATE OR REPLACE TEMP TABLE resp_scopes AS
WITH scopes AS (
    SELECT
        pid, 'course' AS scope, NULL::BIGINT AS session_key,
        session_date AS start_date, NULL::DATE AS end_date, baseline_date
    FROM resp_sessions
    WHERE session_order = 1
    UNION ALL
    SELECT
        s.pid, k.scope, s.session_key, s.session_date, s.next_session_date, s.baseline_date
    FROM resp_sessions AS s
    CROSS JOIN (VALUES ('overall'), ('in_field'), ('out_field')) AS k(scope)
)
SELECT row_number() OVER (ORDER BY pid, start_date, session_key, scope) AS scope_id, *
FROM scopes;

-- The three scopes of each session side by side: a baseline lesion of the
-- session is tracked once, in its `overall` scope, and counted in the
-- `in_field` or the `out_field` one as well (F1).
CREATE OR REPLACE TEMP TABLE resp_session_scopes AS
SELECT
    session_key,
    any_value(scope_id) FILTER (WHERE scope = 'overall') AS overall_id,
    any_value(scope_id) FILTER (WHERE scope = 'in_field') AS in_field_id,
    any_value(scope_id) FILTER (WHERE scope = 'out_field') AS out_field_id
FROM resp_scopes
WHERE session_key IS NOT NULL
GROUP BY session_key
