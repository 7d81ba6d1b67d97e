-- depends_on: resp_reasons, resp_scopes
-- reads:
-- timepoint_responses (warehouse contract) without run_id, plus the internal
-- columns has_target_disease and progression_date_hint for the best-response
-- stage. Sums to 0.1 mm (mm2 for EASL, sum_unit), densities to 0.1 HU (Choi, C6),
-- percentages to 0.1; changes are null on the baseline
-- row, and the changes from the nadir when the sum is not evaluable.
-- Rows come in patient order (pid follows patient_key), then criteria and date.
SELECT
    p.patient_key, r.criteria, r.study_date, r.baseline_date,
    (r.study_date - r.baseline_date)::INTEGER AS days_from_baseline,
    round(r.sum_mm, 1)::DECIMAL(10, 1) AS sum_mm,
    round(r.baseline_sum, 1)::DECIMAL(10, 1) AS baseline_sum_mm,
    round(r.nadir_sum, 1)::DECIMAL(10, 1) AS nadir_sum_mm,
    r.sum_unit,
    round(r.mean_hu, 1)::DECIMAL(10, 1) AS mean_hu,
    round(r.baseline_mean_hu, 1)::DECIMAL(10, 1) AS baseline_mean_hu,
    r.pct_hu_from_baseline AS pct_change_hu_from_baseline,
    CASE WHEN NOT r.is_baseline THEN r.pct_from_baseline END AS pct_change_from_baseline,
    CASE WHEN r.sum_mm IS NOT NULL THEN r.pct_from_nadir END AS pct_change_from_nadir,
    round(CASE WHEN r.sum_mm IS NOT NULL THEN r.change_from_nadir END, 1)::DECIMAL(10, 1)
        AS abs_change_from_nadir_mm,
    r.target_response, r.nontarget_response, r.new_lesions, r.overall_response, r.reason,
    r.has_target AS has_target_disease, r.progression_date_hint
FROM resp_reasons AS r
JOIN resp_patients AS p ON p.pid = r.pid
WHERE r.scope = 'course'
ORDER BY r.pid, r.criteria, r.study_date
