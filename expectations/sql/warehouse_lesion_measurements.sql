-- Frame of suite warehouse.lesion_measurements: one row per lesion_measurements row.
-- Source rows loaded more than once, found among the rows sharing a hash of
-- their lineage (a GROUP BY or window over every row costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_lesion_repeats AS
WITH hashed AS (
    SELECT source_file, source_row, hash(source_file, source_row) AS lineage_hash
    FROM lesion_measurements
)
SELECT source_file, source_row
FROM hashed
WHERE lineage_hash IN (SELECT lineage_hash FROM hashed GROUP BY lineage_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

-- The organ of each lesion at its first row.
CREATE OR REPLACE TEMP TABLE dq_wh_first_organs AS
SELECT patient_key, lesion_id,
    arg_min(organ, {'d': study_date, 'f': source_file, 'r': source_row}) AS first_organ
FROM lesion_measurements
GROUP BY ALL;

-- Lesions at the course baseline: their role, and for targets the size of the
-- lesion (fragments of a split lesion add up, input contract and R2).
CREATE OR REPLACE TEMP TABLE dq_wh_baseline_lesions AS
SELECT l.patient_key, l.lesion_id, l.role,
    bool_and(l.status = 'measured') AS measured,
    sum(l.longest_diameter_mm) AS longest_mm,
    sum(l.short_axis_mm) AS short_axis_mm
FROM lesion_measurements AS l
JOIN dq_wh_course_baseline AS b ON b.patient_key = l.patient_key AND l.study_date = b.baseline_date
WHERE l.role IN ('target', 'non_target')
GROUP BY ALL;

CREATE OR REPLACE TEMP VIEW dq_frame AS
SELECT
    l.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    r.source_row IS NOT NULL AS is_duplicate_lineage,
    l.role,
    l.organ,
    CASE l.role
        WHEN 'target' THEN list_contains(getvariable('status_target'), l.status)
        WHEN 'non_target' THEN list_contains(getvariable('status_non_target'), l.status)
        WHEN 'new' THEN list_contains(getvariable('status_new'), l.status)
    END AS status_fits_role,
    l.is_nodal = (l.organ = 'lymph_node') AS is_nodal_matches_organ,
    CASE WHEN l.role = 'target' AND l.status = 'measured' THEN
        dq_has_size(l.status, l.is_nodal, l.longest_diameter_mm, l.short_axis_mm)
    END AS measured_target_has_diameter,
    l.liver_segment,
    l.longest_diameter_mm::DOUBLE AS longest_diameter_mm,
    l.short_axis_mm::DOUBLE AS short_axis_mm,
    l.viable_diameter_mm::DOUBLE AS viable_diameter_mm,
    l.viable_diameter_mm <= l.longest_diameter_mm AS viable_not_above_longest,
    p.patient_key IS NOT NULL AS patient_known,
    s.patient_key IS NULL AS is_orphan_study,
    l.organ = o.first_organ AS organ_matches_first_study,
    CASE WHEN l.role = 'target' AND l.study_date > b.baseline_date THEN bt.lesion_id IS NULL END
        AS is_target_after_baseline,
    CASE WHEN l.role = 'non_target' AND l.study_date > b.baseline_date THEN bn.lesion_id IS NULL END
        AS is_non_target_after_baseline,
    CASE WHEN l.role = 'target' AND l.study_date = b.baseline_date AND NOT l.is_nodal THEN
        bt.measured AND bt.longest_mm >= getvariable('recist_min_target_longest_mm')
    END AS baseline_nonnodal_target_measurable,
    CASE WHEN l.role = 'target' AND l.study_date = b.baseline_date AND l.is_nodal THEN
        bt.measured AND bt.short_axis_mm >= getvariable('recist_min_nodal_target_short_axis_mm')
    END AS baseline_nodal_target_measurable
FROM lesion_measurements AS l
LEFT JOIN dq_wh_lesion_repeats AS r ON r.source_file = l.source_file AND r.source_row = l.source_row
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = l.patient_key
LEFT JOIN dq_wh_studies_once AS s ON s.patient_key = l.patient_key AND s.study_date = l.study_date
LEFT JOIN dq_wh_first_organs AS o ON o.patient_key = l.patient_key AND o.lesion_id = l.lesion_id
LEFT JOIN dq_wh_course_baseline AS b ON b.patient_key = l.patient_key
LEFT JOIN dq_wh_baseline_lesions AS bt
    ON bt.patient_key = l.patient_key AND bt.lesion_id = l.lesion_id AND bt.role = 'target'
LEFT JOIN dq_wh_baseline_lesions AS bn
    ON bn.patient_key = l.patient_key AND bn.lesion_id = l.lesion_id AND bn.role = 'non_target';
