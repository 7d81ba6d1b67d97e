-- depends_on: patient_ids
-- reads: in_sessions, in_imaging_studies
-- The session context, one definition for the responses and the labs: one row per
-- session, in patient and session order (session_key; session_order counts a
-- patient's sessions), every session column kept, with the date of the next
-- session (a session scope's follow-ups and the labs' post-session windows end
-- there) and the session baseline study (response-criteria B3: the last study on
-- or before the session date within response.baseline_lookback_days, a closed
-- interval, B6; none gives a null baseline_date). The labs read that study's
-- findings (P3-P5, G6, G7); the course baseline (B2) is the first session's.
CREATE OR REPLACE TEMP TABLE session_context AS
WITH ordered AS (
    SELECT
        s.*,
        p.pid,
        lead(s.session_date) OVER w AS next_session_date,
        row_number() OVER w AS session_order,
        row_number() OVER (ORDER BY p.pid, s.session_date, s.session_number, s.session_id)
            AS session_key
    FROM in_sessions AS s
    JOIN patient_ids AS p ON p.patient_key = s.patient_key
    WINDOW w AS (PARTITION BY p.pid ORDER BY s.session_date, s.session_number, s.session_id)
),
studies AS (
    SELECT DISTINCT p.pid, i.study_date
    FROM in_imaging_studies AS i
    JOIN patient_ids AS p ON p.patient_key = i.patient_key
    WHERE p.has_session
)
SELECT
    o.*,
    CASE WHEN o.session_date - st.study_date <= getvariable('baseline_lookback_days')
         THEN st.study_date END AS baseline_date
FROM ordered AS o
ASOF LEFT JOIN studies AS st
    ON o.pid = st.pid AND o.session_date >= st.study_date
