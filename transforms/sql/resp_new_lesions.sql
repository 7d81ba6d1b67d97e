-- R11/F1: new lesions per scope and follow-up. A row with role `new` counts
-- unless its lesion was already there at the scope's baseline study (any role,
-- other than a merely equivocal new lesion). In scope in_field only new lesions
-- in a treated liver segment count; in out_field only the others (F2).
-- `equivocal` is not progression; when the lesion is later `present`, the
-- progression is dated to the first follow-up at which the lesion was seen.
CREATE OR REPLACE TEMP TABLE resp_new_lesions AS
WITH new_rows AS (
    SELECT pid, study_date, lesion_id, any_present, liver_with_segment, segments
    FROM resp_lesion_sizes
    WHERE role = 'new'
),
seen AS (
    SELECT ss.scope_id, ss.study_date, n.lesion_id, n.any_present
    FROM new_rows AS n
    JOIN resp_scope_studies AS ss ON ss.pid = n.pid AND ss.study_date = n.study_date
    LEFT JOIN resp_sessions AS se ON se.session_key = ss.session_key
    WHERE NOT ss.is_baseline
      AND resp_in_scope(ss.scope, se.treated_segments, n.liver_with_segment, n.segments)
      AND NOT EXISTS (
          SELECT 1 FROM resp_lesion_sizes AS b
          WHERE b.pid = ss.pid AND b.study_date = ss.baseline_date
            AND b.lesion_id = n.lesion_id AND (b.role <> 'new' OR b.any_present)
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
