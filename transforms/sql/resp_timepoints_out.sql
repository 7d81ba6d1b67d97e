-- timepoint_responses (warehouse contract) without run_id, plus the internal
-- columns has_target_disease and progression_date_hint for the best-response
-- stage. Sums to 0.1 mm, percentages to 0.1; changes are null on the baseline row.
-- Rows come in patient order (scope_id follows patient_key), then criteria and date.
SELECT
    patient_key, criteria, study_date, baseline_date,
    (study_date - baseline_date)::INTEGER AS days_from_baseline,
    round(sum_mm, 1)::DECIMAL(10, 1) AS sum_mm,
    round(baseline_sum, 1)::DECIMAL(10, 1) AS baseline_sum_mm,
    round(nadir_sum, 1)::DECIMAL(10, 1) AS nadir_sum_mm,
    CASE WHEN NOT is_baseline THEN pct_from_baseline END AS pct_change_from_baseline,
    pct_from_nadir AS pct_change_from_nadir,
    round(change_from_nadir, 1)::DECIMAL(10, 1) AS abs_change_from_nadir_mm,
    target_response, nontarget_response, new_lesions, overall_response, reason,
    has_target_disease, progression_date_hint
FROM resp_overall
WHERE scope = 'course'
ORDER BY scope_id, criteria, study_date
