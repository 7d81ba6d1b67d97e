-- Frame of suite inputs.sessions: one row per raw sessions row. Duplicates as
-- in inputs_patients.sql, with the two keys of contract.inputs.ROW_KEYS judged
-- in staging's order: the patient and session_date, then the patient and
-- session_id (the date when absent, as the input contract derives it). A row of
-- a key's earlier file is superseded (a correction), by one key then the other;
-- among the rows left, a copy of an earlier row is a duplicate row, and a row
-- repeating the date, or else the session_id, of an earlier one is a duplicate
-- key (the first is kept). Dates are keys as dates: 2024-01-10 and
-- 2024-01-10T00:00 are one date.
CREATE OR REPLACE TEMP TABLE dq_in_sessions_copies AS
WITH keyed AS (
    SELECT
        source_file, source_row, dq_row,
        dq_key_of(patient_key) AS pkey,
        coalesce(dq_as_date(session_date)::VARCHAR, dq_txt(session_date)) AS date_key,
        coalesce(dq_txt(session_id), dq_as_date(session_date)::VARCHAR, dq_txt(session_date))
            AS id_key
    FROM dq_raw_sessions
),
hashed AS (
    SELECT *, hash(pkey, date_key) AS date_hash, hash(pkey, id_key) AS id_hash FROM keyed
),
-- A row sharing no key with another is neither superseded, a copy nor a repeat.
shared AS (
    SELECT * FROM hashed
    WHERE date_hash IN (SELECT date_hash FROM hashed GROUP BY date_hash HAVING count(*) > 1)
        OR id_hash IN (SELECT id_hash FROM hashed GROUP BY id_hash HAVING count(*) > 1)
),
-- Corrections, by the date and then by the id among the rows still there.
by_date AS (
    SELECT *, max(source_file) OVER (PARTITION BY pkey, date_key) AS last_file FROM shared
),
by_id AS (
    SELECT * EXCLUDE (last_file), max(source_file) OVER (PARTITION BY pkey, id_key) AS last_file
    FROM by_date WHERE source_file = last_file
),
kept AS (
    SELECT *, row_number() OVER (PARTITION BY dq_row ORDER BY source_file, source_row) > 1
        AS is_copy
    FROM by_id WHERE source_file = last_file
),
-- Repeats among the rows kept that are no copies: of the date, then of the id.
date_repeats AS (
    SELECT *, row_number() OVER (PARTITION BY pkey, date_key ORDER BY source_file, source_row) > 1
        AS date_repeated
    FROM kept WHERE NOT is_copy
),
id_repeats AS (
    SELECT *, row_number() OVER (PARTITION BY pkey, id_key ORDER BY source_file, source_row) > 1
        AS id_repeated
    FROM date_repeats WHERE NOT date_repeated
)
-- superseded rows are not listed: neither a copy nor a repeat
SELECT source_file, source_row, TRUE AS is_copy, FALSE AS is_later_of_key FROM kept WHERE is_copy
UNION ALL
SELECT source_file, source_row, FALSE, TRUE FROM date_repeats WHERE date_repeated
UNION ALL
SELECT source_file, source_row, FALSE, id_repeated FROM id_repeats;

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
