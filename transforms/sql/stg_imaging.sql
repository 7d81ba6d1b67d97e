CREATE OR REPLACE TEMP VIEW stg_imaging_parsed AS
SELECT
    patient_key, source_file, source_row,
    stg_txt(patient_key) AS patient_key_txt,
    stg_txt(study_date) AS study_date_txt, stg_as_date(study_date) AS study_date,
    stg_txt(modality) AS modality_txt,
    CASE WHEN upper(stg_txt(modality)) = 'MRI' THEN 'MR' ELSE upper(stg_txt(modality)) END AS modality,
    stg_txt(extrahepatic_disease) AS extrahepatic_disease_txt,
    stg_as_bool(extrahepatic_disease) AS extrahepatic_disease,
    stg_txt(ascites) AS ascites_txt, stg_as_bool(ascites) AS ascites,
    stg_txt(liver_tumor_burden_pct) AS liver_tumor_burden_pct_txt,
    stg_as_double(liver_tumor_burden_pct) AS liver_tumor_burden_pct,
    stg_txt(portal_vein_occlusion) AS portal_vein_occlusion_txt,
    stg_as_bool(portal_vein_occlusion) AS portal_vein_occlusion
FROM stg_imaging_raw
