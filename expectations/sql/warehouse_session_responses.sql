-- Frame of suite warehouse.session_responses: one row per session_responses row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_session_responses_dup_keys AS
WITH hashed AS (
    SELECT patient_key, criteria, session_id, scope, study_date, hash(patient_key, criteria, session_id, scope, study_date) AS key_hash
    FROM session_responses
)
SELECT patient_key, criteria, session_id, scope, study_date
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH next_sessions AS (
    SELECT patient_key, session_id, session_date, session_number, modality,
        lead(session_date) OVER (PARTITION BY patient_key ORDER BY session_date, session_id) AS next_session_date
    FROM dq_wh_sessions_once
),
rows AS (
    SELECT
        *,
        baseline_date IS NULL OR study_date > baseline_date AS is_followup
    FROM session_responses
)
SELECT
    r.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    r.criteria,
    r.scope,
    r.modality,
    r.target_response,
    r.nontarget_response,
    r.overall_response,
    n.session_id IS NOT NULL AS session_known,
    s.patient_key IS NOT NULL AS study_known,
    CASE WHEN n.session_id IS NOT NULL THEN
        r.session_number = n.session_number AND r.modality = n.modality
    END AS session_number_and_modality_match_sessions,
    r.sum_unit IS NOT DISTINCT FROM CASE WHEN r.criteria = 'EASL' THEN 'mm2' ELSE 'mm' END
        AS sum_unit_matches_criteria,
    r.criteria = 'Choi'
        OR (r.mean_hu IS NULL AND r.baseline_mean_hu IS NULL
            AND r.pct_change_hu_from_baseline IS NULL) AS density_only_for_choi,
    CASE WHEN r.is_followup THEN r.overall_response IS NOT NULL END AS followup_has_response,
    CASE WHEN r.is_followup THEN coalesce(trim(r.reason), '') <> '' END AS followup_has_reason,
    CASE WHEN NOT r.is_followup THEN
        r.target_response IS NULL AND r.nontarget_response IS NULL AND r.overall_response IS NULL
    END AS baseline_row_has_no_response,
    CASE WHEN r.is_followup AND n.session_id IS NOT NULL THEN r.study_date > n.session_date END
        AS followup_after_session,
    CASE WHEN r.is_followup AND n.next_session_date IS NOT NULL THEN r.study_date < n.next_session_date END
        AS followup_before_next_session,
    CASE WHEN n.session_id IS NOT NULL AND r.days_after_session IS NOT NULL THEN
        r.days_after_session = date_diff('day', n.session_date, r.study_date)
    END AS days_after_session_consistent,
    r.days_from_baseline >= 0 AS days_from_baseline_not_negative,
    CASE WHEN r.is_followup THEN r.days_after_session >= 0 END
        AS followup_days_after_session_not_negative
FROM rows AS r
LEFT JOIN next_sessions AS n ON n.patient_key = r.patient_key AND n.session_id = r.session_id
LEFT JOIN dq_wh_studies_once AS s ON s.patient_key = r.patient_key AND s.study_date = r.study_date
LEFT JOIN dq_wh_session_responses_dup_keys AS d ON d.patient_key = r.patient_key AND d.criteria = r.criteria AND d.session_id = r.session_id AND d.scope = r.scope AND d.study_date = r.study_date;
