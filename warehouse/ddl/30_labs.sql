-- Labs and flags (warehouse contract, "Labs and flags"); rules in
-- ../shared/spec/labs-and-flags.md.

CREATE TABLE nlr (
    patient_key VARCHAR NOT NULL,
    collected_at TIMESTAMP NOT NULL,
    neutrophils DOUBLE,
    lymphocytes DOUBLE,
    nlr DOUBLE,
    run_id VARCHAR NOT NULL
);

CREATE TABLE session_labs (
    patient_key VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    session_number INTEGER NOT NULL,
    session_date DATE NOT NULL,
    nlr_pre DOUBLE,
    nlr_1m DOUBLE,
    nlr_3m DOUBLE,
    nlr_6m DOUBLE,
    nlr_6m_vs_pre DOUBLE,
    nlr_elevated_pre BOOLEAN,
    nlr_6m_above_pre BOOLEAN,
    nlr_slope_per_30d DOUBLE,
    run_id VARCHAR NOT NULL
);

CREATE TABLE session_flags (
    patient_key VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    session_number INTEGER NOT NULL,
    session_date DATE NOT NULL,
    modality VARCHAR NOT NULL,
    bilirubin_mg_dl DOUBLE,
    albumin_g_dl DOUBLE,
    liver_tumor_burden_pct DOUBLE,
    ascites BOOLEAN,
    extrahepatic_disease BOOLEAN,
    prior_systemic_lines INTEGER,
    nlr_pre DOUBLE,
    flag_bilirubin_ge_2 BOOLEAN,
    flag_albumin_le_3_5 BOOLEAN,
    flag_burden_ge_70 BOOLEAN,
    flag_ascites BOOLEAN,
    flag_extrahepatic BOOLEAN,
    flag_systemic_ge_3 BOOLEAN,
    flag_nlr_elevated BOOLEAN,
    n_negative_flags INTEGER,
    elig_creatinine VARCHAR,
    elig_ldh VARCHAR,
    elig_ast VARCHAR,
    elig_platelets VARCHAR,
    elig_bilirubin VARCHAR,
    elig_burden VARCHAR,
    elig_portal_vein VARCHAR,
    elig_biliary VARCHAR,
    elig_lvef VARCHAR,
    eligible BOOLEAN,
    modality_hint VARCHAR,
    modality_hint_reason VARCHAR,
    bilirubin_post_max_mg_dl DOUBLE,
    albumin_post_min_g_dl DOUBLE,
    flag_post_bilirubin_ge_2 BOOLEAN,
    run_id VARCHAR NOT NULL
);
