-- depends_on: timepoint_responses, best_responses, session_labs
-- reads: in_patients, in_sessions, in_imaging_studies
-- survival (mart): one row per patient with at least one session (warehouse contract,
-- "Survival"; issue 10). Reads the patients, sessions and studies of the run's
-- inputs, the response and session-lab marts, and the variables landmark_days and
-- landmark_counts_unconfirmed (config/survival.toml, config.params.survival_params).
--
-- * first session: the earliest session_date (then session_number, session_id).
-- * os_days / os_event: from the first session to death (event), else censored
--   at the last day the patient is known alive: the latest of last_contact_date,
--   the session dates and the imaging study dates. Staging nulls a death date
--   before a session or study, so no duration is negative.
-- * pancreatic_primary: primary_site 'pancreas'; null when the site is missing
--   or 'unknown'.
-- * responder_at_landmark_<criteria>: a CR or PR on or before the landmark
--   (first session + landmark_days). Unconfirmed: an overall CR/PR at a course
--   follow-up dated on or before the landmark and before the first progression
--   (response-criteria E1). Confirmed: best_responses' first_response_date (the
--   first confirmed CR/PR, E3/E4) on or before the landmark; its confirming
--   assessment may lie after it. Null when the patient's os_days is shorter
--   than landmark_days (dead or censored before the landmark: left out of the
--   landmark analysis), or when the patient has no course assessment under that
--   criteria (no baseline). A patient at risk at the landmark with a baseline
--   and no CR/PR by then is a non-responder (false).
-- * nlr_*_first: session_labs' nlr_elevated_pre / nlr_6m_above_pre of the first session.
CREATE OR REPLACE TEMP TABLE survival_first AS
WITH ordered AS (
    SELECT
        patient_key,
        session_id,
        session_date,
        modality,
        row_number() OVER (
            PARTITION BY patient_key ORDER BY session_date, session_number, session_id
        ) AS k,
        max(session_date) OVER (PARTITION BY patient_key) AS last_session_date
    FROM in_sessions
),
last_study AS (
    SELECT patient_key, max(study_date) AS last_study_date
    FROM in_imaging_studies
    GROUP BY patient_key
)
SELECT
    o.patient_key,
    o.session_id AS first_session_id,
    o.session_date AS first_session_date,
    o.modality AS first_modality,
    p.primary_site,
    p.death_date IS NOT NULL AS os_event,
    date_diff(
        'day',
        o.session_date,
        coalesce(
            p.death_date,
            greatest(
                o.last_session_date,
                coalesce(p.last_contact_date, o.last_session_date),
                coalesce(s.last_study_date, o.last_session_date)
            )
        )
    ) AS os_days
FROM ordered AS o
JOIN in_patients AS p ON p.patient_key = o.patient_key
LEFT JOIN last_study AS s ON s.patient_key = o.patient_key
WHERE o.k = 1;

CREATE OR REPLACE TEMP TABLE survival_responders AS
WITH landmark AS (
    SELECT patient_key, first_session_date + getvariable('landmark_days')::INTEGER AS landmark_date
    FROM survival_first
),
course AS (
    SELECT patient_key, criteria, progression_date, first_response_date
    FROM mart_best_responses
    WHERE scope = 'course'
)
SELECT
    t.patient_key,
    t.criteria,
    coalesce(bool_or(
        t.overall_response IN ('CR', 'PR')
        AND t.study_date <= l.landmark_date
        AND (c.progression_date IS NULL OR t.study_date < c.progression_date)
    ), false) AS unconfirmed,
    coalesce(bool_or(c.first_response_date <= l.landmark_date), false) AS confirmed
FROM mart_timepoint_responses AS t
JOIN landmark AS l ON l.patient_key = t.patient_key
LEFT JOIN course AS c ON c.patient_key = t.patient_key AND c.criteria = t.criteria
WHERE t.criteria IN ('RECIST1.1', 'mRECIST')
GROUP BY t.patient_key, t.criteria;

SELECT
    f.patient_key::VARCHAR AS patient_key,
    f.first_session_date::DATE AS first_session_date,
    f.first_modality::VARCHAR AS first_modality,
    f.os_days::INTEGER AS os_days,
    f.os_event::BOOLEAN AS os_event,
    f.primary_site::VARCHAR AS primary_site,
    CASE WHEN f.primary_site IS NOT NULL AND f.primary_site <> 'unknown'
        THEN f.primary_site = 'pancreas' END::BOOLEAN AS pancreatic_primary,
    l.nlr_elevated_pre::BOOLEAN AS nlr_elevated_pre_first,
    l.nlr_6m_above_pre::BOOLEAN AS nlr_6m_above_pre_first,
    CASE WHEN f.os_days >= getvariable('landmark_days') THEN
        CASE WHEN getvariable('landmark_counts_unconfirmed') THEN r.unconfirmed ELSE r.confirmed END
    END::BOOLEAN AS responder_at_landmark_recist,
    CASE WHEN f.os_days >= getvariable('landmark_days') THEN
        CASE WHEN getvariable('landmark_counts_unconfirmed') THEN m.unconfirmed ELSE m.confirmed END
    END::BOOLEAN AS responder_at_landmark_mrecist
FROM survival_first AS f
LEFT JOIN mart_session_labs AS l ON l.patient_key = f.patient_key AND l.session_id = f.first_session_id
LEFT JOIN survival_responders AS r ON r.patient_key = f.patient_key AND r.criteria = 'RECIST1.1'
LEFT JOIN survival_responders AS m ON m.patient_key = f.patient_key AND m.criteria = 'mRECIST'
ORDER BY f.patient_key
