-- Frame of suite inputs.lesions: one row per raw lesions row.
CREATE OR REPLACE TEMP TABLE dq_in_lesions AS
SELECT
    *,
    txt(patient_key) AS pkey,
    txt(lesion_id) AS lid,
    as_date(study_date) AS study_d,
    code(role) AS role_code,
    code(organ) AS organ_code,
    code(status) AS status_code,
    code(organ) = 'lymph_node' AS nodal,
    as_number(longest_diameter_mm) AS longest_n,
    as_number(short_axis_mm) AS short_axis_n,
    as_number(viable_diameter_mm) AS viable_n,
    as_number(liver_segment) AS segment_n,
    row_number() OVER (
        PARTITION BY txt(patient_key), txt(study_date), txt(lesion_id), txt(role), txt(organ),
            txt(liver_segment), txt(status), txt(longest_diameter_mm), txt(short_axis_mm),
            txt(viable_diameter_mm), txt(attenuation_hu)
        ORDER BY source_file, source_row
    ) AS copy_number
FROM in_lesions;
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH studies AS (
    SELECT DISTINCT txt(patient_key) AS pkey, as_date(study_date) AS study_d
    FROM in_imaging WHERE given(patient_key) AND as_date(study_date) IS NOT NULL
),
-- R1: lesions with role target (non_target) at the course baseline study.
baseline_roles AS (
    SELECT DISTINCT l.pkey, l.lid, l.role_code
    FROM dq_in_lesions AS l
    JOIN in_course_baseline AS b ON b.patient_key = l.pkey AND l.study_d = b.baseline_date
)
SELECT
    l.pkey AS patient_key,
    given(l.patient_key) AS patient_key_given,
    given(l.study_date) AS study_date_given,
    given(l.lesion_id) AS lesion_id_given,
    given(l.role) AS role_given,
    given(l.organ) AS organ_given,
    given(l.status) AS status_given,
    CASE WHEN l.role_code = 'target' AND l.status_code = 'measured' THEN
        (CASE WHEN l.nodal THEN given(l.short_axis_mm) ELSE given(l.longest_diameter_mm) END)
    END AS measured_target_has_diameter,
    CASE WHEN l.organ_code = 'liver' THEN given(l.liver_segment) END AS liver_lesion_has_segment,
    l.copy_number > 1 AS is_duplicate_row,
    readable(l.study_date, l.study_d) AS study_date_readable,
    l.role_code AS role,
    l.organ_code AS organ,
    CASE l.role_code
        WHEN 'target' THEN list_contains(getvariable('status_target'), l.status_code)
        WHEN 'non_target' THEN list_contains(getvariable('status_non_target'), l.status_code)
        WHEN 'new' THEN list_contains(getvariable('status_new'), l.status_code)
    END AS status_fits_role,
    readable(l.longest_diameter_mm, l.longest_n) AS longest_diameter_mm_readable,
    readable(l.short_axis_mm, l.short_axis_n) AS short_axis_mm_readable,
    readable(l.viable_diameter_mm, l.viable_n) AS viable_diameter_mm_readable,
    readable(l.attenuation_hu, as_number(l.attenuation_hu)) AS attenuation_hu_readable,
    readable(l.liver_segment, l.segment_n) AS liver_segment_readable,
    l.longest_n AS longest_diameter_mm,
    l.short_axis_n AS short_axis_mm,
    l.viable_n AS viable_diameter_mm,
    CASE WHEN l.segment_n IS NOT NULL THEN l.segment_n BETWEEN 1 AND 8 AND l.segment_n = floor(l.segment_n) END
        AS liver_segment_is_couinaud,
    CASE WHEN l.pkey IS NOT NULL AND l.study_d IS NOT NULL THEN s.pkey IS NULL END AS is_orphan_study,
    CASE WHEN l.role_code = 'target' AND l.study_d > b.baseline_date THEN
        bt.lid IS NULL
    END AS is_target_after_baseline,
    CASE WHEN l.role_code = 'non_target' AND l.study_d > b.baseline_date THEN
        bn.lid IS NULL
    END AS is_non_target_after_baseline
FROM dq_in_lesions AS l
LEFT JOIN studies AS s ON s.pkey = l.pkey AND s.study_d = l.study_d
LEFT JOIN in_course_baseline AS b ON b.patient_key = l.pkey
LEFT JOIN baseline_roles AS bt ON bt.pkey = l.pkey AND bt.lid = l.lid AND bt.role_code = 'target'
LEFT JOIN baseline_roles AS bn ON bn.pkey = l.pkey AND bn.lid = l.lid AND bn.role_code = 'non_target';
