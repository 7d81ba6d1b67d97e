-- Frame of suite inputs.lesions: one row per raw lesions row. Identical rows
-- are found among the rows sharing a hash, as in inputs_patients.sql.
CREATE OR REPLACE TEMP TABLE dq_in_lesions_copies AS
WITH hashed AS (
    SELECT *, hash(dq_row) AS row_hash FROM dq_raw_lesions
)
SELECT source_file, source_row
FROM (
    SELECT
        source_file, source_row,
        row_number() OVER (PARTITION BY dq_row ORDER BY source_file, source_row) AS copy_number
    FROM hashed
    WHERE row_hash IN (SELECT row_hash FROM hashed GROUP BY row_hash HAVING count(*) > 1)
)
WHERE copy_number > 1;

-- Role, organ and status codes, worked out once per distinct spelling.
CREATE OR REPLACE TEMP TABLE dq_in_lesion_codes AS
SELECT spelling, dq_code(spelling) AS code
FROM (
    SELECT role AS spelling FROM dq_raw_lesions
    UNION SELECT organ FROM dq_raw_lesions
    UNION SELECT status FROM dq_raw_lesions
)
WHERE spelling IS NOT NULL;

CREATE OR REPLACE TEMP VIEW dq_in_lesions AS
SELECT
    l.*,
    dq_key_of(l.patient_key) AS pkey,
    dq_txt(l.lesion_id) AS lid,
    dq_as_date(l.study_date) AS study_d,
    r.code AS role_code,
    o.code AS organ_code,
    s.code AS status_code,
    o.code = 'lymph_node' AS nodal
FROM dq_raw_lesions AS l
LEFT JOIN dq_in_lesion_codes AS r ON r.spelling = l.role
LEFT JOIN dq_in_lesion_codes AS o ON o.spelling = l.organ
LEFT JOIN dq_in_lesion_codes AS s ON s.spelling = l.status;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH studies AS (
    SELECT DISTINCT dq_key_of(patient_key) AS pkey, dq_as_date(study_date) AS study_d
    FROM dq_raw_imaging WHERE dq_given(patient_key) AND dq_as_date(study_date) IS NOT NULL
),
-- R1: lesions with role target (non_target) at the course baseline study.
baseline_roles AS (
    SELECT DISTINCT l.pkey, l.lid, l.role_code
    FROM dq_in_lesions AS l
    JOIN dq_in_course_baseline AS b ON b.patient_key = l.pkey AND l.study_d = b.baseline_date
    WHERE l.role_code IN ('target', 'non_target')
),
parsed AS (
    SELECT
        l.*,
        dq_as_number(l.longest_diameter_mm) AS longest_n,
        dq_as_number(l.short_axis_mm) AS short_axis_n,
        dq_as_number(l.viable_diameter_mm) AS viable_n,
        dq_as_number(l.viable_perpendicular_mm) AS perpendicular_n,
        coalesce(
            getvariable('segment_alias_numbers')[
                list_position(getvariable('segment_alias_spellings'), dq_spelling(l.liver_segment))],
            dq_as_number(l.liver_segment)) AS segment_n,
        c.source_row IS NOT NULL AS is_copy
    FROM dq_in_lesions AS l
    LEFT JOIN dq_in_lesions_copies AS c ON c.source_file = l.source_file AND c.source_row = l.source_row
)
SELECT
    l.pkey AS patient_key,
    dq_given(l.patient_key) AS patient_key_given,
    dq_given(l.study_date) AS study_date_given,
    dq_given(l.lesion_id) AS lesion_id_given,
    dq_given(l.role) AS role_given,
    dq_given(l.organ) AS organ_given,
    dq_given(l.status) AS status_given,
    CASE WHEN l.role_code = 'target' AND l.status_code = 'measured' THEN
        (CASE WHEN l.nodal THEN dq_given(l.short_axis_mm) ELSE dq_given(l.longest_diameter_mm) END)
    END AS measured_target_has_diameter,
    CASE WHEN l.organ_code = 'liver' THEN dq_given(l.liver_segment) END AS liver_lesion_has_segment,
    l.is_copy AS is_duplicate_row,
    dq_readable(l.study_date, l.study_d) AS study_date_readable,
    l.role_code AS role,
    l.organ_code AS organ,
    CASE l.role_code
        WHEN 'target' THEN list_contains(getvariable('status_target'), l.status_code)
        WHEN 'non_target' THEN list_contains(getvariable('status_non_target'), l.status_code)
        WHEN 'new' THEN list_contains(getvariable('status_new'), l.status_code)
    END AS status_fits_role,
    dq_readable(l.longest_diameter_mm, l.longest_n) AS longest_diameter_mm_readable,
    dq_readable(l.short_axis_mm, l.short_axis_n) AS short_axis_mm_readable,
    dq_readable(l.viable_diameter_mm, l.viable_n) AS viable_diameter_mm_readable,
    dq_readable(l.viable_perpendicular_mm, l.perpendicular_n) AS viable_perpendicular_mm_readable,
    dq_readable(l.attenuation_hu, dq_as_number(l.attenuation_hu)) AS attenuation_hu_readable,
    dq_readable(l.liver_segment, l.segment_n) AS liver_segment_readable,
    l.longest_n AS longest_diameter_mm,
    l.short_axis_n AS short_axis_mm,
    l.viable_n AS viable_diameter_mm,
    l.perpendicular_n AS viable_perpendicular_mm,
    dq_as_number(l.attenuation_hu) AS attenuation_hu,
    CASE WHEN l.segment_n IS NOT NULL THEN l.segment_n BETWEEN 1 AND 8 AND l.segment_n = floor(l.segment_n) END
        AS liver_segment_is_couinaud,
    CASE WHEN l.pkey IS NOT NULL AND l.study_d IS NOT NULL THEN s.pkey IS NULL END AS is_orphan_study,
    CASE WHEN l.role_code = 'target' AND l.study_d > b.baseline_date THEN bt.lid IS NULL END
        AS is_target_after_baseline,
    CASE WHEN l.role_code = 'non_target' AND l.study_d > b.baseline_date THEN bn.lid IS NULL END
        AS is_non_target_after_baseline
FROM parsed AS l
LEFT JOIN studies AS s ON s.pkey = l.pkey AND s.study_d = l.study_d
LEFT JOIN dq_in_course_baseline AS b ON b.patient_key = l.pkey
LEFT JOIN baseline_roles AS bt ON bt.pkey = l.pkey AND bt.lid = l.lid AND bt.role_code = 'target'
LEFT JOIN baseline_roles AS bn ON bn.pkey = l.pkey AND bn.lid = l.lid AND bn.role_code = 'non_target';
