-- R1: targets are fixed at the course baseline. A row with role `target` after
-- the course baseline whose lesion was not a target there is a data error: it
-- is quarantined (reason code target_after_baseline) and takes no part in any
-- response. Rows of patients without a course baseline are kept as they are
-- (no response uses them).
CREATE OR REPLACE TEMP TABLE resp_lesion_rows AS
WITH course AS (
    SELECT patient_key, baseline_date FROM resp_scopes
    WHERE scope = 'course' AND baseline_date IS NOT NULL
),
baseline_targets AS (
    SELECT DISTINCT l.patient_key, l.lesion_id
    FROM lesion_measurements AS l
    JOIN course AS c ON c.patient_key = l.patient_key AND c.baseline_date = l.study_date
    WHERE l.role = 'target'
)
SELECT
    l.*,
    coalesce(l.role = 'target' AND l.study_date > c.baseline_date AND b.lesion_id IS NULL, FALSE)
        AS target_after_baseline
FROM lesion_measurements AS l
LEFT JOIN course AS c ON c.patient_key = l.patient_key
LEFT JOIN baseline_targets AS b ON b.patient_key = l.patient_key AND b.lesion_id = l.lesion_id
