-- Frame of suite inputs.patients: one row per raw patients row, check columns
-- only (no identifier, no date, no free text reaches Great Expectations).
-- Duplicates (as the ingestion defines them: a later row identical to an
-- earlier one, or a later row with the same key) are found among the rows
-- sharing a hash, the only ones compared exactly: a GROUP BY or window over
-- all rows' text costs ten times more at scale. Identical means an equal
-- dq_row: the struct of patient_key and the contract columns, as given, that
-- the runner adds to every dq_raw_<dataset> view from contract.INPUT_COLUMNS
-- (no input model lists the columns itself).
CREATE OR REPLACE TEMP TABLE dq_in_patients_copies AS
-- Only the rows of a key's last file count: earlier ones are superseded (corrections).
SELECT source_file, source_row, copy_number > 1 AND source_file = last_file AS is_copy,
    key_number > 1 AND source_file = last_file AS is_later_of_key
FROM (
    SELECT
        source_file, source_row,
        row_number() OVER (
            PARTITION BY dq_row, source_file ORDER BY source_row
        ) AS copy_number,
        row_number() OVER (PARTITION BY dq_key_of(patient_key), source_file ORDER BY source_row) AS key_number,
        -- rows of a key in an earlier file are superseded by its last file (a correction)
        max(source_file) OVER (PARTITION BY dq_key_of(patient_key)) AS last_file
    FROM dq_raw_patients
    WHERE hash(dq_key_of(patient_key)) IN (
        SELECT hash(dq_key_of(patient_key)) AS h FROM dq_raw_patients GROUP BY h HAVING count(*) > 1
    )
);

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        p.*,
        coalesce(c.is_copy, FALSE) AS is_copy,
        coalesce(c.is_later_of_key, FALSE) AS is_later_of_key,
        dq_as_number(birth_year) AS birth_year_n,
        dq_as_date(death_date) AS death_d,
        dq_as_date(last_contact_date) AS last_contact_d
    FROM dq_raw_patients AS p
    LEFT JOIN dq_in_patients_copies AS c ON c.source_file = p.source_file AND c.source_row = p.source_row
)
SELECT
    dq_key_of(patient_key) AS patient_key,
    dq_given(patient_key) AS patient_key_given,
    is_copy AS is_duplicate_row,
    CASE WHEN dq_given(patient_key) AND NOT is_copy THEN is_later_of_key END AS is_duplicate_key,
    upper(dq_txt(sex)) AS sex,
    dq_readable(birth_year, birth_year_n) AS birth_year_readable,
    birth_year_n AS birth_year,
    CASE WHEN birth_year_n IS NOT NULL THEN birth_year_n <= year(current_date) END
        AS birth_year_not_in_future,
    dq_code(primary_site) AS primary_site,
    dq_readable(ki67_pct, dq_as_number(ki67_pct)) AS ki67_pct_readable,
    dq_as_number(ki67_pct) AS ki67_pct,
    upper(dq_txt(who_grade)) AS who_grade,
    dq_spelling(functional) AS functional,
    dq_spelling(bilioenteric_anastomosis) AS bilioenteric_anastomosis,
    dq_spelling(prior_whipple) AS prior_whipple,
    dq_readable(death_date, death_d) AS death_date_readable,
    dq_readable(last_contact_date, last_contact_d) AS last_contact_date_readable,
    dq_not_future(death_d) AS death_date_not_in_future,
    dq_not_future(last_contact_d) AS last_contact_date_not_in_future,
    year(death_d) >= birth_year_n AS death_not_before_birth,
    last_contact_d <= death_d AS last_contact_not_after_death
FROM parsed;
