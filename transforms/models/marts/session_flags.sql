-- depends_on: labs_session_flags
-- reads:
-- session_flags (warehouse contract) without run_id: P1-P9, G1-G9, H1-H3 per session.
SELECT
    patient_key::VARCHAR AS patient_key,
    session_id::VARCHAR AS session_id,
    session_number::INTEGER AS session_number,
    session_date::DATE AS session_date,
    modality::VARCHAR AS modality,
    bilirubin::DOUBLE AS bilirubin_mg_dl,
    albumin::DOUBLE AS albumin_g_dl,
    liver_tumor_burden_pct::DOUBLE AS liver_tumor_burden_pct,
    ascites::BOOLEAN AS ascites,
    extrahepatic_disease::BOOLEAN AS extrahepatic_disease,
    prior_systemic_lines::INTEGER AS prior_systemic_lines,
    nlr_pre::DOUBLE AS nlr_pre,
    flag_bilirubin_ge_2::BOOLEAN AS flag_bilirubin_ge_2,
    flag_albumin_le_3_5::BOOLEAN AS flag_albumin_le_3_5,
    flag_burden_ge_70::BOOLEAN AS flag_burden_ge_70,
    flag_ascites::BOOLEAN AS flag_ascites,
    flag_extrahepatic::BOOLEAN AS flag_extrahepatic,
    flag_systemic_ge_3::BOOLEAN AS flag_systemic_ge_3,
    flag_nlr_elevated::BOOLEAN AS flag_nlr_elevated,
    (
        coalesce(flag_bilirubin_ge_2, FALSE)::INTEGER
        + coalesce(flag_albumin_le_3_5, FALSE)::INTEGER
        + coalesce(flag_burden_ge_70, FALSE)::INTEGER
        + coalesce(flag_ascites, FALSE)::INTEGER
        + coalesce(flag_extrahepatic, FALSE)::INTEGER
        + coalesce(flag_systemic_ge_3, FALSE)::INTEGER
        + coalesce(flag_nlr_elevated, FALSE)::INTEGER
    )::INTEGER AS n_negative_flags,
    elig_creatinine::VARCHAR AS elig_creatinine,
    elig_ldh::VARCHAR AS elig_ldh,
    elig_ast::VARCHAR AS elig_ast,
    elig_platelets::VARCHAR AS elig_platelets,
    elig_bilirubin::VARCHAR AS elig_bilirubin,
    elig_burden::VARCHAR AS elig_burden,
    elig_portal_vein::VARCHAR AS elig_portal_vein,
    elig_biliary::VARCHAR AS elig_biliary,
    elig_lvef::VARCHAR AS elig_lvef,
    CASE
        WHEN list_contains(criteria, 'fail') THEN FALSE
        WHEN list_contains(criteria, 'missing') THEN NULL
        ELSE TRUE
    END::BOOLEAN AS eligible,
    modality_hint::VARCHAR AS modality_hint,
    modality_hint_reason::VARCHAR AS modality_hint_reason,
    bilirubin_post_max::DOUBLE AS bilirubin_post_max_mg_dl,
    albumin_post_min::DOUBLE AS albumin_post_min_g_dl,
    post_bilirubin_high::BOOLEAN AS flag_post_bilirubin_ge_2
FROM labs_session_flags
ORDER BY patient_key, session_date, session_number
