-- Frame of suite warehouse.imaging_studies: one row per imaging_studies row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH keyed AS (
    SELECT *, row_number() OVER (PARTITION BY patient_key, study_date ORDER BY source_file, source_row) AS key_number
    FROM imaging_studies
),
-- R2/R3: a follow-up study is evaluable when every baseline target has a size there.
target_sizes AS (
    SELECT patient_key, study_date, lesion_id,
        bool_and(has_size(status, is_nodal, longest_diameter_mm, short_axis_mm)) AS sized
    FROM lesion_measurements
    GROUP BY ALL
),
followups AS (
    SELECT s.patient_key, s.study_date,
        bool_and(coalesce(z.sized, FALSE)) AS all_targets_measured
    FROM wh_studies_once AS s
    JOIN wh_course_baseline AS b ON b.patient_key = s.patient_key AND s.study_date > b.baseline_date
    JOIN wh_baseline_targets AS t ON t.patient_key = s.patient_key
    LEFT JOIN target_sizes AS z
        ON z.patient_key = s.patient_key AND z.study_date = s.study_date AND z.lesion_id = t.lesion_id
    GROUP BY ALL
)
SELECT
    s.patient_key AS patient_key,
    s.key_number > 1 AS is_duplicate_key,
    s.modality,
    s.liver_tumor_burden_pct,
    p.patient_key IS NOT NULL AS patient_known,
    not_future(s.study_date) AS study_date_not_in_future,
    year(s.study_date) >= p.birth_year AS study_not_before_birth,
    s.study_date <= p.death_date AS study_not_after_death,
    f.all_targets_measured
FROM keyed AS s
LEFT JOIN wh_patients_once AS p ON p.patient_key = s.patient_key
LEFT JOIN followups AS f ON f.patient_key = s.patient_key AND f.study_date = s.study_date;
