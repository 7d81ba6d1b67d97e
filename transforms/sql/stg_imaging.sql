CREATE OR REPLACE TEMP VIEW parsed AS
SELECT
    patient_key, source_file, source_row,
    txt(patient_key) AS patient_key_txt,
    txt(study_date) AS study_date_txt, as_date(study_date) AS study_date,
    txt(modality) AS modality_txt,
    CASE WHEN upper(txt(modality)) = 'MRI' THEN 'MR' ELSE upper(txt(modality)) END AS modality,
    txt(extrahepatic_disease) AS extrahepatic_disease_txt,
    as_bool(extrahepatic_disease) AS extrahepatic_disease,
    txt(ascites) AS ascites_txt, as_bool(ascites) AS ascites,
    txt(liver_tumor_burden_pct) AS liver_tumor_burden_pct_txt,
    as_double(liver_tumor_burden_pct) AS liver_tumor_burden_pct,
    txt(portal_vein_occlusion) AS portal_vein_occlusion_txt,
    as_bool(portal_vein_occlusion) AS portal_vein_occlusion
FROM raw_imaging
