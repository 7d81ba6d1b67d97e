-- depends_on: resp_rules, resp_scope_sums
-- reads:
-- R5-R9 / M2-M3 / A2-A3 / C1-C5: target response at each follow-up, first rule
-- that applies. The rows are every scope, study and criteria (B1);
-- resp_target_response, resp_nontarget_response and resp_overall stack, each
-- adding the columns of its rules to the rows of the one before. Each criteria
-- reads the sums of its measure (resp_criteria.measure). Every comparison is
-- exact decimal arithmetic: PD needs sum > nadir, an increase of at least
-- pd_min_increase_mm and sum >= nadir x pd fraction (sum > nadir x fraction when
-- pd_fraction_strict, A2); PR needs sum <= baseline x pr fraction. PD is tested
-- on measured_sum first: when targets are missing, the missing ones can only
-- add (R5). A scope without targets at its baseline has no target response
-- (null, F3). change_from_nadir and pct_from_nadir are those of the measured
-- sum (the reason quotes them); the tables show them only when the sum is
-- evaluable.
-- Density (C1, criteria with a density rule only): the mean attenuation is
-- sum_hu / n_hu; density_fell compares sum_hu x baseline_n_hu with
-- fraction x baseline_sum_hu x n_hu, exact, and is null when the density or
-- the baseline density is not evaluable or the baseline density is <= 0 HU.
-- A fall keeps a size increase from being PD (C2) and is PR on its own (C4);
-- when the size is not evaluable the density decides between PR and SD (C5).
CREATE OR REPLACE TEMP VIEW resp_target_response AS
WITH per_criteria AS (
    SELECT
        s.* EXCLUDE (sum_longest, sum_viable, sum_area, measured_longest, measured_viable,
                     measured_area, baseline_longest, baseline_viable, baseline_area,
                     nadir_longest, nadir_viable, nadir_area, nadir_date_longest,
                     nadir_date_viable, nadir_date_area, resolved_longest, resolved_viable,
                     n_sized_longest, n_sized_viable, n_sized_area,
                     sum_hu, n_hu, n_density, baseline_sum_hu, baseline_n_hu),
        c.*,
        resp_by_measure(c.measure, s.sum_longest, s.sum_viable, s.sum_area) AS sum_mm,
        resp_by_measure(c.measure, s.measured_longest, s.measured_viable, s.measured_area)
            AS measured_sum,
        resp_by_measure(c.measure, s.baseline_longest, s.baseline_viable, s.baseline_area)
            AS baseline_sum,
        resp_by_measure(c.measure, s.nadir_longest, s.nadir_viable, s.nadir_area) AS nadir_sum,
        resp_by_measure(c.measure, s.nadir_date_longest, s.nadir_date_viable, s.nadir_date_area)
            AS nadir_date,
        -- A3: EASL's CR is mRECIST's (viable diameter 0, nodes below the normal axis)
        resp_by_measure(c.measure, s.resolved_longest, s.resolved_viable, s.resolved_viable)
            AS all_resolved,
        s.n_targets - resp_by_measure(c.measure, s.n_sized_longest, s.n_sized_viable,
                                      s.n_sized_area) AS n_unsized,
        CASE WHEN c.density_pr_max_fraction_of_baseline IS NOT NULL THEN s.sum_hu END AS sum_hu,
        CASE WHEN c.density_pr_max_fraction_of_baseline IS NOT NULL THEN s.n_hu END AS n_hu,
        CASE WHEN c.density_pr_max_fraction_of_baseline IS NOT NULL THEN s.baseline_sum_hu END
            AS baseline_sum_hu,
        CASE WHEN c.density_pr_max_fraction_of_baseline IS NOT NULL THEN s.baseline_n_hu END
            AS baseline_n_hu
    FROM resp_scope_sums AS s
    CROSS JOIN resp_criteria AS c
),
with_density AS (
    SELECT
        *,
        CASE WHEN NOT is_baseline AND sum_hu IS NOT NULL AND baseline_sum_hu > 0 THEN
            sum_hu * baseline_n_hu
                <= density_pr_max_fraction_of_baseline * baseline_sum_hu * n_hu
        END AS density_fell
    FROM per_criteria
)
SELECT
    *,
    CASE
        WHEN NOT has_target OR is_baseline THEN NULL
        WHEN baseline_sum IS NULL AND density_fell IS NULL THEN 'NE'
        WHEN measured_sum > nadir_sum
         AND measured_sum - nadir_sum >= pd_min_increase_mm
         AND CASE WHEN pd_fraction_strict THEN measured_sum > nadir_sum * pd_min_fraction_of_nadir
                  ELSE measured_sum >= nadir_sum * pd_min_fraction_of_nadir END
         AND NOT coalesce(density_fell, FALSE) THEN 'PD'
        WHEN sum_mm IS NULL AND density_fell IS NULL THEN 'NE'
        WHEN sum_mm IS NOT NULL AND baseline_sum IS NOT NULL AND all_resolved THEN 'CR'
        WHEN sum_mm <= baseline_sum * pr_max_fraction_of_baseline OR density_fell THEN 'PR'
        ELSE 'SD'
    END AS target_response,
    sum_mm - baseline_sum AS change_from_baseline,
    measured_sum - nadir_sum AS change_from_nadir,
    resp_pct(sum_mm - baseline_sum, baseline_sum) AS pct_from_baseline,
    resp_pct(measured_sum - nadir_sum, nadir_sum) AS pct_from_nadir,
    -- C1/C6: the density now and at baseline (HU), and its change from baseline (%)
    sum_hu / n_hu AS mean_hu,
    baseline_sum_hu / baseline_n_hu AS baseline_mean_hu,
    CASE WHEN NOT is_baseline THEN
        resp_pct(sum_hu * baseline_n_hu - baseline_sum_hu * n_hu, baseline_sum_hu * n_hu)
    END AS pct_hu_from_baseline
FROM with_density
