CREATE OR REPLACE TEMP VIEW parsed AS
SELECT
    patient_key, source_file, source_row,
    txt(patient_key) AS patient_key_txt,
    txt(sex) AS sex_txt, upper(txt(sex)) AS sex,
    txt(birth_year) AS birth_year_txt, as_double(birth_year) AS birth_year,
    txt(primary_site) AS primary_site_txt,
    replace(folded(primary_site), ' ', '_') AS primary_site,
    txt(ki67_pct) AS ki67_pct_txt, as_double(ki67_pct) AS ki67_pct,
    txt(who_grade) AS who_grade_txt, upper(txt(who_grade)) AS who_grade,
    txt(functional) AS functional_txt, as_bool(functional) AS functional,
    txt(bilioenteric_anastomosis) AS bilioenteric_anastomosis_txt,
    as_bool(bilioenteric_anastomosis) AS bilioenteric_anastomosis,
    txt(prior_whipple) AS prior_whipple_txt, as_bool(prior_whipple) AS prior_whipple,
    txt(death_date) AS death_date_txt, as_date(death_date) AS death_date,
    txt(last_contact_date) AS last_contact_date_txt, as_date(last_contact_date) AS last_contact_date
FROM raw_patients
