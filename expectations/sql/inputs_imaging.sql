-- Frame of suite inputs.imaging: one row per raw imaging row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        *,
        as_date(study_date) AS study_d,
        row_number() OVER (
            PARTITION BY txt(patient_key), txt(study_date), txt(modality), txt(extrahepatic_disease),
                txt(ascites), txt(liver_tumor_burden_pct), txt(portal_vein_occlusion)
            ORDER BY source_file, source_row
        ) AS copy_number,
        row_number() OVER (
            PARTITION BY txt(patient_key), coalesce(as_date(study_date)::VARCHAR, txt(study_date))
            ORDER BY source_file, source_row
        ) AS key_number
    FROM in_imaging
)
SELECT
    txt(s.patient_key) AS patient_key,
    given(s.patient_key) AS patient_key_given,
    given(s.study_date) AS study_date_given,
    given(s.modality) AS modality_given,
    s.copy_number > 1 AS is_duplicate_row,
    CASE WHEN given(s.patient_key) AND s.copy_number = 1 THEN s.key_number > 1 END
        AS is_duplicate_key,
    readable(s.study_date, s.study_d) AS study_date_readable,
    upper(txt(s.modality)) AS modality,
    spelling(s.extrahepatic_disease) AS extrahepatic_disease,
    spelling(s.ascites) AS ascites,
    spelling(s.portal_vein_occlusion) AS portal_vein_occlusion,
    readable(s.liver_tumor_burden_pct, as_number(s.liver_tumor_burden_pct))
        AS liver_tumor_burden_pct_readable,
    as_number(s.liver_tumor_burden_pct) AS liver_tumor_burden_pct,
    CASE WHEN given(s.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known,
    not_future(s.study_d) AS study_date_not_in_future,
    year(s.study_d) >= p.birth_year AS study_not_before_birth,
    s.study_d <= p.death_date AS study_not_after_death
FROM parsed AS s
LEFT JOIN in_patients_once AS p ON p.patient_key = txt(s.patient_key);
