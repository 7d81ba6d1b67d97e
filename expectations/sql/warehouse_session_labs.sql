-- Frame of suite warehouse.session_labs: one row per session_labs row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_session_labs_dup_keys AS
WITH hashed AS (
    SELECT patient_key, session_id, hash(patient_key, session_id) AS key_hash
    FROM session_labs
)
SELECT patient_key, session_id
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT * FROM session_labs
)
SELECT
    l.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    s.session_id IS NOT NULL AS session_known,
    CASE WHEN s.session_id IS NOT NULL THEN
        l.session_number = s.session_number AND l.session_date = s.session_date
    END AS session_number_and_date_match_sessions,
    l.nlr_pre,
    l.nlr_1m,
    l.nlr_3m,
    l.nlr_6m,
    CASE WHEN l.nlr_6m_vs_pre IS NOT NULL AND l.nlr_pre > 0 AND l.nlr_6m IS NOT NULL THEN
        abs(l.nlr_6m_vs_pre - l.nlr_6m / l.nlr_pre) <= getvariable('ratio_rel_tolerance') * (l.nlr_6m / l.nlr_pre)
    END AS nlr_6m_vs_pre_consistent,
    CASE WHEN l.nlr_pre IS NOT NULL THEN
        l.nlr_elevated_pre IS NOT DISTINCT FROM (l.nlr_pre > getvariable('nlr_elevated_above'))
    END AS nlr_elevated_pre_consistent,
    CASE WHEN l.nlr_pre IS NOT NULL AND l.nlr_6m IS NOT NULL THEN
        l.nlr_6m_above_pre IS NOT DISTINCT FROM (l.nlr_6m > l.nlr_pre)
    END AS nlr_6m_above_pre_consistent
FROM rows AS l
LEFT JOIN dq_wh_sessions_once AS s ON s.patient_key = l.patient_key AND s.session_id = l.session_id
LEFT JOIN dq_wh_session_labs_dup_keys AS d ON d.patient_key = l.patient_key AND d.session_id = l.session_id;
