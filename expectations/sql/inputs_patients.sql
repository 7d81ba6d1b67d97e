-- Frame of suite inputs.patients: one row per raw patients row, check columns
-- only (no identifier, no date, no free text reaches Great Expectations).
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY txt(patient_key), txt(sex), txt(birth_year), txt(primary_site),
                txt(ki67_pct), txt(who_grade), txt(functional), txt(bilioenteric_anastomosis),
                txt(prior_whipple), txt(death_date), txt(last_contact_date)
            ORDER BY source_file, source_row
        ) AS copy_number,
        row_number() OVER (PARTITION BY txt(patient_key) ORDER BY source_file, source_row) AS key_number,
        as_number(birth_year) AS birth_year_n,
        as_date(death_date) AS death_d,
        as_date(last_contact_date) AS last_contact_d
    FROM in_patients
)
SELECT
    txt(patient_key) AS patient_key,
    given(patient_key) AS patient_key_given,
    copy_number > 1 AS is_duplicate_row,
    CASE WHEN given(patient_key) AND copy_number = 1 THEN key_number > 1 END AS is_duplicate_key,
    upper(txt(sex)) AS sex,
    readable(birth_year, birth_year_n) AS birth_year_readable,
    birth_year_n AS birth_year,
    CASE WHEN birth_year_n IS NOT NULL THEN birth_year_n <= year(current_date) END
        AS birth_year_not_in_future,
    code(primary_site) AS primary_site,
    readable(ki67_pct, as_number(ki67_pct)) AS ki67_pct_readable,
    as_number(ki67_pct) AS ki67_pct,
    upper(txt(who_grade)) AS who_grade,
    spelling(functional) AS functional,
    spelling(bilioenteric_anastomosis) AS bilioenteric_anastomosis,
    spelling(prior_whipple) AS prior_whipple,
    readable(death_date, death_d) AS death_date_readable,
    readable(last_contact_date, last_contact_d) AS last_contact_date_readable,
    not_future(death_d) AS death_date_not_in_future,
    not_future(last_contact_d) AS last_contact_date_not_in_future,
    year(death_d) >= birth_year_n AS death_not_before_birth,
    last_contact_d <= death_d AS last_contact_not_after_death
FROM ranked;
