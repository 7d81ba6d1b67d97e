-- Frame of suite warehouse.patients: one row per patients row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_patients_dup_keys AS
WITH hashed AS (
    SELECT patient_key, hash(patient_key) AS key_hash
    FROM patients
)
SELECT patient_key
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH keyed AS (
    SELECT *
    FROM patients
),
-- RECIST 1.1 baseline conformance: targets per patient and per organ.
target_counts AS (
    SELECT patient_key, count(*) AS n_targets, max(n_in_organ) AS max_in_organ
    FROM (
        SELECT patient_key, lesion_id, count(*) OVER (PARTITION BY patient_key, organ) AS n_in_organ
        FROM dq_wh_baseline_targets
    )
    GROUP BY ALL
)
SELECT
    p.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    p.sex,
    p.primary_site,
    p.who_grade,
    p.ki67_pct,
    p.birth_year,
    CASE WHEN p.birth_year IS NOT NULL THEN p.birth_year <= year(current_date) END AS birth_year_not_in_future,
    dq_not_future(p.death_date) AS death_date_not_in_future,
    dq_not_future(p.last_contact_date) AS last_contact_date_not_in_future,
    year(p.death_date) >= p.birth_year AS death_not_before_birth,
    p.last_contact_date <= p.death_date AS last_contact_not_after_death,
    -- K1: G1 < 3 %, G2 3-20 %, G3 > 20 % (NEC is not graded by Ki-67).
    CASE WHEN p.who_grade IN ('G1', 'G2', 'G3') AND p.ki67_pct IS NOT NULL THEN
        p.who_grade = CASE
            WHEN p.ki67_pct < getvariable('grade_g2_min_ki67_pct') THEN 'G1'
            WHEN p.ki67_pct <= getvariable('grade_g3_above_ki67_pct') THEN 'G2'
            ELSE 'G3'
        END
    END AS grade_agrees_with_ki67,
    CASE WHEN b.patient_key IS NOT NULL THEN coalesce(t.n_targets, 0) <= getvariable('recist_max_targets_total') END
        AS baseline_targets_within_total_limit,
    CASE WHEN b.patient_key IS NOT NULL THEN coalesce(t.max_in_organ, 0) <= getvariable('recist_max_targets_per_organ') END
        AS baseline_targets_within_organ_limit
FROM keyed AS p
LEFT JOIN dq_wh_course_baseline AS b ON b.patient_key = p.patient_key
LEFT JOIN target_counts AS t ON t.patient_key = p.patient_key
LEFT JOIN dq_wh_patients_dup_keys AS d ON d.patient_key = p.patient_key;
