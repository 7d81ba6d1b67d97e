-- Frame of suite warehouse.best_responses: one row per best_responses row.
-- Consistency with the assessments: the best response must have been seen at
-- some follow-up of its scope (or be NE), and a progression date must be the
-- date of an assessment of that scope.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH assessments AS (
    SELECT patient_key, criteria, getvariable('course_scope') AS scope, study_date, overall_response
    FROM timepoint_responses
    WHERE baseline_date IS NULL OR study_date > baseline_date
    UNION ALL
    SELECT patient_key, criteria, session_id AS scope, study_date, overall_response
    FROM session_responses
    WHERE scope = 'overall' AND (baseline_date IS NULL OR study_date > baseline_date)
),
seen AS (
    SELECT DISTINCT patient_key, criteria, scope, overall_response FROM assessments
),
assessed_dates AS (
    SELECT DISTINCT patient_key, criteria, scope, study_date FROM assessments
),
scopes_present AS (
    SELECT DISTINCT patient_key, criteria, scope FROM assessments
),
ranking AS (
    SELECT unnest(getvariable('response_ranking')) AS response,
        generate_subscripts(getvariable('response_ranking'), 1) AS rank
),
rows AS (
    SELECT *, row_number() OVER (PARTITION BY patient_key, criteria, scope) AS key_number
    FROM best_responses
)
SELECT
    b.patient_key AS patient_key,
    b.key_number > 1 AS is_duplicate_key,
    b.criteria,
    b.bor,
    b.bor_confirmed,
    p.patient_key IS NOT NULL AS patient_known,
    b.scope = getvariable('course_scope') OR ss.session_id IS NOT NULL AS scope_known,
    CASE WHEN sp.scope IS NOT NULL AND b.bor IS NOT NULL THEN
        b.bor = 'NE' OR sn.overall_response IS NOT NULL
    END AS bor_seen_in_assessments,
    CASE WHEN sp.scope IS NOT NULL AND b.progression_date IS NOT NULL THEN ad.study_date IS NOT NULL END
        AS progression_date_is_an_assessment,
    rc.rank >= rb.rank AS bor_confirmed_not_better_than_bor,
    CASE WHEN b.bor = 'PD' THEN b.progression_date IS NOT NULL END AS pd_has_progression_date,
    CASE WHEN b.dor_days IS NOT NULL THEN b.first_response_date IS NOT NULL END AS dor_only_after_response,
    b.first_response_date <= b.progression_date AS response_not_after_progression,
    b.pfs_days >= 0 AS pfs_days_not_negative,
    b.ttp_days >= 0 AS ttp_days_not_negative,
    b.dor_days >= 0 AS dor_days_not_negative
FROM rows AS b
LEFT JOIN wh_patients_once AS p ON p.patient_key = b.patient_key
LEFT JOIN wh_sessions_once AS ss ON ss.patient_key = b.patient_key AND ss.session_id = b.scope
LEFT JOIN scopes_present AS sp
    ON sp.patient_key = b.patient_key AND sp.criteria = b.criteria AND sp.scope = b.scope
LEFT JOIN seen AS sn
    ON sn.patient_key = b.patient_key AND sn.criteria = b.criteria AND sn.scope = b.scope
    AND sn.overall_response = b.bor
LEFT JOIN assessed_dates AS ad
    ON ad.patient_key = b.patient_key AND ad.criteria = b.criteria AND ad.scope = b.scope
    AND ad.study_date = b.progression_date
LEFT JOIN ranking AS rb ON rb.response = b.bor
LEFT JOIN ranking AS rc ON rc.response = b.bor_confirmed;
