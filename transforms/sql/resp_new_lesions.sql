-- R11/F1: new lesions per scope and follow-up. A row with role `new` counts
-- unless its lesion was already there at the scope's baseline study (any role,
-- other than a merely equivocal new lesion). In scope in_field only new lesions
-- in a treated liver segment count; in out_field only the others (F2).
-- `equivocal` is not progression; when the lesion is later `present`, the
-- progression is dated to the first follow-up at which the lesion was seen.
CREATE OR REPLACE TEMP VIEW resp_new_lesions AS
WITH at_baseline AS (
    SELECT sc.scope_id, ls.lesion_id
    FROM resp_scopes AS sc
    JOIN resp_lesion_sizes AS ls
        ON ls.patient_key = sc.patient_key AND ls.study_date = sc.baseline_date
    WHERE ls.role <> 'new' OR ls.any_present
),
seen AS (
    SELECT ss.scope_id, ss.study_date, ls.lesion_id, ls.any_present
    FROM resp_scope_studies AS ss
    JOIN resp_scopes AS sc ON sc.scope_id = ss.scope_id
    JOIN resp_lesion_sizes AS ls
        ON ls.patient_key = ss.patient_key AND ls.study_date = ss.study_date AND ls.role = 'new'
    WHERE NOT ss.is_baseline
      AND resp_in_scope(sc.scope, sc.treated_segments, ls.liver_with_segment, ls.segments)
      AND NOT EXISTS (
          SELECT 1 FROM at_baseline AS b
          WHERE b.scope_id = ss.scope_id AND b.lesion_id = ls.lesion_id
      )
),
dated AS (
    SELECT *, min(study_date) OVER (PARTITION BY scope_id, lesion_id) AS first_seen
    FROM seen
)
SELECT
    scope_id, study_date,
    bool_or(any_present) AS new_present,
    count(*) FILTER (WHERE any_present) AS n_new,
    resp_joined(list(
        lesion_id || CASE WHEN first_seen < study_date
                          THEN ' (first seen ' || first_seen::VARCHAR || ')' ELSE '' END)
        FILTER (WHERE any_present)) AS new_ids,
    min(first_seen) FILTER (WHERE any_present) AS first_seen,
    resp_joined(list(lesion_id) FILTER (WHERE NOT any_present)) AS equivocal_ids
FROM dated
GROUP BY scope_id, study_date
