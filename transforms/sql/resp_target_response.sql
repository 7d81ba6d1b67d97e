-- R5-R9 / M2-M3: target response at each follow-up, first rule that applies.
-- The rows are every scope, study and criteria (B1); resp_target_response,
-- resp_nontarget_response and resp_overall stack, each adding the columns of
-- its rules to the rows of the one before. Each criteria reads the sums of its
-- non-nodal measure. Every comparison is exact decimal arithmetic: PD needs
-- sum > nadir, an increase of at least pd_min_increase_mm and
-- sum >= nadir x pd fraction; PR needs sum <= baseline x pr fraction. PD is
-- tested on measured_sum first: when targets are missing, the missing ones can
-- only add (R5). A scope without targets at its baseline has no target
-- response (null, F3). change_from_nadir and pct_from_nadir are those of the
-- measured sum (the reason quotes them); the tables show them only when the
-- sum is evaluable.
CREATE OR REPLACE TEMP VIEW resp_target_response AS
WITH per_criteria AS (
    SELECT
        s.* EXCLUDE (sum_longest, sum_viable, measured_longest, measured_viable, baseline_longest,
                     baseline_viable, nadir_longest, nadir_viable, nadir_date_longest,
                     nadir_date_viable, resolved_longest, resolved_viable, n_sized_longest,
                     n_sized_viable),
        c.*,
        resp_by_measure(c.reads_viable, s.sum_longest, s.sum_viable) AS sum_mm,
        resp_by_measure(c.reads_viable, s.measured_longest, s.measured_viable)
            AS measured_sum,
        resp_by_measure(c.reads_viable, s.baseline_longest, s.baseline_viable)
            AS baseline_sum,
        resp_by_measure(c.reads_viable, s.nadir_longest, s.nadir_viable) AS nadir_sum,
        resp_by_measure(c.reads_viable, s.nadir_date_longest, s.nadir_date_viable)
            AS nadir_date,
        resp_by_measure(c.reads_viable, s.resolved_longest, s.resolved_viable)
            AS all_resolved,
        s.n_targets - resp_by_measure(c.reads_viable, s.n_sized_longest, s.n_sized_viable)
            AS n_unsized
    FROM resp_scope_sums AS s
    CROSS JOIN resp_criteria AS c
)
SELECT
    *,
    CASE
        WHEN NOT has_target OR is_baseline THEN NULL
        WHEN baseline_sum IS NULL THEN 'NE'
        WHEN measured_sum > nadir_sum
         AND measured_sum - nadir_sum >= pd_min_increase_mm
         AND measured_sum >= nadir_sum * pd_min_fraction_of_nadir THEN 'PD'
        WHEN sum_mm IS NULL THEN 'NE'
        WHEN all_resolved THEN 'CR'
        WHEN sum_mm <= baseline_sum * pr_max_fraction_of_baseline THEN 'PR'
        ELSE 'SD'
    END AS target_response,
    sum_mm - baseline_sum AS change_from_baseline,
    measured_sum - nadir_sum AS change_from_nadir,
    resp_pct(sum_mm - baseline_sum, baseline_sum) AS pct_from_baseline,
    resp_pct(measured_sum - nadir_sum, nadir_sum) AS pct_from_nadir
FROM per_criteria
