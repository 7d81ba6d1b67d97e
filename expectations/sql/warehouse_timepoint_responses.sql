-- Frame of suite warehouse.timepoint_responses: one row per timepoint_responses row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_timepoint_responses_dup_keys AS
WITH hashed AS (
    SELECT patient_key, criteria, study_date, hash(patient_key, criteria, study_date) AS key_hash
    FROM timepoint_responses
)
SELECT patient_key, criteria, study_date
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH baselines AS (
    SELECT patient_key, criteria, count(DISTINCT baseline_date) AS baseline_dates
    FROM timepoint_responses
    GROUP BY ALL
),
rows AS (
    SELECT
        t.*,
        b.baseline_dates,
        -- a follow-up: after the baseline, or any row of a patient without one (B2, B5)
        t.baseline_date IS NULL OR t.study_date > t.baseline_date AS is_followup
    FROM timepoint_responses AS t
    JOIN baselines AS b ON b.patient_key = t.patient_key AND b.criteria = t.criteria
)
SELECT
    r.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    r.criteria,
    r.target_response,
    r.nontarget_response,
    r.overall_response,
    p.patient_key IS NOT NULL AS patient_known,
    s.patient_key IS NOT NULL AS study_known,
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
    r.study_date >= r.baseline_date AS study_not_before_baseline,
    r.baseline_dates <= 1 AS one_baseline_per_patient_and_criteria,
    CASE WHEN r.baseline_date IS NOT NULL THEN
        r.days_from_baseline IS NOT DISTINCT FROM date_diff('day', r.baseline_date, r.study_date)
    END AS days_from_baseline_consistent,
    r.days_from_baseline >= 0 AS days_from_baseline_not_negative,
    CASE WHEN r.pct_change_from_baseline IS NOT NULL AND r.baseline_sum_mm > 0 AND r.sum_mm IS NOT NULL THEN
        abs(r.pct_change_from_baseline - 100.0 * (r.sum_mm - r.baseline_sum_mm)::DOUBLE / r.baseline_sum_mm::DOUBLE)
            <= getvariable('rounding_tolerance')
    END AS pct_change_from_baseline_consistent,
    r.nadir_sum_mm <= r.baseline_sum_mm AS nadir_not_above_baseline
FROM rows AS r
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = r.patient_key
LEFT JOIN dq_wh_studies_once AS s ON s.patient_key = r.patient_key AND s.study_date = r.study_date
LEFT JOIN dq_wh_timepoint_responses_dup_keys AS d ON d.patient_key = r.patient_key AND d.criteria = r.criteria AND d.study_date = r.study_date;
