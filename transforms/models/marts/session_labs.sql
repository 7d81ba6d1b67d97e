-- depends_on: labs_session_nlr
-- reads:
-- session_labs (warehouse contract) without run_id: NLR per session (N2-N6).
SELECT
    patient_key::VARCHAR AS patient_key,
    session_id::VARCHAR AS session_id,
    session_number::INTEGER AS session_number,
    session_date::DATE AS session_date,
    nlr_pre::DOUBLE AS nlr_pre,
    nlr_1m::DOUBLE AS nlr_1m,
    nlr_3m::DOUBLE AS nlr_3m,
    nlr_6m::DOUBLE AS nlr_6m,
    nlr_6m_vs_pre::DOUBLE AS nlr_6m_vs_pre,
    nlr_elevated_pre::BOOLEAN AS nlr_elevated_pre,
    nlr_6m_above_pre::BOOLEAN AS nlr_6m_above_pre,
    nlr_slope_per_30d::DOUBLE AS nlr_slope_per_30d
FROM session_nlr
ORDER BY patient_key, session_date, session_number
