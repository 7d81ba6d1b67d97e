-- B1/B4/B5: the studies of each scope, the baseline first. Studies before the
-- baseline are ignored; follow-ups are after the scope's start date and before
-- its end date. has_lesion_rows tells a reason "nothing was recorded" apart
-- from "a lesion is missing".
CREATE OR REPLACE TEMP TABLE resp_scope_studies AS
SELECT
    sc.scope_id, sc.patient_key, st.study_date,
    coalesce(st.study_date = sc.baseline_date, FALSE) AS is_baseline,
    EXISTS (
        SELECT 1 FROM resp_lesion_sizes AS ls
        WHERE ls.patient_key = st.patient_key AND ls.study_date = st.study_date
    ) AS has_lesion_rows
FROM resp_scopes AS sc
JOIN resp_studies AS st ON st.patient_key = sc.patient_key
WHERE st.study_date = sc.baseline_date
   OR (st.study_date > sc.start_date AND (sc.end_date IS NULL OR st.study_date < sc.end_date))
