-- depends_on: session_responses, timepoint_responses
-- reads:
-- Assessments for best_responses from the warehouse response tables
-- (response-criteria E5): the course uses timepoint_responses, a session scope
-- (scope = session_id) uses its `overall` session_responses.
-- has_target_disease and progression_date_hint are taken when the timepoint
-- engine provides them; otherwise a scope has target disease when any of its
-- rows has a target response (R12 gives one at every follow-up with targets,
-- R13/R14 none), and progression is dated to the PD study itself.
-- That fallback reads every row of the scope, so it is worked out only for the
-- scopes that have a row without has_target_disease (none when the engine
-- provides it: then nothing is grouped).

WITH assessed AS (
    SELECT
        TRUE AS is_course, patient_key, criteria, 'course' AS scope, study_date,
        overall_response, target_response, has_target_disease, progression_date_hint
    FROM mart_timepoint_responses
    UNION ALL
    SELECT
        FALSE, patient_key, criteria, session_id, study_date,
        overall_response, target_response, has_target_disease, progression_date_hint
    FROM mart_session_responses
    WHERE scope = 'overall'
),
unknown AS (
    SELECT DISTINCT is_course, patient_key, criteria, scope
    FROM assessed
    WHERE has_target_disease IS NULL
),
fallback AS (
    SELECT
        a.is_course, a.patient_key, a.criteria, a.scope,
        bool_or(a.target_response IS NOT NULL) AS has_target_disease
    FROM assessed AS a
    SEMI JOIN unknown AS u
        ON u.is_course = a.is_course
       AND u.patient_key IS NOT DISTINCT FROM a.patient_key
       AND u.criteria IS NOT DISTINCT FROM a.criteria
       AND u.scope IS NOT DISTINCT FROM a.scope
    GROUP BY ALL
)
SELECT
    a.patient_key,
    a.criteria,
    a.scope,
    a.study_date,
    a.overall_response,
    coalesce(a.has_target_disease, f.has_target_disease) AS has_target_disease,
    a.progression_date_hint
FROM assessed AS a
LEFT JOIN fallback AS f
    ON f.is_course = a.is_course
   AND f.patient_key IS NOT DISTINCT FROM a.patient_key
   AND f.criteria IS NOT DISTINCT FROM a.criteria
   AND f.scope IS NOT DISTINCT FROM a.scope
