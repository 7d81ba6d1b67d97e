-- R1/R10/F1: the target and non-target lesions of each scope are those with
-- that role at the scope's baseline study (for in_field / out_field: the ones
-- whose baseline fragments all lie in / not all in a treated liver segment; a
-- liver lesion without a segment is out of field). Each is then looked up at
-- every study of the scope; has_row = FALSE marks a lesion with no row there.
-- The lesions of a session are tracked once, in its `overall` scope
-- (tracking_id); leaf_id names the one of in_field / out_field they belong to,
-- so the in- and out-of-field sums add up to the overall ones. A course lesion
-- is its own leaf.
CREATE OR REPLACE TEMP TABLE resp_baseline_lesions AS
SELECT
    sc.scope_id AS tracking_id,
    CASE WHEN sc.scope = 'course' THEN sc.scope_id
         WHEN resp_in_field(se.treated_segments, ls.liver_with_segment, ls.segments)
             THEN ss.in_field_id
         ELSE ss.out_field_id END AS leaf_id,
    sc.pid, ls.lesion_id, ls.role, ls.is_nodal
FROM resp_scopes AS sc
JOIN resp_lesion_sizes AS ls ON ls.pid = sc.pid AND ls.study_date = sc.baseline_date
LEFT JOIN resp_sessions AS se ON se.session_key = sc.session_key
LEFT JOIN resp_session_scopes AS ss ON ss.session_key = sc.session_key
WHERE sc.scope IN ('course', 'overall') AND ls.role IN ('target', 'non_target');

-- Per lesion and study: its size under each non-nodal measure (R2/M1: a
-- node's is its short axis), and its non-target state (R10/M4). `resolved`
-- holds under every criteria; `non-enhancing` is resolved only under criteria
-- whose non_enhancing_resolved is set (M4), `present` otherwise.
CREATE OR REPLACE TEMP TABLE resp_tracked AS
WITH tracked AS (
    SELECT
        b.tracking_id, b.leaf_id, ss.study_date, ss.is_baseline, b.lesion_id, b.role, b.is_nodal,
        ls.lesion_id IS NOT NULL AS has_row,
        ls.longest_mm, ls.short_mm, ls.viable_mm,
        coalesce(ls.any_not_evaluated, FALSE) AS any_not_evaluated,
        coalesce(ls.any_progression, FALSE) AS any_progression,
        coalesce(ls.all_absent, FALSE) AS all_absent,
        coalesce(ls.all_absent_or_non_enhancing, FALSE) AS all_absent_or_non_enhancing
    FROM resp_baseline_lesions AS b
    JOIN resp_scope_studies AS ss ON ss.scope_id = b.tracking_id
    LEFT JOIN resp_lesion_sizes AS ls
        ON ls.pid = b.pid AND ls.study_date = ss.study_date
       AND ls.lesion_id = b.lesion_id AND ls.role = b.role
)
SELECT
    tracking_id, leaf_id, study_date, is_baseline, lesion_id, role, is_nodal, has_row,
    any_not_evaluated, short_mm,
    resp_target_size(is_nodal, short_mm, longest_mm, viable_mm, 'longest diameter')
        AS size_longest,
    resp_target_size(is_nodal, short_mm, longest_mm, viable_mm, 'viable diameter')
        AS size_viable,
    CASE WHEN role = 'non_target' THEN
        CASE WHEN NOT has_row THEN 'missing'
             WHEN any_progression THEN 'progression'
             WHEN any_not_evaluated THEN 'not evaluated'
             WHEN all_absent
               OR (is_nodal
                   AND short_mm < getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
                  THEN 'resolved'
             WHEN all_absent_or_non_enhancing THEN 'non-enhancing'
             ELSE 'present' END
    END AS state
FROM tracked
