-- Frame of suite warehouse.sessions: one row per sessions row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_sessions_dup_keys AS
WITH hashed AS (
    SELECT patient_key, session_id, hash(patient_key, session_id) AS key_hash
    FROM sessions
)
SELECT patient_key, session_id
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH keyed AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY patient_key ORDER BY session_date, session_id) AS expected_number,
        count(*) OVER (PARTITION BY patient_key, session_date) AS sessions_that_day
    FROM sessions
)
SELECT
    s.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
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
    dq_not_future(s.session_date) AS session_date_not_in_future,
    year(s.session_date) >= p.birth_year AS session_not_before_birth,
    s.session_date <= p.death_date AS session_not_after_death
FROM keyed AS s
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = s.patient_key
LEFT JOIN dq_wh_sessions_dup_keys AS d ON d.patient_key = s.patient_key AND d.session_id = s.session_id;
