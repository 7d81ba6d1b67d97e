-- session_responses (warehouse contract) without run_id, scopes overall and
-- in_field, plus has_target_disease and progression_date_hint. F2:
-- out_of_field_progression is the overall response of the session's hidden
-- out_field scope being PD (a new lesion outside the treated segments or the
-- liver, an out-of-field non-target progressing, or the out-of-field target sum
-- meeting R5/M2 against its own nadir); null on the baseline row and without a
-- baseline. An in_field reason says what progressed outside the field.
-- Rows come in patient and session order (scope_id), then criteria and date.
SELECT
    r.patient_key, r.criteria, r.session_id, r.session_number, r.modality, r.scope,
    r.study_date, r.baseline_date,
    (r.study_date - r.baseline_date)::INTEGER AS days_from_baseline,
    (r.study_date - r.start_date)::INTEGER AS days_after_session,
    round(r.sum_mm, 1)::DECIMAL(10, 1) AS sum_mm,
    round(r.baseline_sum, 1)::DECIMAL(10, 1) AS baseline_sum_mm,
    round(r.nadir_sum, 1)::DECIMAL(10, 1) AS nadir_sum_mm,
    CASE WHEN NOT r.is_baseline THEN r.pct_from_baseline END AS pct_change_from_baseline,
    r.pct_from_nadir AS pct_change_from_nadir,
    round(r.change_from_nadir, 1)::DECIMAL(10, 1) AS abs_change_from_nadir_mm,
    r.target_response, r.nontarget_response, r.new_lesions, r.overall_response,
    CASE WHEN r.baseline_date IS NOT NULL AND NOT r.is_baseline
         THEN coalesce(o.overall_response = 'PD', FALSE) END AS out_of_field_progression,
    r.reason || CASE WHEN r.scope = 'in_field' AND o.overall_response = 'PD' AND NOT r.is_baseline
                     THEN '; out of field (F2): ' || o.reason ELSE '' END AS reason,
    r.has_target_disease, r.progression_date_hint
FROM resp_overall AS r
LEFT JOIN resp_overall AS o
    ON o.session_key = r.session_key AND o.scope = 'out_field'
   AND o.study_date = r.study_date AND o.criteria = r.criteria
WHERE r.scope IN ('overall', 'in_field')
ORDER BY r.scope_id, r.criteria, r.study_date
