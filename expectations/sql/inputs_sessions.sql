-- Frame of suite inputs.sessions: one row per raw sessions row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        *,
        as_date(session_date) AS session_d,
        row_number() OVER (
            PARTITION BY txt(patient_key), txt(session_date), txt(modality), txt(treated_territory),
                txt(session_id), txt(agent), txt(microsphere), txt(activity_gbq),
                txt(prior_systemic_lines), txt(lvef_pct)
            ORDER BY source_file, source_row
        ) AS copy_number,
        row_number() OVER (
            PARTITION BY txt(patient_key), coalesce(txt(session_id), txt(session_date))
            ORDER BY source_file, source_row
        ) AS key_number
    FROM in_sessions
)
SELECT
    txt(s.patient_key) AS patient_key,
    given(s.patient_key) AS patient_key_given,
    given(s.session_date) AS session_date_given,
    given(s.modality) AS modality_given,
    given(s.treated_territory) AS treated_territory_given,
    s.copy_number > 1 AS is_duplicate_row,
    CASE WHEN given(s.patient_key) AND s.copy_number = 1 THEN s.key_number > 1 END
        AS is_duplicate_key,
    readable(s.session_date, s.session_d) AS session_date_readable,
    folded(s.modality) AS modality,
    CASE WHEN given(s.treated_territory) THEN
        regexp_full_match(txt(s.treated_territory), '[1-8](\s*,\s*[1-8])*')
        OR list_contains(getvariable('territory_names'), code(s.treated_territory))
    END AS treated_territory_recognised,
    spelling(s.microsphere) AS microsphere,
    readable(s.activity_gbq, as_number(s.activity_gbq)) AS activity_gbq_readable,
    as_number(s.activity_gbq) AS activity_gbq,
    readable(s.prior_systemic_lines, as_number(s.prior_systemic_lines))
        AS prior_systemic_lines_readable,
    as_number(s.prior_systemic_lines) AS prior_systemic_lines,
    readable(s.lvef_pct, as_number(s.lvef_pct)) AS lvef_pct_readable,
    as_number(s.lvef_pct) AS lvef_pct,
    CASE WHEN given(s.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known,
    not_future(s.session_d) AS session_date_not_in_future,
    year(s.session_d) >= p.birth_year AS session_not_before_birth,
    s.session_d <= p.death_date AS session_not_after_death
FROM parsed AS s
LEFT JOIN in_patients_once AS p ON p.patient_key = txt(s.patient_key);
