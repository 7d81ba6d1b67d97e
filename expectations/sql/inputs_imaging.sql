-- Frame of suite inputs.imaging: one row per raw imaging row. Duplicates as in
-- inputs_patients.sql; the key is the patient and the study date.
CREATE OR REPLACE TEMP TABLE dq_in_imaging_copies AS
WITH keyed AS (
    SELECT *, coalesce(dq_as_date(study_date)::VARCHAR, dq_txt(study_date)) AS study_key
    FROM dq_raw_imaging
),
hashed AS (
    SELECT *, hash(dq_key_of(patient_key), study_key) AS key_hash FROM keyed
)
-- Only the rows of a key's last file count: earlier ones are superseded (corrections).
SELECT source_file, source_row, copy_number > 1 AND source_file = last_file AS is_copy,
    key_number > 1 AND source_file = last_file AS is_later_of_key
FROM (
    SELECT
        source_file, source_row,
        row_number() OVER (
            PARTITION BY dq_row, source_file ORDER BY source_row
        ) AS copy_number,
        row_number() OVER (
            PARTITION BY dq_key_of(patient_key), study_key, source_file ORDER BY source_row
        ) AS key_number,
        -- rows of a key in an earlier file are superseded by its last file (a correction)
        max(source_file) OVER (PARTITION BY dq_key_of(patient_key), study_key) AS last_file
    FROM hashed
    WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
);

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        s.*,
        coalesce(c.is_copy, FALSE) AS is_copy,
        coalesce(c.is_later_of_key, FALSE) AS is_later_of_key,
        dq_as_date(s.study_date) AS study_d
    FROM dq_raw_imaging AS s
    LEFT JOIN dq_in_imaging_copies AS c ON c.source_file = s.source_file AND c.source_row = s.source_row
)
SELECT
    dq_key_of(s.patient_key) AS patient_key,
    dq_given(s.patient_key) AS patient_key_given,
    dq_given(s.study_date) AS study_date_given,
    dq_given(s.modality) AS modality_given,
    s.is_copy AS is_duplicate_row,
    CASE WHEN dq_given(s.patient_key) AND NOT s.is_copy THEN s.is_later_of_key END AS is_duplicate_key,
    dq_readable(s.study_date, s.study_d) AS study_date_readable,
    upper(dq_txt(s.modality)) AS modality,
    dq_spelling(s.extrahepatic_disease) AS extrahepatic_disease,
    dq_spelling(s.ascites) AS ascites,
    dq_spelling(s.portal_vein_occlusion) AS portal_vein_occlusion,
    dq_readable(s.liver_tumor_burden_pct, dq_as_number(s.liver_tumor_burden_pct))
        AS liver_tumor_burden_pct_readable,
    dq_as_number(s.liver_tumor_burden_pct) AS liver_tumor_burden_pct,
    CASE WHEN dq_given(s.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known,
    dq_not_future(s.study_d) AS study_date_not_in_future,
    year(s.study_d) >= p.birth_year AS study_not_before_birth,
    s.study_d <= p.death_date AS study_not_after_death
FROM parsed AS s
LEFT JOIN dq_in_patients_once AS p ON p.patient_key = dq_key_of(s.patient_key);
