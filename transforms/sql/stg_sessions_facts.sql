SELECT
    patient_key, session_id, session_date,
    row_number() OVER (PARTITION BY patient_key ORDER BY session_date)::INTEGER
        AS session_number,
    modality, treated_segments::INTEGER[] AS treated_segments, agent, microsphere, activity_gbq,
    prior_systemic_lines::INTEGER AS prior_systemic_lines, lvef_pct,
    source_file, source_row
FROM stg_sessions_checked
WHERE reason_code IS NULL
