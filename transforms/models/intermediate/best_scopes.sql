-- depends_on:
-- reads: in_sessions
-- Scopes for best_responses from the sessions table (response-criteria E5):
-- the course starts at the first session and has no event window; a session
-- scope starts at its session and its events end at the next session.

SELECT
    patient_key,
    'course' AS scope,
    min(session_date) AS start_date,
    CAST(NULL AS DATE) AS event_window_end
FROM in_sessions
GROUP BY patient_key
UNION ALL
SELECT
    patient_key,
    session_id AS scope,
    session_date AS start_date,
    lead(session_date) OVER (
        PARTITION BY patient_key ORDER BY session_date, session_number
    ) AS event_window_end
FROM in_sessions;
