-- depends_on: lab_lookups, labs_macros, labs_readings, labs_session_context, labs_session_nlr
-- reads: in_patients
-- P1-P9, G1-G9, H1-H3 per session: the state going into the session.
-- Lab values: the last reading within lab_lookback_days on or before the
-- session date (N2); imaging findings: the session baseline study; systemic
-- lines and LVEF: the session row. A censored value decides a flag only when
-- the censoring settles it (L2, macros in labs_macros). Post-session values:
-- days 1..post_session_days, never the next session's date (P9).
-- Runs after labs_macros, labs_readings, labs_session_context, labs_session_labs.
CREATE OR REPLACE TEMP TABLE labs_session_flags AS
WITH last_times AS (
    -- lab_readings holds one reading per (pid, analyte, collected_at): the last
    -- reading is found by its time and joined back, which DuckDB can spill
    SELECT s.session_seq, s.pid, r.analyte, max(r.collected_at) AS collected_at
    FROM labs_session_context AS s
    JOIN lab_readings AS r
        ON r.pid = s.pid
        AND r.collected_at >= (s.session_date - getvariable('lab_lookback_days')::INTEGER)::TIMESTAMP
        AND r.collected_at < s.session_day_end
    WHERE list_contains(getvariable('pre_session_analytes'), r.analyte)
    GROUP BY s.session_seq, s.pid, r.analyte
),
last_readings AS (
    SELECT t.session_seq, t.analyte, r.value, r.qualifier
    FROM last_times AS t
    JOIN lab_readings AS r ON r.pid = t.pid AND r.analyte = t.analyte AND r.collected_at = t.collected_at
),
pre_labs AS (
    SELECT
        session_seq,
        max(value) FILTER (WHERE analyte = 'bilirubin') AS bilirubin,
        max(qualifier) FILTER (WHERE analyte = 'bilirubin') AS bilirubin_q,
        max(value) FILTER (WHERE analyte = 'albumin') AS albumin,
        max(qualifier) FILTER (WHERE analyte = 'albumin') AS albumin_q,
        max(value) FILTER (WHERE analyte = 'creatinine') AS creatinine,
        max(qualifier) FILTER (WHERE analyte = 'creatinine') AS creatinine_q,
        max(value) FILTER (WHERE analyte = 'ldh') AS ldh,
        max(qualifier) FILTER (WHERE analyte = 'ldh') AS ldh_q,
        max(value) FILTER (WHERE analyte = 'ast') AS ast,
        max(qualifier) FILTER (WHERE analyte = 'ast') AS ast_q,
        max(value) FILTER (WHERE analyte = 'platelets') AS platelets,
        max(qualifier) FILTER (WHERE analyte = 'platelets') AS platelets_q
    FROM last_readings
    GROUP BY session_seq
),
post_readings AS (
    SELECT
        s.session_seq,
        r.analyte,
        r.value,
        lab_ge(r.value, r.qualifier, getvariable('post_bilirubin_min_mg_dl')) AS bilirubin_high
    FROM labs_session_context AS s
    JOIN lab_readings AS r
        ON r.pid = s.pid
        AND r.analyte IN ('bilirubin', 'albumin')
        AND r.collected_at >= (s.session_date + 1)::TIMESTAMP
        AND r.collected_at < least(
            s.next_session_date, s.session_date + 1 + getvariable('post_session_days')::INTEGER
        )::TIMESTAMP
),
post_labs AS (
    SELECT
        session_seq,
        max(value) FILTER (WHERE analyte = 'bilirubin') AS bilirubin_post_max,
        min(value) FILTER (WHERE analyte = 'albumin') AS albumin_post_min,
        CASE
            WHEN bool_or(bilirubin_high) FILTER (WHERE analyte = 'bilirubin') THEN TRUE
            WHEN count(*) FILTER (WHERE analyte = 'bilirubin') > 0
                AND count(bilirubin_high) FILTER (WHERE analyte = 'bilirubin')
                    = count(*) FILTER (WHERE analyte = 'bilirubin')
                THEN FALSE
        END AS post_bilirubin_high
    FROM post_readings
    GROUP BY session_seq
),
inputs AS (
    SELECT
        s.*,
        l.* EXCLUDE (session_seq),
        n.nlr_pre,
        p.ki67_pct,
        p.bilioenteric_anastomosis OR p.prior_whipple AS biliary_risk,
        list_contains(getvariable('tae_tace_modalities'), s.modality) AS is_tae_tace,
        list_contains(getvariable('doxorubicin_modalities'), s.modality)
            AND len(list_filter(
                getvariable('doxorubicin_agent_spellings'),
                lambda spelling: contains(lower(s.agent), spelling)
            )) > 0 AS is_doxorubicin_tace,
        pl.bilirubin_post_max,
        pl.albumin_post_min,
        pl.post_bilirubin_high
    FROM labs_session_context AS s
    LEFT JOIN pre_labs AS l ON l.session_seq = s.session_seq
    LEFT JOIN session_nlr AS n ON n.session_seq = s.session_seq
    LEFT JOIN in_patients AS p ON p.patient_key = s.patient_key
    LEFT JOIN post_labs AS pl ON pl.session_seq = s.session_seq
),
decided AS (
    SELECT
        *,
        lab_ge(bilirubin, bilirubin_q, getvariable('flag_bilirubin_min_mg_dl')) AS flag_bilirubin_ge_2,
        NOT lab_gt(albumin, albumin_q, getvariable('flag_albumin_max_g_dl')) AS flag_albumin_le_3_5,
        liver_tumor_burden_pct >= getvariable('flag_burden_min_pct') AS flag_burden_ge_70,
        ascites AS flag_ascites,
        extrahepatic_disease AS flag_extrahepatic,
        prior_systemic_lines >= getvariable('flag_systemic_min_lines') AS flag_systemic_ge_3,
        nlr_pre > getvariable('nlr_elevated_above') AS flag_nlr_elevated,
        criterion(NOT lab_ge(creatinine, creatinine_q, getvariable('elig_creatinine_below_mg_dl'))) AS elig_creatinine,
        criterion(NOT lab_ge(ldh, ldh_q, getvariable('elig_ldh_below_u_l'))) AS elig_ldh,
        criterion(NOT lab_ge(ast, ast_q, getvariable('elig_ast_below_u_l'))) AS elig_ast,
        criterion(lab_gt(platelets, platelets_q, getvariable('elig_platelets_above_10e9_l'))) AS elig_platelets,
        criterion(NOT lab_ge(bilirubin, bilirubin_q, getvariable('elig_bilirubin_below_mg_dl'))) AS elig_bilirubin,
        criterion(liver_tumor_burden_pct < getvariable('elig_burden_below_pct')) AS elig_burden,
        CASE WHEN is_tae_tace THEN criterion(NOT portal_vein_occlusion) ELSE 'pass' END AS elig_portal_vein,
        CASE WHEN is_tae_tace THEN criterion(NOT biliary_risk) ELSE 'pass' END AS elig_biliary,
        CASE WHEN is_doxorubicin_tace THEN criterion(lvef_pct >= getvariable('elig_lvef_min_pct')) END AS elig_lvef,
        CASE
            WHEN biliary_risk THEN 'H1'
            WHEN ki67_pct >= getvariable('hint_ki67_tare_min_pct') THEN 'H2_tare'
            WHEN ki67_pct < getvariable('hint_ki67_tare_min_pct') THEN 'H2_tace'
            ELSE 'H3'
        END AS hint_rule
    FROM inputs
)
SELECT
    d.*,
    [
        d.elig_creatinine, d.elig_ldh, d.elig_ast, d.elig_platelets, d.elig_bilirubin,
        d.elig_burden, d.elig_portal_vein, d.elig_biliary, d.elig_lvef
    ] AS criteria,
    h.hint AS modality_hint,
    h.reason AS modality_hint_reason
FROM decided AS d
LEFT JOIN modality_hint_rules AS h ON h.rule_id = d.hint_rule;
