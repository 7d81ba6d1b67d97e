-- R12-R15 / M6 / A4 / C2-C3 / F3 / B2 / B3 / B5: overall response per scope, study
-- and criteria (EASL and Choi combine their target response as R12-R15 do).
-- A scope with targets at its baseline follows R12, one with non-targets only
-- R13, one with neither R14 (F3: an in_field scope without in-field targets).
-- resp_decided is that decision; resp_overall adds R15 (M6 under mRECIST) on top.
-- Both are views: the reason (X1) and the output models read them for the rows
-- they publish, so no row is materialised twice.
CREATE OR REPLACE TEMP VIEW resp_decided AS
WITH with_new AS (
    SELECT
        *,
        CASE WHEN baseline_date IS NOT NULL AND NOT is_baseline
             THEN coalesce(new_present, FALSE) END AS new_lesions
    FROM resp_nontarget_response
)
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
FROM with_new;

-- R15 / M6: the follow-ups whose previous assessment in the same scope was an
-- overall CR, with the date of that CR. R15 only ever turns a response into PD,
-- and never a CR (a CR has every target resolved and every non-target resolved,
-- so nothing has reappeared), so the CRs are those of resp_decided. Scope
-- out_field is left out: out_of_field_progression is what F2 lists, and R15 is
-- not among it. Few rows (the CRs), so the lesion ids a reason names can be
-- gathered for them alone (resp_reason_lists).
CREATE OR REPLACE TEMP TABLE resp_after_cr AS
WITH cr AS (
    SELECT scope_id, criteria, study_date AS cr_date
    FROM resp_decided
    WHERE overall_response = 'CR' AND scope <> 'out_field'
)
SELECT cr.scope_id, cr.criteria, min(ss.study_date) AS study_date, cr.cr_date
FROM cr
JOIN resp_scope_studies AS ss ON ss.scope_id = cr.scope_id AND ss.study_date > cr.cr_date
GROUP BY cr.scope_id, cr.criteria, cr.cr_date;

-- R15 / M6: after an overall CR at the previous assessment of the scope, a
-- lesion that reappears makes the response PD: a target not resolved (R7/M3: a
-- non-nodal target above 0 mm under the criteria's measure, a node at or above
-- the normal short axis; a target without a size is not counted), or a
-- non-target present or progressing (n_present counts a non-enhancing one
-- under RECIST 1.1 only, M4). After any other response, R5 and R10 decide alone.
CREATE OR REPLACE TEMP VIEW resp_overall AS
WITH reappearance AS (
    SELECT
        d.*,
        a.cr_date,
        coalesce(
            a.cr_date IS NOT NULL
            AND (d.n_present > 0 OR d.n_progressed > 0 OR NOT d.all_resolved), FALSE
        ) AS reappeared
    FROM resp_decided AS d
    LEFT JOIN resp_after_cr AS a
        ON a.scope_id = d.scope_id AND a.criteria = d.criteria AND a.study_date = d.study_date
),
decided AS (
    SELECT
        * EXCLUDE (overall_response),
        CASE WHEN reappeared THEN 'PD' ELSE overall_response END AS overall_response
    FROM reappearance
)
SELECT
    scope_id, pid, scope, session_key, start_date, criteria, study_date, baseline_date,
    is_baseline, has_lesion_rows, has_target, has_nontarget,
    sum_mm, measured_sum, baseline_sum, nadir_sum, nadir_date, n_unsized, sum_unit,
    change_from_baseline, change_from_nadir, pct_from_baseline, pct_from_nadir,
    mean_hu, baseline_mean_hu, pct_hu_from_baseline, density_fell,
    target_response, nontarget_response, n_progressed, n_unevaluated, n_present,
    new_lesions, n_new, new_ids, first_seen, equivocal_ids, reappeared, cr_date,
    overall_response,
    CASE WHEN overall_response = 'PD'
         THEN CASE WHEN new_lesions AND first_seen < study_date THEN first_seen
                   ELSE study_date END END AS progression_date_hint
FROM decided
