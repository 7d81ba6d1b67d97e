-- depends_on: resp_lesion_rows, resp_rules
-- reads:
-- R2/M1/A1/C1: one row per lesion, study and role, its fragments read together.
-- Each measure (longest diameter, short axis, viable diameter, the enhancing
-- cross-product) adds up over the fragments and is missing when any fragment
-- lacks it; the attenuation (C1) is the fragments' mean, missing when any
-- fragment lacks one. The cross-product and the attenuation are read only when
-- an enabled criteria uses them (resp_rules). Status flags feed the
-- non-target (R10/M4) and new-lesion (R11) rules; the segments feed F1.
-- is_nodal (staging sets it from organ = lymph_node) is read from the baseline
-- rows of each scope, so a later row with another organ does not change the rule.
CREATE OR REPLACE TEMP TABLE resp_lesion_sizes AS
WITH fragments AS (
    SELECT
        pid, study_date, lesion_id, role, status, organ, liver_segment, is_nodal,
        resp_fragment_size(status, longest_diameter_mm) AS longest_mm,
        resp_fragment_size(status, short_axis_mm) AS short_mm,
        resp_fragment_size(status, viable_diameter_mm) AS viable_mm,
        CASE WHEN getvariable('resp_reads_area') THEN
            resp_fragment_area(status, viable_diameter_mm, viable_perpendicular_mm) END AS area_mm2,
        CASE WHEN getvariable('resp_reads_density') THEN attenuation_hu::DECIMAL(18, 3) END AS hu,
        measurement_rejected
    FROM resp_lesion_rows
    WHERE pid IS NOT NULL AND NOT target_after_baseline
)
SELECT
    pid, study_date, lesion_id, role,
    bool_or(is_nodal) AS is_nodal,
    CASE WHEN bool_and(longest_mm IS NOT NULL) THEN resp_mm_sum(sum(longest_mm)) END AS longest_mm,
    CASE WHEN bool_and(short_mm IS NOT NULL) THEN resp_mm_sum(sum(short_mm)) END AS short_mm,
    CASE WHEN bool_and(viable_mm IS NOT NULL) THEN resp_mm_sum(sum(viable_mm)) END AS viable_mm,
    CASE WHEN bool_and(area_mm2 IS NOT NULL) THEN resp_mm_sum(sum(area_mm2)) END AS area_mm2,
    CASE WHEN bool_and(hu IS NOT NULL) THEN round(avg(hu), 3)::DECIMAL(18, 3) END AS hu,
    bool_or(status = 'not_evaluated') AS any_not_evaluated,
    bool_or(status = 'progression') AS any_progression,
    bool_or(status = 'present') AS any_present,
    bool_and(status = 'absent') AS all_absent,
    bool_and(status IN ('absent', 'non_enhancing')) AS all_absent_or_non_enhancing,
    bool_and(organ = 'liver' AND liver_segment IS NOT NULL) AS liver_with_segment,
    list_distinct(list(liver_segment) FILTER (WHERE liver_segment IS NOT NULL)) AS segments,
    -- a fragment's row was rejected at ingestion: the lesion has no size here (R3)
    bool_or(measurement_rejected) AS measurement_rejected
FROM fragments
GROUP BY pid, study_date, lesion_id, role
