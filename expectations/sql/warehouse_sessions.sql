-- Frame of suite warehouse.sessions: one row per sessions row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH keyed AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY patient_key, session_id ORDER BY source_file, source_row) AS key_number,
        row_number() OVER (PARTITION BY patient_key ORDER BY session_date, session_id) AS expected_number,
        count(*) OVER (PARTITION BY patient_key, session_date) AS sessions_that_day
    FROM sessions
),
-- Days with a recognised lab result, for "labs before the session" (labs-and-flags N2).
lab_days AS (
    SELECT DISTINCT patient_key, collected_at::DATE AS lab_day
    FROM lab_results
    WHERE analyte IN (SELECT analyte FROM ref_analytes)
)
SELECT
    s.patient_key AS patient_key,
    s.key_number > 1 AS is_duplicate_key,
    s.modality,
    CASE WHEN s.treated_segments IS NOT NULL THEN
        len(s.treated_segments) > 0 AND list_bool_and([x BETWEEN 1 AND 8 FOR x IN s.treated_segments])
    END AS treated_segments_are_couinaud,
    s.microsphere,
    CASE WHEN s.microsphere IS NOT NULL THEN s.modality = 'TARE' END AS microsphere_only_with_tare,
    s.activity_gbq,
    s.prior_systemic_lines,
    s.lvef_pct,
    p.patient_key IS NOT NULL AS patient_known,
    s.session_number = s.expected_number AS session_number_in_date_order,
    s.sessions_that_day = 1 AS one_session_per_day,
    not_future(s.session_date) AS session_date_not_in_future,
    year(s.session_date) >= p.birth_year AS session_not_before_birth,
    s.session_date <= p.death_date AS session_not_after_death,
    coalesce(l.lab_day >= s.session_date - getvariable('lab_lookback_days')::INTEGER, FALSE)
        AS has_pre_session_labs
FROM keyed AS s
LEFT JOIN wh_patients_once AS p ON p.patient_key = s.patient_key
ASOF LEFT JOIN lab_days AS l ON l.patient_key = s.patient_key AND s.session_date >= l.lab_day;
