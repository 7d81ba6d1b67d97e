-- R5-R9 / M2-M3: target response at each follow-up, first rule that applies.
-- Every comparison is exact decimal arithmetic: PD needs sum > nadir, an
-- increase of at least pd_min_increase_mm and sum >= nadir x pd fraction; PR
-- needs sum <= baseline x pr fraction. PD is tested on measured_sum first: when
-- targets are missing, the missing ones can only add (R5). The changes are
-- computed once and reused by the output columns and target_detail, the
-- numbers part of the reason (X1).
CREATE OR REPLACE TEMP VIEW resp_target_response AS
WITH decided AS (
    SELECT
        s.scope_id, s.study_date, s.criteria, s.sum_mm, s.baseline_sum, s.nadir_sum,
        s.nadir_date, s.measured_sum, s.n_unsized, s.unsized, s.baseline_unsized,
        c.pd_rule, c.non_nodal_measure,
        CASE
            WHEN s.is_baseline THEN NULL
            WHEN s.baseline_sum IS NULL THEN 'NE'
            WHEN s.measured_sum > s.nadir_sum
             AND s.measured_sum - s.nadir_sum >= c.pd_min_increase_mm
             AND s.measured_sum >= s.nadir_sum * c.pd_min_fraction_of_nadir THEN 'PD'
            WHEN s.sum_mm IS NULL THEN 'NE'
            WHEN s.all_resolved THEN 'CR'
            WHEN s.sum_mm <= s.baseline_sum * c.pr_max_fraction_of_baseline THEN 'PR'
            ELSE 'SD'
        END AS target_response,
        s.sum_mm - s.baseline_sum AS change_from_baseline,
        s.measured_sum - s.nadir_sum AS change_from_nadir
    FROM resp_target_sums AS s
    JOIN resp_criteria AS c ON c.criteria = s.criteria
),
changes AS (
    SELECT
        *,
        resp_pct(change_from_baseline, baseline_sum) AS pct_from_baseline,
        resp_pct(change_from_nadir, nadir_sum) AS pct_from_nadir
    FROM decided
)
SELECT
    scope_id, study_date, criteria, sum_mm, baseline_sum, nadir_sum, pd_rule, target_response,
    pct_from_baseline,
    CASE WHEN sum_mm IS NOT NULL THEN pct_from_nadir END AS pct_from_nadir,
    CASE WHEN sum_mm IS NOT NULL THEN change_from_nadir END AS change_from_nadir,
    CASE target_response
        WHEN 'NE' THEN
            CASE WHEN baseline_sum IS NULL
                 THEN 'baseline sum not evaluable (' || baseline_unsized || ' at baseline)'
                 ELSE resp_named(n_unsized, 'target', unsized) END
        WHEN 'PD' THEN
            CASE WHEN sum_mm IS NULL
                 THEN 'measured targets already sum ' || resp_mm(measured_sum) || ', '
                 ELSE 'sum ' || resp_mm(sum_mm) || ' is ' END
            || resp_change(pct_from_nadir, change_from_nadir)
            || ' over nadir ' || resp_mm(nadir_sum) || ' (' || nadir_date::VARCHAR || ')'
            || CASE WHEN sum_mm IS NULL THEN ' (' || unsized || ')' ELSE '' END
        WHEN 'CR' THEN
            'every non-nodal target ' || non_nodal_measure || ' 0 mm and every nodal target < '
            || resp_mm(getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
            || ' short axis (sum ' || resp_mm(sum_mm) || ')'
        WHEN 'PR' THEN
            'sum ' || resp_mm(sum_mm) || ' is '
            || resp_change(pct_from_baseline, change_from_baseline)
            || ' from baseline ' || resp_mm(baseline_sum)
        WHEN 'SD' THEN
            'sum ' || resp_mm(sum_mm) || ' is '
            || resp_change(pct_from_baseline, change_from_baseline)
            || ' from baseline ' || resp_mm(baseline_sum)
            || ' and ' || resp_change(pct_from_nadir, change_from_nadir)
            || ' from nadir ' || resp_mm(nadir_sum) || ' (' || nadir_date::VARCHAR || ')'
    END AS target_detail
FROM changes
