CREATE OR REPLACE TEMP VIEW parsed AS
WITH base AS (
    SELECT
        patient_key, source_file, source_row,
        txt(patient_key) AS patient_key_txt,
        txt(session_date) AS session_date_txt, as_date(session_date) AS session_date,
        txt(modality) AS modality_txt,
        coalesce(
            getvariable('modality_alias_to')[
                list_position(getvariable('modality_alias_from'), folded(modality))],
            list_filter(getvariable('vocab_session_modality'),
                        lambda m: lower(m) = lower(txt(modality)))[1],
            txt(modality)) AS modality,
        txt(treated_territory) AS treated_territory_txt,
        lower(txt(treated_territory)) AS territory_lower,
        list_transform(string_split_regex(txt(treated_territory), '[,;\s]+'),
                       lambda s: coalesce(segment_alias(s), try_cast(s AS INTEGER))) AS segment_list,
        txt(session_id) AS session_id_given,
        txt(agent) AS agent_txt, lower(txt(agent)) AS agent,
        txt(microsphere) AS microsphere_txt, lower(txt(microsphere)) AS microsphere,
        txt(activity_gbq) AS activity_gbq_txt, as_double(activity_gbq) AS activity_gbq,
        txt(prior_systemic_lines) AS prior_systemic_lines_txt,
        as_double(prior_systemic_lines) AS prior_systemic_lines,
        txt(lvef_pct) AS lvef_pct_txt, as_double(lvef_pct) AS lvef_pct
    FROM raw_sessions
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
