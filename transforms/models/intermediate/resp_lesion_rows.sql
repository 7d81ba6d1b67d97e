-- depends_on: resp_lesion_input, resp_scopes
-- reads:
-- R1: targets are fixed at the course baseline. A row with role `target` after
-- the course baseline whose lesion was not a target there is a data error: it
-- is quarantined (reason code target_after_baseline) and takes no part in any
-- response. Rows of patients without a course baseline are kept as they are
-- (no response uses them; rows of patients without a session get no pid).
CREATE OR REPLACE TEMP TABLE resp_courses AS
SELECT p.patient_key, sc.pid, sc.baseline_date AS course_baseline
FROM resp_scopes AS sc
JOIN resp_patients AS p ON p.pid = sc.pid
WHERE sc.scope = 'course';

CREATE OR REPLACE TEMP TABLE resp_course_targets AS
SELECT DISTINCT c.pid, l.lesion_id
FROM resp_lesion_input AS l
JOIN resp_courses AS c ON c.patient_key = l.patient_key AND c.course_baseline = l.study_date
WHERE l.role = 'target';

-- A view: resp_lesion_sizes reads the kept rows, resp_quarantine_out the others.
CREATE OR REPLACE TEMP VIEW resp_lesion_rows AS
SELECT
    c.pid, l.* EXCLUDE (patient_key),
    coalesce(
        l.role = 'target' AND l.study_date > c.course_baseline AND b.lesion_id IS NULL, FALSE
    ) AS target_after_baseline
FROM resp_lesion_input AS l
LEFT JOIN resp_courses AS c ON c.patient_key = l.patient_key
LEFT JOIN resp_course_targets AS b ON b.pid = c.pid AND b.lesion_id = l.lesion_id
