-- depends_on: resp_lesion_sizes, resp_scopes
-- reads:
-- B1/B4/B5: the studies of each scope, the baseline first. Studies before the
-- baseline are ignored; follow-ups are after the scope's start date and before
-- its end date. has_lesion_rows tells a reason "nothing was recorded" apart
-- from "a lesion is missing".
CREATE OR REPLACE TEMP TABLE resp_scope_studies AS
WITH recorded AS (
    SELECT DISTINCT pid, study_date FROM resp_lesion_sizes
)
SELECT
    sc.scope_id, sc.pid, sc.scope, sc.session_key, sc.start_date, sc.baseline_date, st.study_date,
    coalesce(st.study_date = sc.baseline_date, FALSE) AS is_baseline,
    r.pid IS NOT NULL AS has_lesion_rows
FROM resp_scopes AS sc
JOIN resp_studies AS st ON st.pid = sc.pid
LEFT JOIN recorded AS r ON r.pid = st.pid AND r.study_date = st.study_date
WHERE st.study_date = sc.baseline_date
   OR (st.study_date > sc.start_date AND (sc.end_date IS NULL OR st.study_date < sc.end_date))
