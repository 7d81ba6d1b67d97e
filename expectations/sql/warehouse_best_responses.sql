-- Frame of suite warehouse.best_responses: one row per best_responses row.
-- Consistency with the assessments: the best response must have been seen at
-- some follow-up of its scope (or be NE), and a progression date must be the
-- date of an assessment of that scope.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_best_responses_dup_keys AS
WITH hashed AS (
    SELECT patient_key, criteria, scope, hash(patient_key, criteria, scope) AS key_hash
    FROM best_responses
)
SELECT patient_key, criteria, scope
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

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
-- Per best-response row: whether its bor was seen, and its progression date assessed.
matched AS (
    SELECT b.patient_key, b.criteria, b.scope,
        bool_or(a.overall_response = b.bor) AS bor_seen,
        bool_or(a.study_date = b.progression_date) AS progression_assessed
    FROM best_responses AS b
    JOIN assessments AS a
        ON a.patient_key = b.patient_key AND a.criteria = b.criteria AND a.scope = b.scope
    GROUP BY ALL
),
ranking AS (
    SELECT unnest(getvariable('response_ranking')) AS response,
        generate_subscripts(getvariable('response_ranking'), 1) AS rank
)
SELECT
    b.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    b.criteria,
    b.bor,
    b.bor_confirmed,
    p.patient_key IS NOT NULL AS patient_known,
    b.scope = getvariable('course_scope') OR ss.session_id IS NOT NULL AS scope_known,
    CASE WHEN m.scope IS NOT NULL AND b.bor IS NOT NULL THEN b.bor = 'NE' OR m.bor_seen END
        AS bor_seen_in_assessments,
    CASE WHEN m.scope IS NOT NULL AND b.progression_date IS NOT NULL THEN m.progression_assessed END
        AS progression_date_is_an_assessment,
    rc.rank >= rb.rank AS bor_confirmed_not_better_than_bor,
    CASE WHEN b.bor = 'PD' THEN b.progression_date IS NOT NULL END AS pd_has_progression_date,
    CASE WHEN b.dor_days IS NOT NULL THEN b.first_response_date IS NOT NULL END AS dor_only_after_response,
    b.first_response_date <= b.progression_date AS response_not_after_progression,
    b.pfs_days >= 0 AS pfs_days_not_negative,
    b.ttp_days >= 0 AS ttp_days_not_negative,
    b.dor_days >= 0 AS dor_days_not_negative
FROM best_responses AS b
LEFT JOIN dq_wh_best_responses_dup_keys AS d
    ON d.patient_key = b.patient_key AND d.criteria = b.criteria AND d.scope = b.scope
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = b.patient_key
LEFT JOIN dq_wh_sessions_once AS ss ON ss.patient_key = b.patient_key AND ss.session_id = b.scope
LEFT JOIN matched AS m ON m.patient_key = b.patient_key AND m.criteria = b.criteria AND m.scope = b.scope
LEFT JOIN ranking AS rb ON rb.response = b.bor
LEFT JOIN ranking AS rc ON rc.response = b.bor_confirmed;
