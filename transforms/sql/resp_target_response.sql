-- R5-R9 / M2-M3: target response at each follow-up, first rule that applies.
-- Every comparison is exact decimal arithmetic: PD needs sum > nadir, an
-- increase of at least pd_min_increase_mm and sum >= nadir x pd fraction; PR
-- needs sum <= baseline x pr fraction. PD is tested on measured_sum first: when
-- targets are missing, the missing ones can only add (R5). target_detail is the
-- numbers part of the reason (X1).
CREATE OR REPLACE TEMP TABLE resp_target_response AS
WITH decided AS (
    SELECT
        s.*, c.pd_rule, c.cr_rule, c.pr_rule, c.sd_rule, c.non_nodal_measure,
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
        s.measured_sum - s.nadir_sum AS measured_over_nadir,
        'nadir ' || resp_mm(s.nadir_sum) || ' (' || s.nadir_date::VARCHAR || ')' AS nadir_text,
        ' from baseline ' || resp_mm(s.baseline_sum) AS baseline_text
    FROM resp_target_sums AS s
    JOIN resp_criteria AS c USING (criteria)
)
SELECT
    *,
    CASE target_response
        WHEN 'NE' THEN
            CASE WHEN baseline_sum IS NULL
                 THEN 'baseline sum not evaluable (' || baseline_unsized || ' at baseline)'
                 ELSE CASE WHEN n_unsized > 1 THEN 'targets ' ELSE 'target ' END || unsized END
        WHEN 'PD' THEN
            CASE WHEN sum_mm IS NULL THEN 'measured targets already sum ' || resp_mm(measured_sum) || ', '
                 ELSE 'sum ' || resp_mm(sum_mm) || ' is ' END
            || resp_change(measured_over_nadir, nadir_sum) || ' over ' || nadir_text
            || CASE WHEN sum_mm IS NULL THEN ' (' || unsized || ')' ELSE '' END
        WHEN 'CR' THEN
            'every non-nodal target ' || non_nodal_measure || ' 0 mm and every nodal target < '
            || resp_mm(getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
            || ' short axis (sum ' || resp_mm(sum_mm) || ')'
        WHEN 'PR' THEN
            'sum ' || resp_mm(sum_mm) || ' is ' || resp_change(sum_mm - baseline_sum, baseline_sum)
            || baseline_text
        WHEN 'SD' THEN
            'sum ' || resp_mm(sum_mm) || ' is ' || resp_change(sum_mm - baseline_sum, baseline_sum)
            || baseline_text || ' and ' || resp_change(sum_mm - nadir_sum, nadir_sum) || ' from '
            || nadir_text
    END AS target_detail
FROM decided
