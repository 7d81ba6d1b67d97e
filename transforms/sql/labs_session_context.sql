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
    FROM sessions AS s
    JOIN patient_ids AS p ON p.patient_key = s.patient_key
),
with_study AS (
    SELECT o.*, b.study_date, b.liver_tumor_burden_pct, b.ascites, b.extrahepatic_disease,
        b.portal_vein_occlusion
    FROM ordered AS o
    ASOF LEFT JOIN imaging_studies AS b
        ON b.patient_key = o.patient_key AND b.study_date <= o.session_date
)
SELECT
    * EXCLUDE (study_date, liver_tumor_burden_pct, ascites, extrahepatic_disease, portal_vein_occlusion, in_lookback),
    CASE WHEN in_lookback THEN study_date END AS baseline_study_date,
    CASE WHEN in_lookback THEN liver_tumor_burden_pct END AS liver_tumor_burden_pct,
    CASE WHEN in_lookback THEN ascites END AS ascites,
    CASE WHEN in_lookback THEN extrahepatic_disease END AS extrahepatic_disease,
    CASE WHEN in_lookback THEN portal_vein_occlusion END AS portal_vein_occlusion
FROM (
    SELECT
        *,
        study_date >= session_date - getvariable('session_baseline_lookback_days')::INTEGER AS in_lookback
    FROM with_study
)
