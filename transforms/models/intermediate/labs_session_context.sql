-- depends_on: labs_patient_ids
-- reads: in_imaging_studies, in_sessions
-- Per session: the next session's date (post-session windows end the day
-- before it) and the session baseline study (response-criteria B3: the last
-- study on or before the session date within the look-back), whose findings
-- feed P3-P5, G6 and G7. session_seq is a private key for later joins.
-- Runs after labs_patient_ids.
CREATE OR REPLACE TEMP TABLE session_context AS
WITH ordered AS (
    SELECT
        row_number() OVER () AS session_seq,
        s.patient_key,
        p.pid,
        session_id,
        session_number,
        session_date,
        modality,
        agent,
        lvef_pct,
        prior_systemic_lines,
        lead(session_date) OVER (
            PARTITION BY s.patient_key ORDER BY session_date, session_number
        ) AS next_session_date,
        (session_date + 1)::TIMESTAMP AS session_day_end
    FROM in_sessions AS s
    JOIN patient_ids AS p ON p.patient_key = s.patient_key
),
baseline_studies AS (
    SELECT
        o.session_seq,
        arg_max(
            {
                'study_date': b.study_date,
                'liver_tumor_burden_pct': b.liver_tumor_burden_pct,
                'ascites': b.ascites,
                'extrahepatic_disease': b.extrahepatic_disease,
                'portal_vein_occlusion': b.portal_vein_occlusion
            },
            b.study_date
        ) AS study
    FROM ordered AS o
    JOIN in_imaging_studies AS b
        ON b.patient_key = o.patient_key
        AND b.study_date BETWEEN o.session_date - getvariable('session_baseline_lookback_days')::INTEGER
            AND o.session_date
    GROUP BY o.session_seq
)
SELECT
    o.*,
    b.study.study_date AS baseline_study_date,
    b.study.liver_tumor_burden_pct AS liver_tumor_burden_pct,
    b.study.ascites AS ascites,
    b.study.extrahepatic_disease AS extrahepatic_disease,
    b.study.portal_vein_occlusion AS portal_vein_occlusion
FROM ordered AS o
LEFT JOIN baseline_studies AS b ON b.session_seq = o.session_seq
