-- Frame of suite warehouse.imaging_studies: one row per imaging_studies row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_imaging_studies_dup_keys AS
WITH hashed AS (
    SELECT patient_key, study_date, hash(patient_key, study_date) AS key_hash
    FROM imaging_studies
)
SELECT patient_key, study_date
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH keyed AS (
    SELECT *
    FROM imaging_studies
),
-- R2/R3: a follow-up study is evaluable when every baseline target has a size there.
target_sizes AS (
    SELECT l.patient_key, l.study_date, l.lesion_id,
        bool_and(dq_has_size(l.status, l.is_nodal, l.longest_diameter_mm, l.short_axis_mm)) AS sized
    FROM lesion_measurements AS l
    SEMI JOIN dq_wh_baseline_targets AS t ON t.patient_key = l.patient_key AND t.lesion_id = l.lesion_id
    GROUP BY ALL
),
followups AS (
    SELECT s.patient_key, s.study_date,
        bool_and(coalesce(z.sized, FALSE)) AS all_targets_measured
    FROM dq_wh_studies_once AS s
    JOIN dq_wh_course_baseline AS b ON b.patient_key = s.patient_key AND s.study_date > b.baseline_date
    JOIN dq_wh_baseline_targets AS t ON t.patient_key = s.patient_key
    LEFT JOIN target_sizes AS z
        ON z.patient_key = s.patient_key AND z.study_date = s.study_date AND z.lesion_id = t.lesion_id
    GROUP BY ALL
)
SELECT
    s.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    s.modality,
    s.liver_tumor_burden_pct,
    p.patient_key IS NOT NULL AS patient_known,
    dq_not_future(s.study_date) AS study_date_not_in_future,
    year(s.study_date) >= p.birth_year AS study_not_before_birth,
    s.study_date <= p.death_date AS study_not_after_death,
    f.all_targets_measured
FROM keyed AS s
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = s.patient_key
LEFT JOIN followups AS f ON f.patient_key = s.patient_key AND f.study_date = s.study_date
LEFT JOIN dq_wh_imaging_studies_dup_keys AS d ON d.patient_key = s.patient_key AND d.study_date = s.study_date;
