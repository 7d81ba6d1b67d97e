-- Frame of suite inputs.sessions: one row per raw sessions row. Duplicates as
-- in inputs_patients.sql, with the two keys of contract.inputs.ROW_KEYS, each on
-- its own as staging judges them: the patient and session_date, and the patient
-- and session_id (the date when absent, as the input contract derives it). A row
-- of a key's earlier file is superseded (a correction); a row repeating either
-- key within that key's last file is a duplicate key. Dates are keys as dates,
-- so 2024-01-10 and 2024-01-10T00:00 are one date.
CREATE OR REPLACE TEMP TABLE dq_in_sessions_copies AS
WITH keyed AS (
    SELECT
        *,
        dq_key_of(patient_key) AS pkey,
        coalesce(dq_as_date(session_date)::VARCHAR, dq_txt(session_date)) AS date_key,
        coalesce(dq_txt(session_id), dq_as_date(session_date)::VARCHAR, dq_txt(session_date))
            AS id_key
    FROM dq_raw_sessions
),
hashed AS (
    SELECT *, hash(pkey, date_key) AS date_hash, hash(pkey, id_key) AS id_hash FROM keyed
)
-- Only the rows of a key's last file count: earlier ones are superseded (corrections).
SELECT source_file, source_row,
    copy_number > 1 AND source_file = date_last_file AND source_file = id_last_file AS is_copy,
    (date_number > 1 AND source_file = date_last_file)
        OR (id_number > 1 AND source_file = id_last_file) AS is_later_of_key
FROM (
    SELECT
        source_file, source_row,
        row_number() OVER (
            PARTITION BY dq_row, source_file ORDER BY source_row
        ) AS copy_number,
        row_number() OVER (PARTITION BY pkey, date_key, source_file ORDER BY source_row)
            AS date_number,
        max(source_file) OVER (PARTITION BY pkey, date_key) AS date_last_file,
        row_number() OVER (PARTITION BY pkey, id_key, source_file ORDER BY source_row)
            AS id_number,
        max(source_file) OVER (PARTITION BY pkey, id_key) AS id_last_file
    FROM hashed
    -- the rows sharing a key are those sharing its hash (and a few others)
    WHERE date_hash IN (SELECT date_hash FROM hashed GROUP BY date_hash HAVING count(*) > 1)
        OR id_hash IN (SELECT id_hash FROM hashed GROUP BY id_hash HAVING count(*) > 1)
);

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        s.*,
        coalesce(c.is_copy, FALSE) AS is_copy,
        coalesce(c.is_later_of_key, FALSE) AS is_later_of_key,
        dq_as_date(s.session_date) AS session_d
    FROM dq_raw_sessions AS s
    LEFT JOIN dq_in_sessions_copies AS c ON c.source_file = s.source_file AND c.source_row = s.source_row
)
SELECT
    dq_key_of(s.patient_key) AS patient_key,
    dq_given(s.patient_key) AS patient_key_given,
    dq_given(s.session_date) AS session_date_given,
    dq_given(s.modality) AS modality_given,
    dq_given(s.treated_territory) AS treated_territory_given,
    s.is_copy AS is_duplicate_row,
    CASE WHEN dq_given(s.patient_key) AND NOT s.is_copy THEN s.is_later_of_key END AS is_duplicate_key,
    dq_readable(s.session_date, s.session_d) AS session_date_readable,
    dq_folded(s.modality) AS modality,
    CASE WHEN dq_given(s.treated_territory) THEN
        -- a list of segments 1-8 or their spellings ([ingest.segment_aliases]), or a lobe
        list_bool_and(list_transform(
            string_split_regex(dq_txt(s.treated_territory), '\s*,\s*'),
            lambda item: regexp_full_match(item, '[1-8]')
                OR list_contains(getvariable('segment_alias_spellings'), lower(item))))
        OR list_contains(getvariable('territory_names'), dq_code(s.treated_territory))
    END AS treated_territory_recognised,
    dq_spelling(s.microsphere) AS microsphere,
    dq_readable(s.activity_gbq, dq_as_number(s.activity_gbq)) AS activity_gbq_readable,
    dq_as_number(s.activity_gbq) AS activity_gbq,
    dq_readable(s.prior_systemic_lines, dq_as_number(s.prior_systemic_lines))
        AS prior_systemic_lines_readable,
    dq_as_number(s.prior_systemic_lines) AS prior_systemic_lines,
    dq_readable(s.lvef_pct, dq_as_number(s.lvef_pct)) AS lvef_pct_readable,
    dq_as_number(s.lvef_pct) AS lvef_pct,
    CASE WHEN dq_given(s.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known,
    dq_not_future(s.session_d) AS session_date_not_in_future,
    year(s.session_d) >= p.birth_year AS session_not_before_birth,
    s.session_d <= p.death_date AS session_not_after_death
FROM parsed AS s
LEFT JOIN dq_in_patients_once AS p ON p.patient_key = dq_key_of(s.patient_key);
