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
       OR n_progressed > 0
       OR (scope <> 'out_field' AND NOT is_baseline
           AND (n_unevaluated > 0
                OR (n_nontargets > n_resolved
                    AND (n_targets = 0 OR resolved_longest OR resolved_viable))))
),
lesions AS (
    SELECT n.*, t.* EXCLUDE (tracking_id, leaf_id, study_date, is_baseline)
    FROM needed AS n
    JOIN resp_tracked AS t ON t.leaf_id = n.scope_id AND t.study_date = n.study_date
    UNION ALL
    SELECT n.*, t.* EXCLUDE (tracking_id, leaf_id, study_date, is_baseline)
    FROM needed AS n
    JOIN resp_tracked AS t
        ON t.tracking_id = n.scope_id AND t.leaf_id <> n.scope_id AND t.study_date = n.study_date
),
sized AS (
    SELECT
        l.*, c.criteria, c.non_nodal_measure, c.non_enhancing_resolved,
        resp_by_measure(c.non_nodal_measure, l.size_longest, l.size_viable) AS size_mm
    FROM lesions AS l
    CROSS JOIN resp_criteria AS c
),
listed AS (
    SELECT
        scope_id, study_date, criteria,
        bool_or(is_baseline) AS is_baseline,
        resp_joined(list(
            lesion_id || ' ' || CASE WHEN NOT has_row THEN 'missing'
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
