-- Survival for the outcome report (warehouse contract, "Survival"; issue 10):
-- one row per patient with at least one session, computed by
-- transforms/sql/survival.sql. Durations are days from the first session.

CREATE TABLE survival (
    patient_key VARCHAR NOT NULL,
    first_session_date DATE NOT NULL,
    first_modality VARCHAR NOT NULL,
    os_days INTEGER NOT NULL,
    os_event BOOLEAN NOT NULL,
    primary_site VARCHAR,
    pancreatic_primary BOOLEAN,
    nlr_elevated_pre_first BOOLEAN,
    nlr_6m_above_pre_first BOOLEAN,
    responder_at_landmark_recist BOOLEAN,
    responder_at_landmark_mrecist BOOLEAN,
    run_id VARCHAR NOT NULL
);
