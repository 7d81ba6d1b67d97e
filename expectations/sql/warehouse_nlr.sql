-- Frame of suite warehouse.nlr: one row per nlr row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT *, row_number() OVER (PARTITION BY patient_key, collected_at) AS key_number FROM nlr
)
SELECT
    n.patient_key AS patient_key,
    n.key_number > 1 AS is_duplicate_key,
    p.patient_key IS NOT NULL AS patient_known,
    n.neutrophils,
    n.lymphocytes,
    n.nlr,
    CASE WHEN n.nlr IS NOT NULL AND n.lymphocytes > 0 AND n.neutrophils IS NOT NULL THEN
        abs(n.nlr - n.neutrophils / n.lymphocytes)
            <= getvariable('ratio_rel_tolerance') * (n.neutrophils / n.lymphocytes)
    END AS nlr_is_neutrophils_over_lymphocytes,
    not_future(n.collected_at) AS collected_at_not_in_future
FROM rows AS n
LEFT JOIN wh_patients_once AS p ON p.patient_key = n.patient_key;
