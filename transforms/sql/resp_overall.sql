-- R12-R14 / F3 / B2 / B3 / B5: overall response per scope, study and criteria.
-- A scope with targets at its baseline follows R12, one with non-targets only
-- R13, one with neither R14 (F3: an in_field scope without in-field targets).
-- A view: the reason (X1) and the output models read it for the rows they
-- publish, so no row is materialised twice.
CREATE OR REPLACE TEMP VIEW resp_overall AS
WITH with_new AS (
    SELECT
        *,
        CASE WHEN baseline_date IS NOT NULL AND NOT is_baseline
             THEN coalesce(new_present, FALSE) END AS new_lesions
    FROM resp_nontarget_response
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
    FROM with_new
)
SELECT
    scope_id, pid, scope, session_key, start_date, criteria, study_date, baseline_date,
    is_baseline, has_lesion_rows, has_target, has_nontarget,
    sum_mm, measured_sum, baseline_sum, nadir_sum, nadir_date, n_unsized,
    change_from_baseline, change_from_nadir, pct_from_baseline, pct_from_nadir,
    target_response, nontarget_response, n_progressed, n_unevaluated, n_present,
    new_lesions, n_new, new_ids, first_seen, equivocal_ids, overall_response,
    CASE WHEN overall_response = 'PD'
         THEN CASE WHEN new_lesions AND first_seen < study_date THEN first_seen
                   ELSE study_date END END AS progression_date_hint
FROM decided
