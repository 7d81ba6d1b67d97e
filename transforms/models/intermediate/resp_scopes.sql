-- depends_on: patient_ids, session_context
-- reads: in_imaging_studies
-- The scopes a response is computed in: the course (B2: baseline before the
-- first session, follow-ups open-ended) and, for every session, the scopes
-- `overall`, `in_field` and `out_field` (B3, F1, F2: baseline before that
-- session, follow-ups until the next session, exclusive). `out_field` is never
-- published; it decides out_of_field_progression. The baseline is the last
-- study on or before the session date within the look-back (closed interval,
-- B6); none gives a null baseline_date.
-- The patients numbered in patient_ids: only those with a session have scopes.
CREATE OR REPLACE TEMP TABLE resp_patients AS
SELECT patient_key, pid FROM patient_ids WHERE has_session;

CREATE OR REPLACE TEMP TABLE resp_studies AS
SELECT DISTINCT p.pid, i.study_date
FROM in_imaging_studies AS i
JOIN resp_patients AS p ON p.patient_key = i.patient_key;

-- One row per session, in patient and session order (session_key), with its
-- baseline (B3) and the date of the next session (end of its follow-ups): the
-- shared session context.
CREATE OR REPLACE TEMP TABLE resp_sessions AS
SELECT
    pid, session_id, session_number, modality, session_date, treated_segments,
    next_session_date, session_order, session_key, baseline_date
FROM session_context;

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
