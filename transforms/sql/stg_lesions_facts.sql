SELECT
    patient_key, study_date, lesion_id, role, organ, liver_segment::INTEGER AS liver_segment,
    status, longest_diameter_mm, short_axis_mm, viable_diameter_mm, viable_perpendicular_mm,
    attenuation_hu, is_nodal,
    source_file, source_row
FROM stg_lesions_checked
WHERE reason_code IS NULL
