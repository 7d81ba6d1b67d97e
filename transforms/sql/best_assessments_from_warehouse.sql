-- Assessments for best_responses from the warehouse response tables
-- (response-criteria E5): the course uses timepoint_responses, a session scope
-- (scope = session_id) uses its `overall` session_responses.
-- has_target_disease and progression_date_hint are taken when the timepoint
-- engine provides them; otherwise a scope has target disease when any of its
-- rows has a target response (R12 gives one at every follow-up with targets,
-- R13/R14 none), and progression is dated to the PD study itself.

SELECT
    patient_key,
    criteria,
    'course' AS scope,
    study_date,
    overall_response,
    coalesce(
        has_target_disease,
        bool_or(target_response IS NOT NULL) OVER (PARTITION BY patient_key, criteria)
    ) AS has_target_disease,
    progression_date_hint
FROM timepoint_responses
UNION ALL
SELECT
    patient_key,
    criteria,
    session_id AS scope,
    study_date,
    overall_response,
    coalesce(
        has_target_disease,
        bool_or(target_response IS NOT NULL) OVER (PARTITION BY patient_key, criteria, session_id)
    ) AS has_target_disease,
    progression_date_hint
FROM session_responses
WHERE scope = 'overall';
