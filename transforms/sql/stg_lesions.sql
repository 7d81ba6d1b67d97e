CREATE OR REPLACE TEMP VIEW parsed AS
SELECT
    patient_key, source_file, source_row,
    txt(patient_key) AS patient_key_txt,
    txt(study_date) AS study_date_txt, as_date(study_date) AS study_date,
    txt(lesion_id) AS lesion_id_txt, txt(lesion_id) AS lesion_id,
    txt(role) AS role_txt, replace(folded(role), ' ', '_') AS role,
    txt(organ) AS organ_txt, replace(folded(organ), ' ', '_') AS organ,
    replace(folded(organ), ' ', '_') = 'lymph_node' AS is_nodal,
    txt(liver_segment) AS liver_segment_txt, as_segment(liver_segment) AS liver_segment,
    txt(status) AS status_txt, replace(folded(status), ' ', '_') AS status,
    txt(longest_diameter_mm) AS longest_diameter_mm_txt,
    as_mm(longest_diameter_mm) AS longest_diameter_mm,
    txt(short_axis_mm) AS short_axis_mm_txt, as_mm(short_axis_mm) AS short_axis_mm,
    txt(viable_diameter_mm) AS viable_diameter_mm_txt, as_mm(viable_diameter_mm) AS viable_diameter_mm,
    txt(viable_perpendicular_mm) AS viable_perpendicular_mm_txt,
    as_mm(viable_perpendicular_mm) AS viable_perpendicular_mm,
    txt(attenuation_hu) AS attenuation_hu_txt, as_double(attenuation_hu) AS attenuation_hu
FROM raw_lesions
