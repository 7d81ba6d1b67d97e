-- Frame of suite warehouse.survival: one row per survival row, plus one row per
-- patient with a session and no survival row (its survival columns are null,
-- so only session_patient_has_row applies to it).
CREATE OR REPLACE TEMP TABLE dq_wh_survival_dup_keys AS
SELECT patient_key FROM survival GROUP BY patient_key HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE dq_wh_survival_first_sessions AS
SELECT patient_key, min(session_date) AS first_session_date,
    list(DISTINCT modality) FILTER (WHERE session_date = first_day) AS first_modalities
-- Derived rows exist only for patients the warehouse knows (a session of an unknown
-- patient is flagged by the sessions suite, not here).
FROM (SELECT *, min(session_date) OVER (PARTITION BY patient_key) AS first_day FROM dq_wh_sessions_once
      WHERE patient_key IN (SELECT patient_key FROM dq_wh_patients_once))
GROUP BY patient_key;

CREATE OR REPLACE TEMP VIEW dq_frame AS
SELECT
    coalesce(v.patient_key, f.patient_key) AS patient_key,
    getvariable('columns_match_ddl') AS columns_match_ddl,
    CASE WHEN v.patient_key IS NOT NULL THEN d.patient_key IS NOT NULL END AS is_duplicate_key,
    CASE WHEN v.patient_key IS NOT NULL THEN p.patient_key IS NOT NULL END AS patient_known,
    CASE WHEN v.patient_key IS NOT NULL THEN f.patient_key IS NOT NULL END AS patient_has_session,
    CASE WHEN f.patient_key IS NOT NULL THEN v.patient_key IS NOT NULL END AS session_patient_has_row,
    CASE WHEN v.patient_key IS NOT NULL AND f.patient_key IS NOT NULL THEN
        v.first_session_date = f.first_session_date
        AND list_contains(f.first_modalities, v.first_modality)
    END AS first_session_is_earliest,
    v.first_modality,
    v.primary_site,
    CASE WHEN v.patient_key IS NOT NULL THEN v.os_days >= 0 END AS os_days_not_negative,
    CASE WHEN v.patient_key IS NOT NULL THEN v.os_event IS NOT NULL END AS os_event_given,
    CASE WHEN v.patient_key IS NOT NULL AND p.patient_key IS NOT NULL THEN
        v.os_event = (p.death_date IS NOT NULL)
    END AS os_event_is_death,
    CASE WHEN v.patient_key IS NOT NULL AND v.os_days < getvariable('landmark_days') THEN
        v.responder_at_landmark_recist IS NULL AND v.responder_at_landmark_mrecist IS NULL
    END AS landmark_excludes_early_exits
FROM survival AS v
FULL OUTER JOIN dq_wh_survival_first_sessions AS f ON f.patient_key = v.patient_key
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = v.patient_key
LEFT JOIN dq_wh_survival_dup_keys AS d ON d.patient_key = v.patient_key;
