-- R12-R14 / F3 / X1 / B2 / B3 / B5: overall response per scope, study and
-- criteria, and the reason: the rule that decided it with its numbers.
-- A scope with targets at its baseline follows R12, one with non-targets only
-- R13, one with neither R14 (F3: an in_field scope without in-field targets).
CREATE OR REPLACE TEMP TABLE resp_overall AS
WITH disease AS (
    SELECT
        scope_id,
        bool_or(role = 'target') AS has_target,
        bool_or(role = 'non_target') AS has_nontarget
    FROM resp_baseline_lesions
    GROUP BY scope_id
),
joined AS (
    SELECT
        sc.scope_id, sc.patient_key, sc.scope, sc.session_key, sc.session_id, sc.session_number,
        sc.modality, sc.start_date, sc.baseline_date, ss.study_date, ss.is_baseline,
        ss.has_lesion_rows, c.criteria, c.cr_rule, c.pr_rule, c.sd_rule, c.nontarget_cr_rule,
        coalesce(d.has_target, FALSE) AS has_target,
        coalesce(d.has_nontarget, FALSE) AS has_nontarget,
        t.target_response, t.target_detail, t.pd_rule, t.sum_mm, t.baseline_sum, t.nadir_sum,
        t.pct_from_baseline, t.pct_from_nadir, t.change_from_nadir,
        n.nontarget_response, n.n_progressed, n.progressed, n.n_unevaluated, n.unevaluated,
        n.n_present, n.present,
        CASE WHEN sc.baseline_date IS NOT NULL AND NOT ss.is_baseline
             THEN coalesce(nl.new_present, FALSE) END AS new_lesions,
        nl.n_new, nl.new_ids, nl.first_seen, nl.equivocal_ids
    FROM resp_scope_studies AS ss
    JOIN resp_scopes AS sc ON sc.scope_id = ss.scope_id
    CROSS JOIN resp_criteria AS c
    LEFT JOIN disease AS d ON d.scope_id = ss.scope_id
    LEFT JOIN resp_target_response AS t
        ON t.scope_id = ss.scope_id AND t.study_date = ss.study_date AND t.criteria = c.criteria
    LEFT JOIN resp_nontarget_response AS n
        ON n.scope_id = ss.scope_id AND n.study_date = ss.study_date AND n.criteria = c.criteria
    LEFT JOIN resp_new_lesions AS nl
        ON nl.scope_id = ss.scope_id AND nl.study_date = ss.study_date
),
decided AS (
    SELECT
        *,
        CASE
            WHEN baseline_date IS NULL THEN 'NE'
            WHEN is_baseline THEN NULL
            WHEN target_response = 'PD' OR nontarget_response = 'PD' OR new_lesions THEN 'PD'
            WHEN has_target THEN
                CASE WHEN target_response = 'NE' THEN 'NE'
                     WHEN target_response = 'CR'
                      AND coalesce(nontarget_response, 'CR') = 'CR' THEN 'CR'
                     WHEN target_response IN ('CR', 'PR') THEN 'PR'
                     ELSE 'SD' END
            WHEN has_nontarget THEN
                CASE nontarget_response WHEN 'NE' THEN 'NE' WHEN 'CR' THEN 'CR'
                     ELSE 'NON-CR/NON-PD' END
            ELSE 'NE'
        END AS overall_response
    FROM joined
)
SELECT
    scope_id, patient_key, scope, session_key, session_id, session_number, modality, start_date,
    criteria, study_date, baseline_date, is_baseline,
    sum_mm, baseline_sum, nadir_sum, pct_from_baseline, pct_from_nadir, change_from_nadir,
    target_response, nontarget_response, new_lesions, overall_response,
    CASE
        WHEN baseline_date IS NULL THEN
            CASE WHEN scope = 'course' THEN 'NE (B2): ' ELSE 'NE (B3): ' END
            || 'no baseline study within ' || getvariable('baseline_lookback_days')::VARCHAR
            || CASE WHEN scope = 'course' THEN ' days before the first session'
                    ELSE ' days before the session' END
        WHEN is_baseline THEN 'baseline'
        WHEN overall_response = 'PD' THEN
            'PD (' || concat_ws(', ',
                CASE WHEN target_response = 'PD' THEN pd_rule END,
                CASE WHEN nontarget_response = 'PD' THEN 'R10' END,
                CASE WHEN new_lesions THEN 'R11' END)
            || '): ' || concat_ws('; ',
                CASE WHEN target_response = 'PD' THEN target_detail END,
                CASE WHEN nontarget_response = 'PD'
                     THEN resp_named(n_progressed, 'non-target', progressed) || ' progressed' END,
                CASE WHEN new_lesions THEN resp_named(n_new, 'new lesion', new_ids) END)
        WHEN NOT has_target AND NOT has_nontarget THEN
            'NE (R14): no measurable or evaluable disease at baseline'
        WHEN has_target THEN
            CASE overall_response
                WHEN 'NE' THEN 'NE (R6): '
                    || CASE WHEN has_lesion_rows THEN ''
                            ELSE 'no lesion recorded at this study: ' END
                    || target_detail
                WHEN 'CR' THEN 'CR (' || cr_rule || '): ' || target_detail
                    || CASE WHEN has_nontarget THEN '; every non-target resolved'
                            ELSE '; no non-target at baseline' END
                WHEN 'PR' THEN
                    CASE WHEN target_response = 'CR'
                         THEN 'PR (R12): targets CR (' || target_detail || ') but '
                              || coalesce(
                                  resp_named(n_present, 'non-target', present) || ' present',
                                  resp_named(n_unevaluated, 'non-target', unevaluated))
                         ELSE 'PR (' || pr_rule || '): ' || target_detail END
                ELSE 'SD (' || sd_rule || '): ' || target_detail
            END
        ELSE
            CASE overall_response
                WHEN 'NE' THEN 'NE (R13): '
                    || CASE WHEN has_lesion_rows THEN ''
                            ELSE 'no lesion recorded at this study: ' END
                    || resp_named(n_unevaluated, 'non-target', unevaluated)
                WHEN 'CR' THEN 'CR (' || nontarget_cr_rule
                    || '): every non-target resolved; no target at baseline'
                ELSE 'NON-CR/NON-PD (R13): ' || resp_named(n_present, 'non-target', present)
                    || ' present; no target at baseline'
            END
    END
    || CASE WHEN equivocal_ids IS NOT NULL AND NOT is_baseline
            THEN '; equivocal new lesion ' || equivocal_ids || ' is not progression (R11)'
            ELSE '' END AS reason,
    has_target AS has_target_disease,
    CASE WHEN overall_response = 'PD'
         THEN CASE WHEN new_lesions AND first_seen < study_date THEN first_seen
                   ELSE study_date END END AS progression_date_hint
FROM decided
