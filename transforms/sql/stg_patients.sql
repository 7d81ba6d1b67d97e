CREATE OR REPLACE TEMP VIEW stg_patients_parsed AS
SELECT
    patient_key, source_file, source_row,
    stg_txt(patient_key) AS patient_key_txt,
    stg_txt(sex) AS sex_txt, upper(stg_txt(sex)) AS sex,
    stg_txt(birth_year) AS birth_year_txt, stg_as_double(birth_year) AS birth_year,
    stg_txt(primary_site) AS primary_site_txt,
    replace(stg_folded(primary_site), ' ', '_') AS primary_site,
    stg_txt(ki67_pct) AS ki67_pct_txt, stg_as_double(ki67_pct) AS ki67_pct,
    stg_txt(who_grade) AS who_grade_txt, upper(stg_txt(who_grade)) AS who_grade,
    stg_txt(functional) AS functional_txt, stg_as_bool(functional) AS functional,
    stg_txt(bilioenteric_anastomosis) AS bilioenteric_anastomosis_txt,
    stg_as_bool(bilioenteric_anastomosis) AS bilioenteric_anastomosis,
    stg_txt(prior_whipple) AS prior_whipple_txt, stg_as_bool(prior_whipple) AS prior_whipple,
    stg_txt(death_date) AS death_date_txt, stg_as_date(death_date) AS death_date,
    stg_txt(last_contact_date) AS last_contact_date_txt, stg_as_date(last_contact_date) AS last_contact_date
FROM stg_patients_raw
