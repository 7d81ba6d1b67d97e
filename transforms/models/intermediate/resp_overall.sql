-- depends_on: resp_lesion_sizes, resp_nontarget_response, resp_rules, resp_scope_lesions, resp_scope_studies
-- reads:
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

-- R15 / M6: after an overall CR at the previous assessment of the same scope, a
-- lesion that reappears makes the response PD: a target not resolved (R7/M3/A3: a
-- non-nodal target above 0 mm under the criteria's measure, EASL reading the
-- viable diameter; a node at or above the normal short axis; a target without a
-- size does not count), or a non-target present or progressing (non-enhancing
-- counts as present under RECIST 1.1 and Choi, M4). The sizes the reason quotes
-- are in the criteria's unit (EASL: mm2, a node's short axis squared). One row
-- per follow-up where that happened, with the date
-- of the CR and the lesions the reason names (X1). R15 only ever turns a
-- response into PD, and never a CR (a CR has every lesion resolved), so the CRs
-- are those of resp_decided. They are few, so the lesions are looked up for the
-- follow-ups after them alone (those of an overall scope: both its leaves).
-- Scope out_field is left out: out_of_field_progression is what F2 lists, and
-- R15 is not among it. After any other response, R5 and R10 decide alone.
CREATE OR REPLACE TEMP TABLE resp_reappearances AS
WITH cr AS (
    SELECT scope_id, pid, criteria, study_date AS cr_date
    FROM resp_decided
    WHERE overall_response = 'CR' AND scope <> 'out_field'
      -- implied by a CR; stated so that most rows are dropped before the rules run
      AND NOT is_baseline AND all_resolved IS NOT FALSE
      AND n_progressed = 0 AND n_unevaluated = 0 AND new_present IS NOT TRUE
),
after_cr AS (
    SELECT cr.scope_id, cr.pid, cr.criteria, cr.cr_date, min(ss.study_date) AS study_date
    FROM cr
    JOIN resp_scope_studies AS ss ON ss.scope_id = cr.scope_id AND ss.study_date > cr.cr_date
    GROUP BY cr.scope_id, cr.pid, cr.criteria, cr.cr_date
),
lesions AS (
    SELECT a.*, b.lesion_id, b.role, b.is_nodal
    FROM after_cr AS a
    JOIN resp_baseline_lesions AS b ON b.leaf_id = a.scope_id
    UNION ALL
    SELECT a.*, b.lesion_id, b.role, b.is_nodal
    FROM after_cr AS a
    JOIN resp_baseline_lesions AS b ON b.tracking_id = a.scope_id AND b.leaf_id <> a.scope_id
),
looked_up AS (
    SELECT
        l.scope_id, l.criteria, l.cr_date, l.study_date, l.lesion_id, l.role, l.is_nodal,
        c.measure, c.non_nodal_measure, c.unit_text, c.non_enhancing_resolved, ls.viable_mm,
        resp_target_size(
            l.is_nodal, ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2, c.measure)
            AS size_mm,
        -- R7/M3/A3: resolved under the criteria (EASL's CR reads the viable diameter)
        resp_target_resolved(l.is_nodal, resp_target_size(
            l.is_nodal, ls.short_mm, ls.longest_mm, ls.viable_mm, ls.area_mm2,
            resp_by_measure(c.measure, 'longest', 'viable', 'viable'))) AS resolved,
        CASE WHEN l.role = 'non_target' THEN
            resp_nontarget_state(
                ls.lesion_id IS NOT NULL, ls.any_progression, ls.any_not_evaluated, ls.all_absent,
                ls.all_absent_or_non_enhancing, l.is_nodal, ls.short_mm)
        END AS state
    FROM lesions AS l
    JOIN resp_criteria AS c ON c.criteria = l.criteria
    LEFT JOIN resp_lesion_sizes AS ls
        ON ls.pid = l.pid AND ls.study_date = l.study_date
       AND ls.lesion_id = l.lesion_id AND ls.role = l.role
),
flagged AS (
    SELECT
        *,
        role = 'target' AND NOT resolved AS target_back,
        state IN ('present', 'progression')
            OR (state = 'non-enhancing' AND NOT non_enhancing_resolved) AS nontarget_back
    FROM looked_up
)
SELECT
    scope_id, criteria, study_date, cr_date,
    count(*) FILTER (WHERE target_back) AS n_reappeared_targets,
    resp_joined(list(
        lesion_id || ' at '
        || CASE WHEN size_mm IS NULL
                -- EASL: viable tissue back, its perpendicular not measured (no cross-product)
                THEN resp_mm(viable_mm) || ' viable diameter'
                ELSE resp_size(size_mm, unit_text)
                     || CASE WHEN is_nodal AND measure = 'area' THEN ' short axis squared'
                             WHEN is_nodal THEN ' short axis' ELSE ' ' || non_nodal_measure END
           END)
        FILTER (WHERE target_back)) AS reappeared_targets,
    count(*) FILTER (WHERE nontarget_back) AS n_reappeared_nontargets,
    resp_joined(list(lesion_id || ' ' || state) FILTER (WHERE nontarget_back))
        AS reappeared_nontargets
FROM flagged
GROUP BY scope_id, criteria, study_date, cr_date
HAVING bool_or(target_back OR nontarget_back);

-- R15 / M6 on top of R12-R14: a follow-up with a reappearance is PD.
CREATE OR REPLACE TEMP VIEW resp_overall AS
WITH reappearance AS (
    SELECT
        d.*,
        a.* EXCLUDE (scope_id, criteria, study_date),
        a.scope_id IS NOT NULL AS reappeared
    FROM resp_decided AS d
    LEFT JOIN resp_reappearances AS a
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
    n_reappeared_targets, reappeared_targets, n_reappeared_nontargets, reappeared_nontargets,
    overall_response,
    CASE WHEN overall_response = 'PD'
         THEN CASE WHEN new_lesions AND first_seen < study_date THEN first_seen
                   ELSE study_date END END AS progression_date_hint
FROM decided
