-- Course baselines (response-criteria B2): the last imaging study on or
-- before the patient's first session and no more than baseline_lookback_days
-- before it. Computed once from the raw inputs (in_*) and once from the
-- public tables, for the checks that depend on the baseline (R1, RECIST
-- baseline conformance, completeness of follow-up measurements).
CREATE OR REPLACE TEMP TABLE dq_in_course_baseline AS
WITH first_session AS (
    SELECT dq_key_of(patient_key) AS patient_key, min(dq_as_date(session_date)) AS first_session
    FROM dq_raw_sessions
    WHERE dq_given(patient_key)
    GROUP BY ALL
),
studies AS (
    SELECT DISTINCT dq_key_of(patient_key) AS patient_key, dq_as_date(study_date) AS study_date
    FROM dq_raw_imaging
    WHERE dq_given(patient_key) AND dq_as_date(study_date) IS NOT NULL
)
SELECT f.patient_key, max(s.study_date) AS baseline_date
FROM first_session AS f
JOIN studies AS s
    ON s.patient_key = f.patient_key
    AND s.study_date <= f.first_session
    AND s.study_date >= f.first_session - getvariable('baseline_lookback_days')::INTEGER
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE dq_wh_course_baseline AS
WITH first_session AS (
    SELECT patient_key, min(session_date) AS first_session FROM sessions GROUP BY ALL
)
SELECT f.patient_key, max(s.study_date) AS baseline_date
FROM first_session AS f
JOIN imaging_studies AS s
    ON s.patient_key = f.patient_key
    AND s.study_date <= f.first_session
    AND s.study_date >= f.first_session - getvariable('baseline_lookback_days')::INTEGER
GROUP BY ALL;

-- Target lesions of the course (R1): role `target` at the baseline study.
CREATE OR REPLACE TEMP TABLE dq_wh_baseline_targets AS
SELECT DISTINCT l.patient_key, l.lesion_id, l.organ, l.is_nodal
FROM lesion_measurements AS l
JOIN dq_wh_course_baseline AS b ON b.patient_key = l.patient_key AND l.study_date = b.baseline_date
WHERE l.role = 'target';

-- One row per patient key, for joins that must not multiply the rows of a
-- frame even when a key is duplicated (that is reported by its own check).
CREATE OR REPLACE TEMP TABLE dq_in_patients_once AS
SELECT dq_key_of(patient_key) AS patient_key, min(dq_as_number(birth_year)) AS birth_year,
    min(dq_as_date(death_date)) AS death_date
FROM dq_raw_patients WHERE dq_given(patient_key) GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE dq_wh_patients_once AS
SELECT patient_key, min(birth_year) AS birth_year, min(death_date) AS death_date
FROM patients GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE dq_wh_sessions_once AS
SELECT patient_key, session_id, min(session_date) AS session_date,
    min(session_number) AS session_number, min(modality) AS modality
FROM sessions GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE dq_wh_studies_once AS
SELECT DISTINCT patient_key, study_date FROM imaging_studies;
