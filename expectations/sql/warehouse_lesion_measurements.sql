-- Frame of suite warehouse.lesion_measurements: one row per lesion_measurements row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY source_file, source_row ORDER BY study_date) AS lineage_number,
        first_value(organ) OVER (
            PARTITION BY patient_key, lesion_id ORDER BY study_date, source_file, source_row
        ) AS first_organ,
        -- fragments of a split lesion add up (input contract, R2)
        sum(longest_diameter_mm) OVER (PARTITION BY patient_key, study_date, lesion_id) AS lesion_longest_mm,
        sum(short_axis_mm) OVER (PARTITION BY patient_key, study_date, lesion_id) AS lesion_short_axis_mm
    FROM lesion_measurements
),
baseline_roles AS (
    SELECT DISTINCT l.patient_key, l.lesion_id, l.role
    FROM lesion_measurements AS l
    JOIN wh_course_baseline AS b ON b.patient_key = l.patient_key AND l.study_date = b.baseline_date
    WHERE l.role IN ('target', 'non_target')
)
SELECT
    l.patient_key AS patient_key,
    l.lineage_number > 1 AS is_duplicate_lineage,
    l.role,
    l.organ,
    CASE l.role
        WHEN 'target' THEN list_contains(getvariable('status_target'), l.status)
        WHEN 'non_target' THEN list_contains(getvariable('status_non_target'), l.status)
        WHEN 'new' THEN list_contains(getvariable('status_new'), l.status)
    END AS status_fits_role,
    l.is_nodal = (l.organ = 'lymph_node') AS is_nodal_matches_organ,
    CASE WHEN l.role = 'target' AND l.status = 'measured' THEN
        has_size(l.status, l.is_nodal, l.longest_diameter_mm, l.short_axis_mm)
    END AS measured_target_has_diameter,
    l.liver_segment,
    l.longest_diameter_mm::DOUBLE AS longest_diameter_mm,
    l.short_axis_mm::DOUBLE AS short_axis_mm,
    l.viable_diameter_mm::DOUBLE AS viable_diameter_mm,
    l.viable_diameter_mm <= l.longest_diameter_mm AS viable_not_above_longest,
    p.patient_key IS NOT NULL AS patient_known,
    s.patient_key IS NULL AS is_orphan_study,
    l.organ = l.first_organ AS organ_matches_first_study,
    CASE WHEN l.role = 'target' AND l.study_date > b.baseline_date THEN bt.lesion_id IS NULL END
        AS is_target_after_baseline,
    CASE WHEN l.role = 'non_target' AND l.study_date > b.baseline_date THEN bn.lesion_id IS NULL END
        AS is_non_target_after_baseline,
    CASE WHEN l.role = 'target' AND l.study_date = b.baseline_date AND NOT l.is_nodal THEN
        l.status = 'measured' AND l.lesion_longest_mm >= getvariable('recist_min_target_longest_mm')
    END AS baseline_nonnodal_target_measurable,
    CASE WHEN l.role = 'target' AND l.study_date = b.baseline_date AND l.is_nodal THEN
        l.status = 'measured' AND l.lesion_short_axis_mm >= getvariable('recist_min_nodal_target_short_axis_mm')
    END AS baseline_nodal_target_measurable
FROM rows AS l
LEFT JOIN wh_patients_once AS p ON p.patient_key = l.patient_key
LEFT JOIN wh_studies_once AS s ON s.patient_key = l.patient_key AND s.study_date = l.study_date
LEFT JOIN wh_course_baseline AS b ON b.patient_key = l.patient_key
LEFT JOIN baseline_roles AS bt ON bt.patient_key = l.patient_key AND bt.lesion_id = l.lesion_id AND bt.role = 'target'
LEFT JOIN baseline_roles AS bn ON bn.patient_key = l.patient_key AND bn.lesion_id = l.lesion_id AND bn.role = 'non_target';
