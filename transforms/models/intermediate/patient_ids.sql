-- depends_on:
-- reads: in_sessions, in_lab_results
-- The one place the patients are numbered: a small integer (pid, in patient_key
-- order) per patient with a session or a lab result, so that the joins and
-- groupings of the response and lab models compare integers, not 64-character
-- keys (several times cheaper over millions of rows). Outputs carry patient_key
-- again. has_session: only such patients have scopes and responses.
CREATE OR REPLACE TEMP TABLE patient_ids AS
SELECT
    patient_key,
    (row_number() OVER (ORDER BY patient_key))::INTEGER AS pid,
    bool_or(has_session) AS has_session
FROM (
    SELECT patient_key, TRUE AS has_session FROM in_sessions
    UNION ALL
    SELECT patient_key, FALSE AS has_session FROM in_lab_results
)
WHERE patient_key IS NOT NULL
GROUP BY patient_key
