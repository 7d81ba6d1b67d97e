-- depends_on: resp_lesion_sizes, resp_rules, resp_scope_lesions, resp_scope_sums
-- reads:
-- X1: the lesion ids a reason names, gathered only for the scope studies
-- whose reason may name them (listing them everywhere would cost more than all
-- the rules): a target without a size (R3/R6/R5; also at the baseline study,
-- for follow-ups whose baseline sum is not evaluable), a progressed non-target
-- (R10), and, on the follow-ups of published scopes (an out_field reason is
-- only quoted when it is PD), unevaluated non-targets (R10/R13) and the
-- non-targets not resolved when there is no target (R13) or every target is
-- resolved (R12: CR targets, non-CR non-targets). `resolved` here is the
-- strictest reading (M4's non-enhancing not counted), so no list is missed.
-- The lesions of an overall scope are those of both its leaves.
CREATE OR REPLACE TEMP TABLE resp_reason_lists AS
WITH needed AS (
    SELECT scope_id, study_date, is_baseline
    FROM resp_scope_sums
    WHERE n_sized_longest < n_targets OR n_sized_viable < n_targets
       OR (n_targets > 0 AND (baseline_longest IS NULL OR baseline_viable IS NULL))
       OR (getvariable('resp_reads_area')
           AND (n_sized_area < n_targets OR (n_targets > 0 AND baseline_area IS NULL)))
       OR n_progressed > 0
       OR (scope <> 'out_field' AND NOT is_baseline
           AND (n_unevaluated > 0
                OR (n_nontargets > n_resolved
                    AND (n_targets = 0 OR resolved_longest OR resolved_viable))))
),
lesions AS (
    SELECT n.*, b.pid, b.lesion_id, b.role, b.is_nodal
    FROM needed AS n
    JOIN resp_baseline_lesions AS b ON b.leaf_id = n.scope_id
    UNION ALL
    SELECT n.*, b.pid, b.lesion_id, b.role, b.is_nodal
    FROM needed AS n
    JOIN resp_baseline_lesions AS b ON b.tracking_id = n.scope_id AND b.leaf_id <> n.scope_id
),
-- Each lesion looked up at its study once, before the criteria double the rows.
looked_up AS MATERIALIZED (
    SELECT
        l.scope_id, l.study_date, l.is_baseline, l.lesion_id, l.role, l.is_nodal,
        ls.lesion_id IS NOT NULL AS has_row, ls.any_not_evaluated, ls.measurement_rejected,
        ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2,
        CASE WHEN l.role = 'non_target' THEN
            resp_nontarget_state(
                ls.lesion_id IS NOT NULL, ls.any_progression, ls.any_not_evaluated, ls.all_absent,
                ls.all_absent_or_non_enhancing, l.is_nodal, ls.short_mm)
        END AS state
    FROM lesions AS l
    LEFT JOIN resp_lesion_sizes AS ls
        ON ls.pid = l.pid AND ls.study_date = l.study_date
       AND ls.lesion_id = l.lesion_id AND ls.role = l.role
),
sized AS (
    SELECT
        l.*, c.criteria, c.non_nodal_measure, c.non_enhancing_resolved,
        resp_target_size(l.is_nodal, l.short_mm, l.longest_mm, l.viable_mm, l.area_mm2, c.measure)
            AS size_mm
    FROM looked_up AS l
    CROSS JOIN resp_criteria AS c
),
listed AS (
    SELECT
        scope_id, study_date, criteria,
        bool_or(is_baseline) AS is_baseline,
        resp_joined(list(
            lesion_id || ' ' || CASE WHEN NOT has_row THEN 'missing'
                                     WHEN measurement_rejected
                                         THEN 'measurement row rejected'
                                     WHEN any_not_evaluated THEN 'not evaluated'
                                     WHEN is_nodal THEN 'without short axis'
                                     ELSE 'without ' || non_nodal_measure END)
            FILTER (WHERE role = 'target' AND size_mm IS NULL)) AS unsized,
        resp_joined(list(lesion_id) FILTER (WHERE state = 'progression')) AS progressed,
        resp_joined(list(lesion_id || ' ' || state)
                    FILTER (WHERE state IN ('missing', 'not evaluated'))) AS unevaluated,
        resp_joined(list(lesion_id)
                    FILTER (WHERE state = 'present'
                               OR (state = 'non-enhancing' AND NOT non_enhancing_resolved)))
            AS present
    FROM sized
    GROUP BY scope_id, study_date, criteria
)
SELECT
    * EXCLUDE (is_baseline),
    max(unsized) FILTER (WHERE is_baseline) OVER (PARTITION BY scope_id, criteria)
        AS baseline_unsized
FROM listed
