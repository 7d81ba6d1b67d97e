-- R10 / M4: non-target response per scope, study and criteria, first match:
-- PD if any baseline non-target shows progression; NE if any is not evaluated
-- or has no row; CR if every one is resolved (absent; a node with short axis
-- below the normal limit; under mRECIST also non-enhancing); else NON-CR/NON-PD
-- (mRECIST's IR/SD). A scope without non-targets gets no row here (null, not NE).
CREATE OR REPLACE TEMP VIEW resp_nontarget_response AS
WITH states AS (
    SELECT
        t.scope_id, t.study_date, t.is_baseline, c.criteria, t.lesion_id,
        CASE WHEN NOT t.has_row THEN 'missing'
             WHEN t.any_progression THEN 'progression'
             WHEN t.any_not_evaluated THEN 'not evaluated'
             WHEN t.all_absent
               OR (c.non_enhancing_resolved AND t.all_absent_or_non_enhancing)
               OR (t.is_nodal
                   AND t.short_mm < getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
                  THEN 'resolved'
             ELSE 'present' END AS state
    FROM resp_tracked_lesions AS t
    CROSS JOIN resp_criteria AS c
    WHERE t.role = 'non_target'
)
SELECT
    scope_id, study_date, criteria,
    CASE WHEN bool_or(is_baseline) THEN NULL
         WHEN bool_or(state = 'progression') THEN 'PD'
         WHEN bool_or(state IN ('missing', 'not evaluated')) THEN 'NE'
         WHEN bool_and(state = 'resolved') THEN 'CR'
         ELSE 'NON-CR/NON-PD' END AS nontarget_response,
    count(*) FILTER (WHERE state = 'progression') AS n_progressed,
    resp_joined(list(lesion_id) FILTER (WHERE state = 'progression')) AS progressed,
    count(*) FILTER (WHERE state IN ('missing', 'not evaluated')) AS n_unevaluated,
    resp_joined(list(lesion_id || ' ' || state)
                FILTER (WHERE state IN ('missing', 'not evaluated'))) AS unevaluated,
    count(*) FILTER (WHERE state = 'present') AS n_present,
    resp_joined(list(lesion_id) FILTER (WHERE state = 'present')) AS present
FROM states
GROUP BY scope_id, study_date, criteria
