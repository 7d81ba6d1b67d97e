-- depends_on: resp_lesion_sizes, resp_rules, resp_scope_studies, resp_scopes
-- reads:
-- R1/R10/F1: the target and non-target lesions of each scope are those with
-- that role at the scope's baseline study (for in_field / out_field: the ones
-- whose baseline fragments all lie in / not all in a treated liver segment; a
-- liver lesion without a segment is out of field). Each is then looked up at
-- every study of the scope (resp_tracked). The lesions of a session are
-- tracked once, in its `overall` scope (tracking_id); leaf_id names the one of
-- in_field / out_field they belong to, so the in- and out-of-field sums add up
-- to the overall ones. A course lesion is its own leaf.
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

-- Each baseline lesion at every study of its scope: its size under each
-- measure (R2/M1/A1: a node's is its short axis, or its square) and its non-target
-- state (R10/M4). A view: resp_scope_sums reads it once.
CREATE OR REPLACE TEMP VIEW resp_tracked AS
SELECT
    b.tracking_id, b.leaf_id, ss.study_date, ss.is_baseline, b.role, b.is_nodal,
    resp_target_size(b.is_nodal, ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2, 'longest')
        AS size_longest,
    resp_target_size(b.is_nodal, ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2, 'viable')
        AS size_viable,
    resp_target_size(b.is_nodal, ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2, 'area')
        AS size_area,
    -- C1: the attenuation of a non-nodal target counts towards the density when
    -- its size (longest diameter) is above 0 mm. A target whose row was rejected
    -- at ingestion counts without an attenuation, so the density is not evaluable
    -- there rather than taken from the other targets alone (as its sum, R3).
    CASE WHEN b.role = 'target' AND NOT b.is_nodal AND ls.longest_mm > 0 THEN ls.hu END AS hu,
    getvariable('resp_reads_density') AND b.role = 'target' AND NOT b.is_nodal
        AND coalesce(ls.longest_mm > 0 OR ls.measurement_rejected, FALSE) AS counts_for_density,
    CASE WHEN b.role = 'non_target' THEN
        resp_nontarget_state(
            ls.lesion_id IS NOT NULL, ls.any_progression, ls.any_not_evaluated, ls.all_absent,
            ls.all_absent_or_non_enhancing, b.is_nodal, ls.short_mm)
    END AS state
FROM resp_baseline_lesions AS b
JOIN resp_scope_studies AS ss ON ss.scope_id = b.tracking_id
LEFT JOIN resp_lesion_sizes AS ls
    ON ls.pid = b.pid AND ls.study_date = ss.study_date
   AND ls.lesion_id = b.lesion_id AND ls.role = b.role
