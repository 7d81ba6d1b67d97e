-- R2-R4 / M1: per scope, study and criteria, the sum of the baseline targets.
-- A target's size is its short axis if nodal, else the criteria's measure
-- (longest diameter for RECIST 1.1, viable diameter for mRECIST). The sum is
-- evaluable when every target has a size (R3); measured_sum adds the sizes that
-- exist, for R5's "PD is already certain" test. The nadir is the smallest
-- evaluable sum among the baseline and earlier follow-ups (R4), with the date
-- of its first occurrence for the reason.
CREATE OR REPLACE TEMP TABLE resp_target_sums AS
WITH sized AS (
    SELECT
        t.scope_id, t.study_date, t.is_baseline, c.criteria, t.lesion_id, t.is_nodal,
        CASE WHEN t.is_nodal THEN t.short_mm
             WHEN c.non_nodal_measure = 'viable diameter' THEN t.viable_mm
             ELSE t.longest_mm END AS size_mm,
        CASE WHEN NOT t.has_row THEN 'missing'
             WHEN t.any_not_evaluated THEN 'not evaluated'
             WHEN t.is_nodal THEN 'without short axis'
             ELSE 'without ' || c.non_nodal_measure END AS problem
    FROM resp_tracked_lesions AS t
    CROSS JOIN resp_criteria AS c
    WHERE t.role = 'target'
),
per_study AS (
    SELECT
        scope_id, study_date, criteria,
        bool_or(is_baseline) AS is_baseline,
        count(*) AS n_targets,
        count(size_mm) AS n_sized,
        coalesce(sum(size_mm), 0) AS measured_sum,
        bool_and(CASE WHEN is_nodal
                      THEN size_mm < getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3)
                      ELSE size_mm = 0 END) AS all_resolved,
        count(*) FILTER (WHERE size_mm IS NULL) AS n_unsized,
        resp_joined(list(lesion_id || ' ' || problem) FILTER (WHERE size_mm IS NULL)) AS unsized
    FROM sized
    GROUP BY scope_id, study_date, criteria
),
with_sum AS (
    SELECT *, CASE WHEN n_sized = n_targets THEN measured_sum END AS sum_mm
    FROM per_study
)
SELECT
    *,
    max(sum_mm) FILTER (WHERE is_baseline) OVER whole AS baseline_sum,
    max(unsized) FILTER (WHERE is_baseline) OVER whole AS baseline_unsized,
    min(sum_mm) OVER earlier AS nadir_sum,
    arg_min(study_date, CASE WHEN sum_mm IS NOT NULL THEN {'s': sum_mm, 'd': study_date} END)
        OVER earlier AS nadir_date
FROM with_sum
WINDOW
    whole AS (PARTITION BY scope_id, criteria ORDER BY study_date
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),
    earlier AS (PARTITION BY scope_id, criteria ORDER BY study_date
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
