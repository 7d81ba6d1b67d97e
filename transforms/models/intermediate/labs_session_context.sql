-- depends_on: session_context
-- reads: in_imaging_studies
-- The labs' view of the session context (intermediate/session_context: next
-- session, B3 baseline study): per session the findings of its baseline study,
-- which feed P3-P5, G6 and G7, and the end of the session day. session_seq is a
-- private key for later joins (the context's session_key).
CREATE OR REPLACE TEMP TABLE labs_session_context AS
WITH findings AS (
    SELECT
        patient_key,
        study_date,
        any_value({
            'liver_tumor_burden_pct': liver_tumor_burden_pct,
            'ascites': ascites,
            'extrahepatic_disease': extrahepatic_disease,
            'portal_vein_occlusion': portal_vein_occlusion
        }) AS study
    FROM in_imaging_studies
    GROUP BY patient_key, study_date
)
SELECT
    c.session_key AS session_seq,
    c.patient_key,
    c.pid,
    c.session_id,
    c.session_number,
    c.session_date,
    c.modality,
    c.agent,
    c.lvef_pct,
    c.prior_systemic_lines,
    c.next_session_date,
    (c.session_date + 1)::TIMESTAMP AS session_day_end,
    c.baseline_date AS baseline_study_date,
    f.study.liver_tumor_burden_pct AS liver_tumor_burden_pct,
    f.study.ascites AS ascites,
    f.study.extrahepatic_disease AS extrahepatic_disease,
    f.study.portal_vein_occlusion AS portal_vein_occlusion
FROM session_context AS c
LEFT JOIN findings AS f ON f.patient_key = c.patient_key AND f.study_date = c.baseline_date
