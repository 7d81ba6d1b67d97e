-- The scopes a response is computed in: the course (B2: baseline before the
-- first session, follow-ups open-ended) and, for every session, the scopes
-- `overall`, `in_field` and `out_field` (B3, F1, F2: baseline before that
-- session, follow-ups until the next session, exclusive). `out_field` is never
-- published; it decides out_of_field_progression. The baseline is the last
-- study on or before the session date within the look-back (closed interval,
-- B6); none gives a null baseline_date.
CREATE OR REPLACE TEMP TABLE resp_studies AS
SELECT DISTINCT patient_key, study_date FROM imaging_studies;

CREATE OR REPLACE TEMP TABLE resp_scopes AS
WITH ordered AS (
    SELECT
        patient_key, session_id, session_number, modality, session_date, treated_segments,
        lead(session_date) OVER w AS next_session_date,
        row_number() OVER w AS session_order,
        row_number() OVER (ORDER BY patient_key, session_date, session_number, session_id)
            AS session_key
    FROM sessions
    WINDOW w AS (PARTITION BY patient_key ORDER BY session_date, session_number, session_id)
),
with_baseline AS (
    SELECT
        o.*,
        CASE WHEN o.session_date - s.study_date <= getvariable('baseline_lookback_days')
             THEN s.study_date END AS baseline_date
    FROM ordered AS o
    ASOF LEFT JOIN resp_studies AS s
        ON o.patient_key = s.patient_key AND o.session_date >= s.study_date
),
scopes AS (
    SELECT
        patient_key, 'course' AS scope, NULL::BIGINT AS session_key, NULL::VARCHAR AS session_id,
        NULL::INTEGER AS session_number, NULL::VARCHAR AS modality,
        session_date AS start_date, NULL::DATE AS end_date,
        NULL::INTEGER[] AS treated_segments, baseline_date
    FROM with_baseline
    WHERE session_order = 1
    UNION ALL
    SELECT
        w.patient_key, k.scope, w.session_key, w.session_id, w.session_number, w.modality,
        w.session_date, w.next_session_date, w.treated_segments, w.baseline_date
    FROM with_baseline AS w
    CROSS JOIN (VALUES ('overall'), ('in_field'), ('out_field')) AS k(scope)
)
SELECT row_number() OVER (ORDER BY patient_key, start_date, session_key, scope) AS scope_id, *
FROM scopes
