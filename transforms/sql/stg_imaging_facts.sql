SELECT
    patient_key, study_date, modality, extrahepatic_disease, ascites, liver_tumor_burden_pct,
    portal_vein_occlusion, source_file, source_row
FROM stg_imaging_checked
WHERE reason_code IS NULL
