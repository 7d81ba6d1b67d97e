-- depends_on: resp_lesion_sizes, resp_rules, resp_scope_studies, resp_scopes
-- reads:
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
-- The rows at which a lesion that is `new` somewhere was already there (any
-- role, other than a merely equivocal new lesion): only these can make a new
-- lesion not new.
already_there AS (
    SELECT b.pid, b.study_date, b.lesion_id
    FROM resp_lesion_sizes AS b
    SEMI JOIN new_rows AS n ON n.pid = b.pid AND n.lesion_id = b.lesion_id
    WHERE b.role <> 'new' OR b.any_present
),
-- Each new-lesion row at each follow-up of a scope of its patient (the 100k
-- new-lesion rows drive the join, not the 3M scope studies).
candidates AS MATERIALIZED (
    SELECT ss.scope_id, ss.pid, ss.scope, ss.session_key, ss.baseline_date, ss.study_date, n.*
        EXCLUDE (pid, study_date)
    FROM new_rows AS n
    JOIN resp_scope_studies AS ss ON ss.pid = n.pid AND ss.study_date = n.study_date
    WHERE NOT ss.is_baseline
),
seen AS (
    SELECT c.scope_id, c.study_date, c.lesion_id, c.any_present
    FROM candidates AS c
    LEFT JOIN resp_sessions AS se ON se.session_key = c.session_key
    WHERE resp_in_scope(c.scope, se.treated_segments, c.liver_with_segment, c.segments)
      AND NOT EXISTS (
          SELECT 1 FROM already_there AS b
          WHERE b.pid = c.pid AND b.study_date = c.baseline_date AND b.lesion_id = c.lesion_id
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
