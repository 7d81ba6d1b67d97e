-- R1/R10/F1: the target and non-target lesions of each scope are those with
-- that role at the scope's baseline study (for in_field / out_field: the ones
-- whose baseline fragments all lie in / not all in a treated liver segment; a
-- liver lesion without a segment is out of field). Each is then looked up at
-- every study of the scope; has_row = FALSE marks a lesion with no row there.
CREATE OR REPLACE TEMP TABLE resp_baseline_lesions AS
SELECT sc.scope_id, ls.lesion_id, ls.role, ls.is_nodal
FROM resp_scopes AS sc
JOIN resp_lesion_sizes AS ls
    ON ls.patient_key = sc.patient_key AND ls.study_date = sc.baseline_date
WHERE ls.role IN ('target', 'non_target')
  AND resp_in_scope(sc.scope, sc.treated_segments, ls.liver_with_segment, ls.segments);

CREATE OR REPLACE TEMP VIEW resp_tracked_lesions AS
SELECT
    ss.scope_id, ss.study_date, ss.is_baseline, b.lesion_id, b.role, b.is_nodal,
    ls.lesion_id IS NOT NULL AS has_row,
    ls.longest_mm, ls.short_mm, ls.viable_mm,
    coalesce(ls.any_not_evaluated, FALSE) AS any_not_evaluated,
    coalesce(ls.any_progression, FALSE) AS any_progression,
    coalesce(ls.all_absent, FALSE) AS all_absent,
    coalesce(ls.all_absent_or_non_enhancing, FALSE) AS all_absent_or_non_enhancing
FROM resp_baseline_lesions AS b
JOIN resp_scope_studies AS ss ON ss.scope_id = b.scope_id
LEFT JOIN resp_lesion_sizes AS ls
    ON ls.patient_key = ss.patient_key AND ls.study_date = ss.study_date
   AND ls.lesion_id = b.lesion_id AND ls.role = b.role
