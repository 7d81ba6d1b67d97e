-- R1: targets are fixed at the course baseline. A row with role `target` after
-- the course baseline whose lesion was not a target there is a data error: it
-- is quarantined (reason code target_after_baseline) and takes no part in any
-- response. Rows of patients without a course baseline are kept as they are
-- (no response uses them; rows of patients without a session get no pid).
CREATE OR REPLACE TEMP TABLE resp_lesion_rows AS
WITH course AS (
    SELECT p.patient_key, sc.pid, sc.baseline_date AS course_baseline
    FROM resp_scopes AS sc
    JOIN resp_patients AS p ON p.pid = sc.pid
    WHERE sc.scope = 'course'
),
keyed AS (
    SELECT c.pid, c.course_baseline, l.* EXCLUDE (patient_key)
    FROM lesion_measurements AS l
    LEFT JOIN course AS c ON c.patient_key = l.patient_key
),
baseline_targets AS (
    SELECT DISTINCT pid, lesion_id
    FROM keyed
    WHERE role = 'target' AND study_date = course_baseline
)
SELECT
    k.*,
    coalesce(
        k.role = 'target' AND k.study_date > k.course_baseline AND b.lesion_id IS NULL, FALSE
    ) AS target_after_baseline
FROM keyed AS k
LEFT JOIN baseline_targets AS b ON b.pid = k.pid AND b.lesion_id = k.lesion_id
