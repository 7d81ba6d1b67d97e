-- Frame of suite warehouse.session_flags: one row per session_flags row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_session_flags_dup_keys AS
WITH hashed AS (
    SELECT patient_key, session_id, hash(patient_key, session_id) AS key_hash
    FROM session_flags
)
SELECT patient_key, session_id
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT
        *,
        [elig_creatinine, elig_ldh, elig_ast, elig_platelets, elig_bilirubin, elig_burden,
         elig_portal_vein, elig_biliary, elig_lvef] AS criteria_states,
        [flag_bilirubin_ge_2, flag_albumin_le_3_5, flag_burden_ge_70, flag_ascites,
         flag_extrahepatic, flag_systemic_ge_3, flag_nlr_elevated] AS negative_flags
    FROM session_flags
)
SELECT
    f.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    s.session_id IS NOT NULL AS session_known,
    CASE WHEN s.session_id IS NOT NULL THEN
        f.session_number = s.session_number AND f.session_date = s.session_date AND f.modality = s.modality
    END AS session_columns_match_sessions,
    f.modality,
    f.elig_creatinine, f.elig_ldh, f.elig_ast, f.elig_platelets, f.elig_bilirubin,
    f.elig_burden, f.elig_portal_vein, f.elig_biliary, f.elig_lvef,
    f.modality_hint,
    f.bilirubin_mg_dl,
    f.albumin_g_dl,
    f.liver_tumor_burden_pct,
    -- G rules: false if any criterion fails, null if none fails but one is missing, else true
    f.eligible IS NOT DISTINCT FROM CASE
        WHEN list_contains(f.criteria_states, 'fail') THEN FALSE
        WHEN list_contains(f.criteria_states, 'missing') THEN NULL
        ELSE TRUE
    END AS eligible_consistent_with_criteria,
    -- P8: the number of true flags among P1-P7
    f.n_negative_flags IS NOT DISTINCT FROM len(list_filter(f.negative_flags, lambda x: x))
        AS n_negative_flags_counts_true_flags,
    CASE WHEN f.modality_hint IS NOT NULL THEN f.modality_hint_reason IS NOT NULL END AS modality_hint_has_reason,
    -- a lab value within the look-back before the session (N2, P1, P2, P7, G1-G5)
    f.bilirubin_mg_dl IS NOT NULL OR f.albumin_g_dl IS NOT NULL OR f.nlr_pre IS NOT NULL
        OR coalesce(list_bool_or([e <> 'missing' FOR e IN
            [f.elig_creatinine, f.elig_ldh, f.elig_ast, f.elig_platelets, f.elig_bilirubin]]), FALSE)
        AS has_pre_session_labs
FROM rows AS f
LEFT JOIN dq_wh_sessions_once AS s ON s.patient_key = f.patient_key AND s.session_id = f.session_id
LEFT JOIN dq_wh_session_flags_dup_keys AS d ON d.patient_key = f.patient_key AND d.session_id = f.session_id;
