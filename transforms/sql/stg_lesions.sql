CREATE OR REPLACE TEMP VIEW stg_lesions_parsed AS
SELECT
    patient_key, source_file, source_row,
    stg_txt(patient_key) AS patient_key_txt,
    stg_txt(study_date) AS study_date_txt, stg_as_date(study_date) AS study_date,
    stg_txt(lesion_id) AS lesion_id_txt, stg_txt(lesion_id) AS lesion_id,
    stg_txt(role) AS role_txt, replace(stg_folded(role), ' ', '_') AS role,
    stg_txt(organ) AS organ_txt, replace(stg_folded(organ), ' ', '_') AS organ,
    replace(stg_folded(organ), ' ', '_') = 'lymph_node' AS is_nodal,
    stg_txt(liver_segment) AS liver_segment_txt, stg_as_segment(liver_segment) AS liver_segment,
    stg_txt(status) AS status_txt, replace(stg_folded(status), ' ', '_') AS status,
    stg_txt(longest_diameter_mm) AS longest_diameter_mm_txt,
    stg_as_mm(longest_diameter_mm) AS longest_diameter_mm,
    stg_txt(short_axis_mm) AS short_axis_mm_txt, stg_as_mm(short_axis_mm) AS short_axis_mm,
    stg_txt(viable_diameter_mm) AS viable_diameter_mm_txt, stg_as_mm(viable_diameter_mm) AS viable_diameter_mm,
    stg_txt(viable_perpendicular_mm) AS viable_perpendicular_mm_txt,
    stg_as_mm(viable_perpendicular_mm) AS viable_perpendicular_mm,
    stg_txt(attenuation_hu) AS attenuation_hu_txt, stg_as_double(attenuation_hu) AS attenuation_hu
FROM stg_lesions_raw
