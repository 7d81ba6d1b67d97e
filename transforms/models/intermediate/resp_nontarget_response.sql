-- depends_on: resp_target_response
-- reads:
-- R10 / M4: non-target response per scope, study and criteria, first match:
-- PD if any baseline non-target shows progression; NE if any is not evaluated
-- or has no row; CR if every one is resolved (absent; a node with short axis
-- below the normal limit; under mRECIST also non-enhancing); else NON-CR/NON-PD
-- (mRECIST's IR/SD). A scope without non-targets has no non-target response
-- (null, not NE). n_present counts the non-targets neither resolved nor
-- progressed nor unevaluated under the criteria.
CREATE OR REPLACE TEMP VIEW resp_nontarget_response AS
WITH counted AS (
    SELECT
        *,
        n_resolved + CASE WHEN non_enhancing_resolved THEN n_non_enhancing ELSE 0 END
            AS n_resolved_here
    FROM resp_target_response
)
SELECT
    * EXCLUDE (n_resolved_here),
    CASE
        WHEN NOT has_nontarget OR is_baseline THEN NULL
        WHEN n_progressed > 0 THEN 'PD'
        WHEN n_unevaluated > 0 THEN 'NE'
        WHEN n_resolved_here = n_nontargets THEN 'CR'
        ELSE 'NON-CR/NON-PD'
    END AS nontarget_response,
    n_nontargets - n_progressed - n_unevaluated - n_resolved_here AS n_present
FROM counted
