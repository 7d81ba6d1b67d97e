-- depends_on: resp_reasons, resp_scopes
-- reads:
-- session_responses (warehouse contract) without run_id, scopes overall and
-- in_field, plus has_target_disease and progression_date_hint. F2:
-- out_of_field_progression is the overall response of the session's hidden
-- out_field scope being PD (a new lesion outside the treated segments or the
-- liver, an out-of-field non-target progressing, or the out-of-field target sum
-- meeting R5/M2 against its own nadir); null on the baseline row and without a
-- baseline. An in_field reason says what progressed outside the field.
-- Rows come in patient and session order (session_key), scope, then criteria and date.
WITH out_field_pd AS (
    SELECT session_key, study_date, criteria, reason
    FROM resp_reasons
    WHERE scope = 'out_field' AND overall_response = 'PD'
)
SELECT
    p.patient_key, r.criteria, s.session_id, s.session_number, s.modality, r.scope,
    r.study_date, r.baseline_date,
    (r.study_date - r.baseline_date)::INTEGER AS days_from_baseline,
    (r.study_date - r.start_date)::INTEGER AS days_after_session,
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
    r.target_response, r.nontarget_response, r.new_lesions, r.overall_response,
    CASE WHEN r.baseline_date IS NOT NULL AND NOT r.is_baseline
         THEN o.session_key IS NOT NULL END AS out_of_field_progression,
    r.reason || CASE WHEN r.scope = 'in_field' AND o.session_key IS NOT NULL AND NOT r.is_baseline
                     THEN '; out of field (F2): ' || o.reason ELSE '' END AS reason,
    r.has_target AS has_target_disease, r.progression_date_hint
FROM resp_reasons AS r
JOIN resp_sessions AS s ON s.session_key = r.session_key
JOIN resp_patients AS p ON p.pid = r.pid
LEFT JOIN out_field_pd AS o
    ON o.session_key = r.session_key AND o.study_date = r.study_date AND o.criteria = r.criteria
WHERE r.scope IN ('overall', 'in_field')
ORDER BY r.session_key, r.scope, r.criteria, r.study_date
