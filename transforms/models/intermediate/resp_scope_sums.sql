-- depends_on: resp_new_lesions, resp_rules, resp_scope_lesions, resp_scope_studies
-- reads:
-- R2-R4 / M1 / A1, R10 / M4, C1: per scope and study, the sums of the baseline
-- targets under each measure, the counts of non-targets in each state, and the
-- attenuation sum and counts of the density (C1: the non-nodal targets above
-- 0 mm; the density is evaluable when each of them has an attenuation).
-- A target's size is its short axis if nodal, else the measure (longest
-- diameter for RECIST 1.1 and Choi, viable diameter for mRECIST, the enhancing
-- cross-product for EASL; resp_criteria says which). The sum is evaluable when every target has a size (R3);
-- measured_* adds the sizes that exist, for R5's "PD is already certain" test.
-- The nadir is the smallest evaluable sum among the baseline and earlier
-- follow-ups (R4), with the date of its first occurrence for the reason.
-- Counted per leaf first (course, in_field, out_field); a session's overall
-- scope adds up its two leaves. The result has one row per scope study (B1),
-- with the scope's new lesions (R11), for the per-criteria views that follow.
-- Sums are DECIMAL(17, 3) (resp_mm_sum): exact to 0.001 mm up to 10^14 mm, and
-- 64-bit, where sum() would give 128-bit DECIMAL(38, 3) and make every later
-- comparison and text conversion slower.
CREATE OR REPLACE TEMP TABLE resp_leaf_sums AS
SELECT
    tracking_id, leaf_id, study_date, is_baseline,
    count(*) FILTER (WHERE role = 'target') AS n_targets,
    count(size_longest) FILTER (WHERE role = 'target') AS n_sized_longest,
    count(size_viable) FILTER (WHERE role = 'target') AS n_sized_viable,
    count(size_area) FILTER (WHERE role = 'target') AS n_sized_area,
    resp_mm_sum(sum(size_longest) FILTER (WHERE role = 'target')) AS sum_longest,
    resp_mm_sum(sum(size_viable) FILTER (WHERE role = 'target')) AS sum_viable,
    resp_mm_sum(sum(size_area) FILTER (WHERE role = 'target')) AS sum_area,
    count(*) FILTER (WHERE counts_for_density) AS n_density,
    count(hu) FILTER (WHERE counts_for_density) AS n_hu,
    resp_mm_sum(sum(hu) FILTER (WHERE counts_for_density)) AS sum_hu,
    bool_and(resp_target_resolved(is_nodal, size_longest)) FILTER (WHERE role = 'target')
        AS resolved_longest,
    bool_and(resp_target_resolved(is_nodal, size_viable)) FILTER (WHERE role = 'target')
        AS resolved_viable,
    count(*) FILTER (WHERE role = 'non_target') AS n_nontargets,
    count(*) FILTER (WHERE state = 'progression') AS n_progressed,
    count(*) FILTER (WHERE state IN ('missing', 'not evaluated')) AS n_unevaluated,
    count(*) FILTER (WHERE state = 'resolved') AS n_resolved,
    count(*) FILTER (WHERE state = 'non-enhancing') AS n_non_enhancing
FROM resp_tracked
GROUP BY tracking_id, leaf_id, study_date, is_baseline;

CREATE OR REPLACE TEMP TABLE resp_scope_sums AS
WITH per_scope AS (
    SELECT leaf_id AS scope_id, * EXCLUDE (tracking_id, leaf_id)
    FROM resp_leaf_sums
    UNION ALL BY NAME
    SELECT
        tracking_id AS scope_id, study_date, is_baseline,
        sum(n_targets)::BIGINT AS n_targets,
        sum(n_sized_longest)::BIGINT AS n_sized_longest,
        sum(n_sized_viable)::BIGINT AS n_sized_viable,
        sum(n_sized_area)::BIGINT AS n_sized_area,
        resp_mm_sum(sum(sum_longest)) AS sum_longest,
        resp_mm_sum(sum(sum_viable)) AS sum_viable,
        resp_mm_sum(sum(sum_area)) AS sum_area,
        sum(n_density)::BIGINT AS n_density,
        sum(n_hu)::BIGINT AS n_hu,
        resp_mm_sum(sum(sum_hu)) AS sum_hu,
        bool_and(resolved_longest) AS resolved_longest,
        bool_and(resolved_viable) AS resolved_viable,
        sum(n_nontargets)::BIGINT AS n_nontargets,
        sum(n_progressed)::BIGINT AS n_progressed,
        sum(n_unevaluated)::BIGINT AS n_unevaluated,
        sum(n_resolved)::BIGINT AS n_resolved,
        sum(n_non_enhancing)::BIGINT AS n_non_enhancing
    FROM resp_leaf_sums
    WHERE leaf_id <> tracking_id
    GROUP BY tracking_id, study_date, is_baseline
),
with_sum AS (
    SELECT
        * EXCLUDE (sum_longest, sum_viable, sum_area, sum_hu),
        CASE WHEN n_targets > 0 THEN coalesce(sum_longest, 0) END AS measured_longest,
        CASE WHEN n_targets > 0 THEN coalesce(sum_viable, 0) END AS measured_viable,
        CASE WHEN n_targets > 0 THEN coalesce(sum_area, 0) END AS measured_area,
        CASE WHEN n_targets > 0 AND n_sized_longest = n_targets
             THEN coalesce(sum_longest, 0) END AS sum_longest,
        CASE WHEN n_targets > 0 AND n_sized_viable = n_targets
             THEN coalesce(sum_viable, 0) END AS sum_viable,
        CASE WHEN n_targets > 0 AND n_sized_area = n_targets
             THEN coalesce(sum_area, 0) END AS sum_area,
        -- C1: the density's attenuation sum, when every target it counts has one
        CASE WHEN n_density > 0 AND n_hu = n_density THEN sum_hu END AS sum_hu
    FROM per_scope
),
-- A scope here has baseline lesions, so its first study is its baseline: the
-- baseline sum is the first row's. The smallest {sum, date} of the earlier
-- rows is the nadir and the date it was first reached.
with_nadir AS (
    SELECT
        *,
        first_value(sum_longest) OVER so_far AS baseline_longest,
        min(CASE WHEN sum_longest IS NOT NULL THEN {'s': sum_longest, 'd': study_date} END)
            OVER earlier AS nadir_longest,
        first_value(sum_viable) OVER so_far AS baseline_viable,
        min(CASE WHEN sum_viable IS NOT NULL THEN {'s': sum_viable, 'd': study_date} END)
            OVER earlier AS nadir_viable,
        first_value(sum_area) OVER so_far AS baseline_area,
        min(CASE WHEN sum_area IS NOT NULL THEN {'s': sum_area, 'd': study_date} END)
            OVER earlier AS nadir_area,
        first_value(sum_hu) OVER so_far AS baseline_sum_hu,
        first_value(n_hu) OVER so_far AS baseline_n_hu
    FROM with_sum
    WINDOW
        so_far AS (PARTITION BY scope_id ORDER BY study_date
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        earlier AS (PARTITION BY scope_id ORDER BY study_date
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT
    ss.*,
    w.* EXCLUDE (scope_id, study_date, is_baseline, nadir_longest, nadir_viable, nadir_area),
    w.nadir_longest.s AS nadir_longest, w.nadir_longest.d AS nadir_date_longest,
    w.nadir_viable.s AS nadir_viable, w.nadir_viable.d AS nadir_date_viable,
    w.nadir_area.s AS nadir_area, w.nadir_area.d AS nadir_date_area,
    nl.* EXCLUDE (scope_id, study_date),
    coalesce(w.n_targets > 0, FALSE) AS has_target,
    coalesce(w.n_nontargets > 0, FALSE) AS has_nontarget
FROM resp_scope_studies AS ss
LEFT JOIN with_nadir AS w ON w.scope_id = ss.scope_id AND w.study_date = ss.study_date
LEFT JOIN resp_new_lesions AS nl ON nl.scope_id = ss.scope_id AND nl.study_date = ss.study_date
