-- K1: who_grade derived from Ki-67 when not given (G1 < 3 %, G2 3–20 %, G3 > 20 %);
-- a given grade is kept as given (data quality reports disagreements).
SELECT
    patient_key, sex, birth_year::INTEGER AS birth_year, primary_site, ki67_pct,
    coalesce(who_grade, CASE
        WHEN ki67_pct IS NULL THEN NULL
        WHEN ki67_pct < getvariable('grade_g2_min') THEN 'G1'
        WHEN ki67_pct <= getvariable('grade_g3_above') THEN 'G2'
        ELSE 'G3' END) AS who_grade,
    functional, bilioenteric_anastomosis, prior_whipple, death_date, last_contact_date,
    source_file, source_row
FROM stg_patients_checked
WHERE reason_code IS NULL
