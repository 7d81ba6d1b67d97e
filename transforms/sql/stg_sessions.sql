CREATE OR REPLACE TEMP VIEW stg_sessions_parsed AS
WITH base AS (
    SELECT
        patient_key, source_file, source_row,
        stg_txt(patient_key) AS patient_key_txt,
        stg_txt(session_date) AS session_date_txt, stg_as_date(session_date) AS session_date,
        stg_txt(modality) AS modality_txt,
        coalesce(
            getvariable('modality_alias_to')[
                list_position(getvariable('modality_alias_from'), stg_folded(modality))],
            list_filter(getvariable('vocab_session_modality'),
                        lambda m: lower(m) = lower(stg_txt(modality)))[1],
            stg_txt(modality)) AS modality,
        stg_txt(treated_territory) AS treated_territory_txt,
        lower(stg_txt(treated_territory)) AS territory_lower,
        list_transform(string_split_regex(stg_txt(treated_territory), '[,;\s]+'),
                       lambda s: coalesce(stg_segment_alias(s), try_cast(s AS INTEGER))) AS segment_list,
        stg_txt(session_id) AS session_id_given,
        stg_txt(agent) AS agent_txt, lower(stg_txt(agent)) AS agent,
        stg_txt(microsphere) AS microsphere_txt, lower(stg_txt(microsphere)) AS microsphere,
        stg_txt(activity_gbq) AS activity_gbq_txt, stg_as_double(activity_gbq) AS activity_gbq,
        stg_txt(prior_systemic_lines) AS prior_systemic_lines_txt,
        stg_as_double(prior_systemic_lines) AS prior_systemic_lines,
        stg_txt(lvef_pct) AS lvef_pct_txt, stg_as_double(lvef_pct) AS lvef_pct
    FROM stg_sessions_raw
)
SELECT
    * EXCLUDE (territory_lower, segment_list, session_id_given),
    CASE
        WHEN list_contains(getvariable('territory_names'), territory_lower)
            THEN getvariable('territory_segments')[
                list_position(getvariable('territory_names'), territory_lower)]
        WHEN len(segment_list) > 0
             AND list_bool_and(list_transform(segment_list, lambda s: s BETWEEN 1 AND 8))
            THEN list_sort(list_distinct(segment_list))
    END AS treated_segments,
    -- session_id derived from patient and date when absent (inputs contract).
    coalesce(session_id_given, strftime(session_date, '%Y-%m-%d')) AS session_id,
    session_id_given AS session_id_txt
FROM base
